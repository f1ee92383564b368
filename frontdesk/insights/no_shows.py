"""Staff marking a visit as a no-show, where the EHR does not tell us.

When the practice's EHR is connected, its appointment status ("noshow") reaches the mirror
and nothing here is needed: EHR-owned visits cannot be marked in the console. For visits the
bot or staff booked here, the front desk marks a patient who did not come. Marking sets the
appointment's status (so the no-show follow-up is planned like for an EHR no-show), frees its
blocks, and writes a PHI-free insight event so the insights page can tell the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.insights.models import InsightKind
from frontdesk.insights.recording import record_insight
from frontdesk.scheduling.blocks import free_blocks
from frontdesk.scheduling.models import (
    ACTIVE_STATUSES,
    SOURCE_EHR,
    Appointment,
    AppointmentStatus,
)

# How far back the console offers to mark a visit: a no-show is noticed the same day or soon.
MARKABLE_DAYS = 14


class NoShowError(ValueError):
    """The visit cannot be marked; `message` says why in staff wording."""

    def __init__(self, message: str) -> None:
        """Keep the staff-facing message."""
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class MarkableVisit:
    """A recent visit of the patient that has started and is still booked."""

    appointment_id: int
    start_at: datetime
    provider: str
    visit_type: str


def markable_visits(*, session: Session, patient_id: int, now: datetime) -> list[MarkableVisit]:
    """The patient's visits of the last MARKABLE_DAYS that started and were not closed."""
    rows = session.scalars(
        select(Appointment)
        .where(
            Appointment.patient_id == patient_id,
            Appointment.status.in_(ACTIVE_STATUSES),
            Appointment.source != SOURCE_EHR,
            Appointment.start_at <= now,
            Appointment.start_at >= now - timedelta(days=MARKABLE_DAYS),
        )
        .order_by(Appointment.start_at.desc())
    )
    return [
        MarkableVisit(
            appointment_id=a.id,
            start_at=a.start_at,
            provider=a.provider.display_name,
            visit_type=a.visit_type.name if a.visit_type else "Visit",
        )
        for a in rows
    ]


def mark_no_show(
    *, session: Session, practice_id: int, appointment_id: int, now: datetime
) -> Appointment:
    """Record that the patient did not come to a visit of this practice.

    Raises:
        NoShowError: No such visit here, not started yet, EHR-owned, or not booked any more.
    """
    appointment = session.get(Appointment, appointment_id)
    if appointment is None or appointment.practice_id != practice_id:
        raise NoShowError("There is no such visit.")
    if appointment.source == SOURCE_EHR:
        raise NoShowError("This visit belongs to the EHR: record the no-show there.")
    if appointment.start_at > now:
        raise NoShowError("This visit has not started yet.")
    if appointment.status not in ACTIVE_STATUSES:
        raise NoShowError("This visit is no longer booked (cancelled, completed or marked).")
    free_blocks(session, appointment)
    appointment.status = AppointmentStatus.NOSHOW
    record_insight(
        session=session,
        practice_id=practice_id,
        kind=InsightKind.NO_SHOW_MARKED,
        at=now,
        appointment_id=appointment.id,
    )
    session.flush()
    return appointment
