"""Who may book what, and when: a visit type's timing rules and its patient and provider rules.

A visit type may set its own lead time, booking horizon and buffers; where it does not, the
practice's apply. It may be open only to new or only to established patients, and only to
some providers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from frontdesk.practices.models import Practice
from frontdesk.scheduling.matching import active_visit_types
from frontdesk.scheduling.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentStatus,
    PatientRule,
    VisitType,
    VisitTypeProvider,
)


@dataclass(frozen=True)
class BookingRules:
    """The rules that apply to one visit type (its own values, else the practice's)."""

    min_lead: timedelta
    horizon: timedelta
    buffer_before: timedelta
    buffer_after: timedelta


def booking_rules(practice: Practice, visit_type: VisitType | None) -> BookingRules:
    """The effective lead time, horizon and buffers for a visit type at a practice."""

    def pick(name: str, default: int) -> int:
        own: int | None = getattr(visit_type, name) if visit_type is not None else None
        return max(0, default if own is None else own)

    return BookingRules(
        min_lead=timedelta(minutes=pick("min_lead_minutes", practice.min_lead_minutes)),
        horizon=timedelta(days=pick("max_horizon_days", practice.max_horizon_days)),
        buffer_before=timedelta(
            minutes=pick("buffer_before_minutes", practice.default_buffer_before_minutes)
        ),
        buffer_after=timedelta(
            minutes=pick("buffer_after_minutes", practice.default_buffer_after_minutes)
        ),
    )


def allowed_provider_ids(*, session: Session, visit_type_id: int) -> set[int] | None:
    """Providers allowed to see this visit type; None means every provider."""
    ids = set(
        session.scalars(
            select(VisitTypeProvider.provider_id).where(
                VisitTypeProvider.visit_type_id == visit_type_id
            )
        )
    )
    return ids or None


def patient_is_established(
    *, session: Session, practice_id: int, patient_id: int, now: datetime
) -> bool:
    """Whether the practice has seen this patient before (a past visit that was not cancelled)."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    Appointment.practice_id == practice_id,
                    Appointment.patient_id == patient_id,
                    Appointment.start_at < now,
                    Appointment.status.in_((*ACTIVE_STATUSES, AppointmentStatus.FULFILLED)),
                )
            )
        )
    )


def visit_type_allowed(
    *, session: Session, visit_type: VisitType, patient_id: int, now: datetime
) -> bool:
    """Whether the visit type's new/established rule lets this patient book it."""
    if visit_type.patient_rule == PatientRule.ANY:
        return True
    established = patient_is_established(
        session=session, practice_id=visit_type.practice_id, patient_id=patient_id, now=now
    )
    return established == (visit_type.patient_rule == PatientRule.ESTABLISHED)


def eligible_visit_types(
    *, session: Session, practice_id: int, patient_id: int, now: datetime
) -> list[VisitType]:
    """The active visit types this patient may book."""
    return [
        v
        for v in active_visit_types(session=session, practice_id=practice_id)
        if visit_type_allowed(session=session, visit_type=v, patient_id=patient_id, now=now)
    ]
