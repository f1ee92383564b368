"""Recording appointment changes for the EHR, in the same transaction as the change.

An ORM `after_flush` listener watches every session: when an appointment of ours (any source
but "ehr") is inserted, or its status, time or provider changes, it upserts that appointment's
`ehr_outbox` row on the flush's own connection. The booking and its outbox row therefore commit
or roll back together, and scheduling code never calls EHR code. Rows are recorded whether or
not an EHR is configured (cheap, one per appointment), so an EHR connected later receives the
changes still ahead.

Also here: what the staff console reads (`sync_state_for`, `dead_letters`) and does
(`retry_dead_letter`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, case, event, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, UOWTransaction

from frontdesk.db import clock_of
from frontdesk.ehr.models import EhrOutboxEntry, OutboxStatus
from frontdesk.scheduling.models import SOURCE_EHR, Appointment

WATCHED = ("status", "start_at", "end_at", "provider_id")


@dataclass(frozen=True)
class SyncState:
    """How far an appointment's EHR write-back has got (for staff)."""

    status: OutboxStatus
    operation: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    updated_at: datetime
    remote_id: str | None

    @property
    def synced(self) -> bool:
        """The EHR holds the appointment's latest state."""
        return self.status is OutboxStatus.DONE


def _operation(appointment: Appointment, *, is_new: bool) -> str | None:
    """The kind of change to record, or None when nothing the EHR cares about changed."""
    if is_new:
        return "create"
    state = inspect(appointment)
    changed = [name for name in WATCHED if state.attrs[name].history.has_changes()]
    if not changed:
        return None
    if "status" in changed:
        return "cancel" if str(appointment.status) == "cancelled" else "status"
    return "reschedule"


@event.listens_for(Session, "after_flush")
def _record_appointment_changes(session: Session, _flush: UOWTransaction) -> None:
    # After the flush new rows have their ids, and attribute history still shows what changed.
    changes: dict[int, tuple[int, str]] = {}
    for obj, is_new in [(o, True) for o in session.new] + [(o, False) for o in session.dirty]:
        if not isinstance(obj, Appointment) or obj.source == SOURCE_EHR or obj.id is None:
            continue
        operation = _operation(obj, is_new=is_new)
        if operation is not None:
            changes[obj.id] = (obj.practice_id, operation)
    if changes:
        record_changes(session=session, changes=changes, now=clock_of(session)())


def record_changes(*, session: Session, changes: dict[int, tuple[int, str]], now: datetime) -> None:
    """Upsert the outbox rows of changed appointments: pending again, one version newer.

    A row being sent right now stays in flight; its newer version tells the worker to send
    again once the current write finishes.

    Args:
        session: The session whose flush made the changes (its connection and transaction).
        changes: appointment id -> (practice id, operation).
        now: When the change happened (the row is due at once).
    """
    connection = session.connection()
    dialect = connection.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, EhrOutboxEntry.__table__)
    for appointment_id, (practice_id, operation) in sorted(changes.items()):
        statement = insert(table).values(
            practice_id=practice_id,
            appointment_id=appointment_id,
            operation=operation,
            version=1,
            status=OutboxStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        excluded: Any = statement.excluded
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=[table.c.appointment_id],
                set_={
                    "operation": excluded.operation,
                    "version": table.c.version + 1,
                    "status": case(
                        (table.c.status == OutboxStatus.IN_FLIGHT, table.c.status),
                        else_=OutboxStatus.PENDING,
                    ),
                    "attempts": 0,
                    "next_attempt_at": excluded.next_attempt_at,
                    "updated_at": excluded.updated_at,
                },
            )
        )


def sync_state_for(*, session: Session, appointment_ids: list[int]) -> dict[int, SyncState]:
    """The EHR sync state of each appointment that has one.

    Appointments missing from the answer have nothing to sync (busy time pulled from the EHR,
    or rows older than the outbox).
    """
    if not appointment_ids:
        return {}
    rows = session.scalars(
        select(EhrOutboxEntry).where(EhrOutboxEntry.appointment_id.in_(appointment_ids))
    )
    return {
        row.appointment_id: SyncState(
            status=row.status,
            operation=row.operation,
            attempts=row.attempts,
            last_error=row.last_error,
            next_attempt_at=row.next_attempt_at if row.status is OutboxStatus.PENDING else None,
            updated_at=row.updated_at,
            remote_id=row.remote_id,
        )
        for row in rows
    }


def dead_letters(*, session: Session, practice_id: int) -> list[EhrOutboxEntry]:
    """EHR writes that were given up on, newest first: staff must look at these."""
    return list(
        session.scalars(
            select(EhrOutboxEntry)
            .where(
                EhrOutboxEntry.practice_id == practice_id,
                EhrOutboxEntry.status == OutboxStatus.DEAD,
            )
            .order_by(EhrOutboxEntry.updated_at.desc(), EhrOutboxEntry.id.desc())
        )
    )


class NotDeadLetterError(LookupError):
    """The outbox entry does not exist or is not dead-lettered."""


def retry_dead_letter(
    *, session: Session, entry_id: int, now: datetime | None = None
) -> EhrOutboxEntry:
    """Put a dead-lettered write back in the queue with a fresh set of attempts.

    Raises:
        NotDeadLetterError: No such entry, or it is not dead.
    """
    entry = session.get(EhrOutboxEntry, entry_id, with_for_update=True)
    if entry is None or entry.status is not OutboxStatus.DEAD:
        raise NotDeadLetterError(entry_id)
    moment = now or clock_of(session)()
    entry.status = OutboxStatus.PENDING
    entry.attempts = 0
    entry.next_attempt_at = moment
    entry.updated_at = moment
    session.flush()
    return entry
