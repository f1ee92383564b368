"""Imports every model so that metadata is complete (Alembic, tests)."""

from frontdesk.conversations.models import Channel, Conversation, Message, Owner, Role
from frontdesk.db import Base
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Location, Practice, Provider
from frontdesk.scheduling.models import (
    Appointment,
    AppointmentBlock,
    AppointmentStatus,
    VisitType,
    WeeklyHours,
)

__all__ = [
    "Appointment",
    "AppointmentBlock",
    "AppointmentStatus",
    "Base",
    "Channel",
    "Conversation",
    "Location",
    "Message",
    "Owner",
    "Patient",
    "Practice",
    "Provider",
    "Role",
    "VisitType",
    "WeeklyHours",
]
