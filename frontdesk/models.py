"""Imports every model so that metadata is complete (Alembic, tests).

Each domain package keeps its tables in its own `models` module (`frontdesk/<domain>/models.py`);
this module imports all of them, so a new domain needs no registration here.
"""

from __future__ import annotations

import importlib
import pkgutil

import frontdesk
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


def _import_domain_models() -> list[str]:
    imported = []
    for module in pkgutil.iter_modules(frontdesk.__path__):
        if module.ispkg and module.name not in {"migrations", "web"}:
            name = f"frontdesk.{module.name}.models"
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name != name:  # a domain without tables is fine; a broken import is not
                    raise
                continue
            imported.append(name)
    return imported


DOMAIN_MODEL_MODULES = _import_domain_models()

__all__ = [
    "DOMAIN_MODEL_MODULES",
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
