"""Draining the EHR outbox: claim due rows, send each appointment's current state, settle.

Three short transactions per batch, none held open across the network:
1. claim: due rows (pending and due, or in flight for longer than the lease, i.e. a worker
   died mid-send) become in flight. PostgreSQL skips rows another worker holds
   (`FOR UPDATE SKIP LOCKED`); SQLite has a single writer (`BEGIN IMMEDIATE`).
2. read each claimed appointment and send it (conditional requests: sending twice is harmless).
3. settle: done if nothing changed meanwhile; pending again if the appointment changed while in
   flight; retried with exponential backoff on a transient error; dead on a permanent one
   (4xx other than 408/429, a resource our own validation refused) or after the last attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from frontdesk.db import session_scope
from frontdesk.ehr.interface import (
    AppointmentRecord,
    Ehr,
    EhrError,
    PatientRecord,
    PractitionerRecord,
)
from frontdesk.ehr.models import EhrOutboxEntry, OutboxStatus
from frontdesk.practices.models import Practice, Provider
from frontdesk.scheduling.models import Appointment, VisitType

logger = logging.getLogger(__name__)

# A claim older than this is presumed abandoned (the worker died mid-send) and is taken over.
CLAIM_LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again and when to give up."""

    max_attempts: int = 10
    base_seconds: float = 5.0
    cap_seconds: float = 900.0
    jitter: float = 0.1  # up to +10 %, so a recovered EHR is not hit by every row at once

    def delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt (1, 2, ...)."""
        seconds = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        return timedelta(seconds=seconds * (1 + random.uniform(0, self.jitter)))  # noqa: S311


@dataclass(frozen=True)
class _Claim:
    entry_id: int
    appointment_id: int
    version: int
    attempts: int


def identifier_system(*, prefix: str, practice_slug: str) -> str:
    """Our identifier system for one practice's resources in its EHR."""
    return f"{prefix.rstrip(':')}:{practice_slug}"


def claim_due(*, session: Session, now: datetime, limit: int = 20) -> list[_Claim]:
    """Mark up to `limit` due rows in flight and return what was claimed."""
    due = or_(
        and_(
            EhrOutboxEntry.status == OutboxStatus.PENDING,
            # A change not tried yet is due at once, whichever clock stamped it (the ORM
            # listener has no access to the service's clock); retries wait their turn.
            or_(EhrOutboxEntry.attempts == 0, EhrOutboxEntry.next_attempt_at <= now),
        ),
        and_(
            EhrOutboxEntry.status == OutboxStatus.IN_FLIGHT,
            EhrOutboxEntry.claimed_at < now - CLAIM_LEASE,
        ),
    )
    rows = session.scalars(
        select(EhrOutboxEntry)
        .where(due)
        .order_by(EhrOutboxEntry.next_attempt_at, EhrOutboxEntry.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    claims = []
    for row in rows:
        row.status = OutboxStatus.IN_FLIGHT
        row.claimed_at = now
        row.attempts += 1
        row.updated_at = now
        claims.append(_Claim(row.id, row.appointment_id, row.version, row.attempts))
    session.flush()
    return claims


def appointment_record(*, session: Session, appointment_id: int) -> AppointmentRecord | None:
    """The appointment's current state as the EHR needs it (None if it no longer exists)."""
    appointment = session.get(Appointment, appointment_id)
    if appointment is None:
        return None
    provider = session.get_one(Provider, appointment.provider_id)
    visit_type = (
        session.get(VisitType, appointment.visit_type_id)
        if appointment.visit_type_id is not None
        else None
    )
    patient = appointment.patient if appointment.patient_id is not None else None
    return AppointmentRecord(
        local_id=appointment.id,
        status=str(appointment.status),
        start=appointment.start_at,
        end=appointment.end_at,
        visit_type=visit_type.name if visit_type is not None else "Visit",
        patient=(
            PatientRecord(
                local_id=patient.id,
                family=patient.last_name,
                given=patient.first_name,
                birth_date=patient.date_of_birth,
                phone=patient.phone or None,
            )
            if patient is not None
            else None
        ),
        practitioner=PractitionerRecord(local_id=provider.id, display_name=provider.display_name),
    )


def _settle(
    *,
    session: Session,
    claim: _Claim,
    now: datetime,
    policy: RetryPolicy,
    remote_id: str | None,
    error: EhrError | None,
) -> OutboxStatus:
    entry = session.get_one(EhrOutboxEntry, claim.entry_id, with_for_update=True)
    entry.updated_at = now
    entry.claimed_at = None
    changed_meanwhile = entry.version != claim.version
    if error is None:
        entry.remote_id = remote_id
        entry.synced_version = claim.version
        entry.last_error = None
        if changed_meanwhile:  # a newer state is waiting: send it next
            entry.status, entry.attempts, entry.next_attempt_at = OutboxStatus.PENDING, 0, now
        else:
            entry.status = OutboxStatus.DONE
        return entry.status
    entry.last_error = str(error)
    if changed_meanwhile:
        # The failed write was of an older state; the newer one deserves its own attempts.
        entry.status, entry.attempts, entry.next_attempt_at = OutboxStatus.PENDING, 0, now
    elif not error.retryable or entry.attempts >= policy.max_attempts:
        entry.status = OutboxStatus.DEAD
        logger.warning(
            "EHR write dead-lettered: outbox entry %s after %s attempt(s): %s",
            entry.id,
            entry.attempts,
            error,
        )
    else:
        entry.status = OutboxStatus.PENDING
        entry.next_attempt_at = now + policy.delay(entry.attempts)
    return entry.status


def drain_once(
    *,
    sessions: sessionmaker[Session],
    ehr: Ehr,
    identifier_prefix: str,
    now: datetime,
    policy: RetryPolicy | None = None,
    limit: int = 20,
) -> dict[OutboxStatus, int]:
    """Process one batch of due outbox rows.

    Args:
        sessions: Session factory (each step is its own short transaction).
        ehr: Where to write.
        identifier_prefix: Settings' `ehr_identifier_system`.
        now: The current time.
        policy: Retry policy (default: `RetryPolicy()`).
        limit: Most rows in this batch.

    Returns:
        How many rows ended in each state.
    """
    policy = policy or RetryPolicy()
    with session_scope(sessions) as session:
        claims = claim_due(session=session, now=now, limit=limit)
    outcome: dict[OutboxStatus, int] = {}
    for claim in claims:
        remote_id: str | None = None
        error: EhrError | None = None
        with session_scope(sessions) as session:
            record = appointment_record(session=session, appointment_id=claim.appointment_id)
            slug = session.scalar(
                select(Practice.slug)
                .join(Appointment, Appointment.practice_id == Practice.id)
                .where(Appointment.id == claim.appointment_id)
            )
        if record is not None and slug is not None:
            system = identifier_system(prefix=identifier_prefix, practice_slug=slug)
            try:
                remote_id = ehr.upsert_appointment(system=system, appointment=record)
            except EhrError as exc:
                error = exc
        with session_scope(sessions) as session:
            status = _settle(
                session=session,
                claim=claim,
                now=now,
                policy=policy,
                remote_id=remote_id,
                error=error,
            )
        outcome[status] = outcome.get(status, 0) + 1
    return outcome


async def run_outbox_worker(
    *,
    sessions: sessionmaker[Session],
    ehr: Ehr,
    identifier_prefix: str,
    policy: RetryPolicy,
    poll_seconds: float,
    clock: Callable[[], datetime],
    stop: asyncio.Event,
) -> None:
    """Drain the outbox until `stop` is set (runs as a task in the service's event loop).

    The blocking work (database, HTTP) runs in a thread so the event loop stays free.
    """
    while not stop.is_set():
        processed = 0
        try:
            outcome = await asyncio.to_thread(
                drain_once,
                sessions=sessions,
                ehr=ehr,
                identifier_prefix=identifier_prefix,
                now=clock(),
                policy=policy,
            )
            processed = sum(outcome.values())
        except Exception:  # a broken batch must not end the worker; the rows stay queued
            logger.exception("EHR outbox batch failed")
        if processed == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
