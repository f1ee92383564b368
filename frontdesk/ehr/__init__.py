"""EHR write-back: an outbox recorded with every appointment change, drained to FHIR R4.

Importing this package registers the outbox's ORM listener (frontdesk/ehr/outbox.py);
frontdesk.models imports it with every other domain, so any process that touches appointments
records their EHR writes.
"""

from __future__ import annotations

from frontdesk.ehr.interface import Ehr, EhrError, NoEhr
from frontdesk.ehr.models import EhrOutboxEntry, OutboxStatus
from frontdesk.ehr.outbox import (
    NotDeadLetterError,
    SyncState,
    dead_letters,
    retry_dead_letter,
    sync_state_for,
)

__all__ = [
    "Ehr",
    "EhrError",
    "EhrOutboxEntry",
    "NoEhr",
    "NotDeadLetterError",
    "OutboxStatus",
    "SyncState",
    "dead_letters",
    "retry_dead_letter",
    "sync_state_for",
]
