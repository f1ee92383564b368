"""Reminder experiments: arms of wording or cadence, stable assignment, attendance per arm."""
