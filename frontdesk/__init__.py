"""Frontdesk: a conversational patient-operations platform for medical practices."""

__version__ = "0.1.0"
