"""The mirror of appointments made in the EHR: their time is held here, so it is never offered.

The pull (`frontdesk.ehr.pull`) hands each EHR-side appointment to `record_external_appointment`,
which holds or frees the provider's time on the same block grid as our own bookings. Time the
EHR frees is offered to the waitlist like any cancellation.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from frontdesk.practices.models import Provider
from frontdesk.scheduling.blocks import free_blocks, grid_blocks
from frontdesk.scheduling.freed_time import announce_freed_time
from frontdesk.scheduling.models import (
    ACTIVE_STATUSES,
    SOURCE_EHR,
    Appointment,
    AppointmentBlock,
    AppointmentStatus,
)
from frontdesk.scheduling.waitlist_notices import WaitlistNotifier
from frontdesk.scheduling.waitlist_policy import DEFAULT_WAITLIST_POLICY, WaitlistPolicy

logger = logging.getLogger(__name__)

# EHR statuses (FHIR R4 Appointment.status) that hold provider time, and what we store.
_EHR_HOLDING = {
    "proposed": AppointmentStatus.BOOKED,
    "pending": AppointmentStatus.BOOKED,
    "booked": AppointmentStatus.BOOKED,
    "arrived": AppointmentStatus.BOOKED,
    "checked-in": AppointmentStatus.BOOKED,
    "confirmed": AppointmentStatus.CONFIRMED,
    "fulfilled": AppointmentStatus.FULFILLED,
    "noshow": AppointmentStatus.NOSHOW,
}
_EHR_FREEING = frozenset({"cancelled", "entered-in-error"})


def record_external_appointment(
    *,
    session: Session,
    practice_id: int,
    provider_id: int,
    start: datetime,
    end: datetime,
    external_id: str,
    status: str,
    now: datetime,
    notifier: WaitlistNotifier | None = None,
    waitlist_policy: WaitlistPolicy = DEFAULT_WAITLIST_POLICY,
) -> Appointment | None:
    """Record (or update) busy time that came from the practice's EHR.

    Idempotent by `external_id`: pulling the same EHR appointment again updates the row. A
    status of "cancelled" (or "entered-in-error") frees the time and offers it to the
    waitlist. Only for appointments that originated in the EHR: ours are already here.

    If the EHR took time we had already given someone, the EHR wins where the time is free
    and the overlap is logged (ids only) for staff; nothing is double-held.

    Args:
        session: Database session.
        practice_id: The practice.
        provider_id: Our provider id the EHR appointment belongs to.
        start: Aware start.
        end: Aware end.
        external_id: The EHR's appointment id.
        status: FHIR Appointment.status code.
        now: The current instant, for waitlist offers.
        notifier: How waitlist offers reach patients; default `ConversationNotifier`.
        waitlist_policy: The service's waitlist rules for offering freed time.

    Returns:
        The stored appointment, or None for a cancellation of one never recorded.

    Raises:
        ValueError: An unknown status, an empty id, naive or reversed times, or a provider of
            another practice.
    """
    status = status.strip().lower()
    if status not in _EHR_HOLDING and status not in _EHR_FREEING:
        raise ValueError(f"unknown EHR appointment status {status!r}")
    if not external_id or len(external_id) > 64:
        raise ValueError("external_id must be 1-64 characters")
    if start.tzinfo is None or end.tzinfo is None or not start < end:
        raise ValueError("start and end must be aware and in order")
    provider = session.get(Provider, provider_id)
    if provider is None or provider.practice_id != practice_id:
        raise ValueError("provider belongs to another practice")
    existing = session.scalar(
        select(Appointment).where(
            Appointment.practice_id == practice_id, Appointment.external_id == external_id
        )
    )
    if status in _EHR_FREEING:
        if existing is None:
            return None
        if existing.status in ACTIVE_STATUSES:
            free_blocks(session, existing)
            existing.status = AppointmentStatus.CANCELLED
            existing.cancelled_at = now
            existing.cancelled_by = "ehr"
            session.flush()
            announce_freed_time(
                session,
                provider_id=existing.provider_id,
                start=existing.start_at,
                end=existing.end_at,
                now=now,
                notifier=notifier,
                policy=waitlist_policy,
            )
        return existing
    if existing is None:
        existing = Appointment(
            practice_id=practice_id,
            provider_id=provider_id,
            location_id=provider.location_id,
            patient_id=None,
            visit_type_id=None,
            start_at=start,
            end_at=end,
            source=SOURCE_EHR,
            external_id=external_id,
        )
        session.add(existing)
    elif (existing.provider_id, existing.start_at, existing.end_at) != (provider_id, start, end):
        free_blocks(session, existing)
    else:
        existing.status = _EHR_HOLDING[status]
        session.flush()
        return existing
    existing.provider_id = provider_id
    existing.location_id = provider.location_id
    existing.start_at = start
    existing.end_at = end
    existing.status = _EHR_HOLDING[status]
    session.flush()
    _hold_free_blocks(session, existing)
    return existing


def _hold_free_blocks(session: Session, appointment: Appointment) -> None:
    """Claim every still-free block of the appointment's time (EHR time wins where free)."""
    for _attempt in range(3):
        wanted = grid_blocks(appointment.start_at, appointment.end_at)
        held = set(
            session.scalars(
                select(AppointmentBlock.block_start).where(
                    AppointmentBlock.provider_id == appointment.provider_id,
                    AppointmentBlock.block_start.in_(wanted),
                )
            )
        )
        missing = [b for b in wanted if b not in held]
        try:
            with session.begin_nested():
                session.add_all(
                    AppointmentBlock(
                        practice_id=appointment.practice_id,
                        provider_id=appointment.provider_id,
                        block_start=b,
                        appointment_id=appointment.id,
                    )
                    for b in missing
                )
                session.flush()
        except IntegrityError:
            continue  # a booking landed between the read and the insert; look again
        if len(missing) < len(wanted):
            logger.warning(
                "EHR appointment %s overlaps time already booked here (provider %s)",
                appointment.id,
                appointment.provider_id,
            )
        return
    logger.warning("could not hold EHR appointment %s's time after retries", appointment.id)
