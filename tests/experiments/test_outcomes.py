"""Each visit's outcome is counted in its patient's arm, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.experiments.outcomes import measure
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Practice, Provider
from frontdesk.scheduling.models import AppointmentStatus, VisitType
from tests import factories
from tests.conftest import NOW
from tests.experiments.support import set_up, wording_spec


def test_outcomes_are_counted_per_arm_from_status_and_times(
    session: Session, practice: Practice
) -> None:
    provider = session.scalars(select(Provider).where(Provider.practice_id == practice.id)).first()
    visit_type = session.scalars(
        select(VisitType).where(VisitType.practice_id == practice.id)
    ).first()
    assert provider is not None and visit_type is not None
    zone = ZoneInfo(practice.timezone)
    a, b = (factories.patient(session, practice=practice) for _ in range(2))
    experiment = set_up(
        session,
        practice_id=practice.id,
        spec=wording_spec((NOW - timedelta(days=7)).astimezone(zone).date()),
        arms=[(a.id, "standard"), (b.id, "held-for-you")],
    )

    def visit(patient: Patient, days_ago: float, status: AppointmentStatus, **fields: Any) -> None:
        factories.appointment(
            session,
            patient=patient,
            provider=provider,
            visit_type=visit_type,
            start=NOW - timedelta(days=days_ago),
            status=status,
            source="ehr",
            **fields,
        )

    start = NOW - timedelta(days=2)
    visit(a, 1, AppointmentStatus.NOSHOW)
    visit(a, 2, AppointmentStatus.CANCELLED, cancelled_at=start - timedelta(days=1))
    visit(a, 3, AppointmentStatus.BOOKED)  # ended, never marked: attended
    visit(a, 10, AppointmentStatus.NOSHOW)  # before the experiment's first day
    visit(b, 1.5, AppointmentStatus.FULFILLED)
    visit(b, 2.5, AppointmentStatus.CANCELLED, cancelled_at=NOW - timedelta(days=2))  # after start
    visit(b, -2, AppointmentStatus.CONFIRMED)  # ahead: pending
    outcome = measure(session=session, experiment=experiment, now=NOW)
    control, held = outcome.arms
    assert control.arm.name == "standard" and held.arm.name == "held-for-you"
    assert (control.visits, control.attended, control.no_shows, control.cancelled_ahead) == (
        3,
        1,
        1,
        1,
    )
    assert (held.visits, held.attended, held.no_shows, held.cancelled_ahead, held.pending) == (
        1,
        1,
        0,
        0,
        1,
    )
    assert control.no_show_rate is not None and control.no_show_rate.estimate == 0.5
    assert held.no_show_difference is not None and held.no_show_difference.estimate == -0.5
