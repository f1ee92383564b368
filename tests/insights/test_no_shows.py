"""Marking a no-show refuses what staff cannot mark, and says why."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.insights.no_shows import NoShowError, mark_no_show, markable_visits
from frontdesk.models import Practice, Provider, VisitType
from frontdesk.scheduling.models import Appointment, AppointmentStatus
from tests import factories
from tests.conftest import NOW


def _visit(session: Session, practice: Practice, **fields: object) -> Appointment:
    provider = session.scalars(select(Provider).where(Provider.practice_id == practice.id)).first()
    visit_type = session.scalars(
        select(VisitType).where(VisitType.practice_id == practice.id)
    ).first()
    assert provider is not None and visit_type is not None
    patient = factories.patient(session, practice=practice, phone=None)
    options: dict[str, object] = {"start": NOW - timedelta(hours=2), **fields}
    return factories.appointment(
        session,
        patient=patient,
        provider=provider,
        visit_type=visit_type,
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"source": "ehr"}, "belongs to the EHR"),
        ({"start": NOW + timedelta(hours=1)}, "has not started yet"),
        ({"status": AppointmentStatus.CANCELLED}, "no longer booked"),
    ],
)
def test_what_cannot_be_marked_is_refused_with_a_reason(
    session: Session, practice: Practice, fields: dict[str, object], why: str
) -> None:
    visit = _visit(session, practice, **fields)
    with pytest.raises(NoShowError, match=why):
        mark_no_show(session=session, practice_id=practice.id, appointment_id=visit.id, now=NOW)
    assert session.get_one(Appointment, visit.id).status is not AppointmentStatus.NOSHOW


def test_another_practice_cannot_mark_a_visit(session: Session, practice: Practice) -> None:
    visit = _visit(session, practice)
    other = factories.practice(session)
    with pytest.raises(NoShowError, match="no such visit"):
        mark_no_show(session=session, practice_id=other.id, appointment_id=visit.id, now=NOW)
    with pytest.raises(NoShowError, match="no such visit"):
        mark_no_show(session=session, practice_id=practice.id, appointment_id=10**9, now=NOW)


def test_only_recent_started_visits_are_offered(session: Session, practice: Practice) -> None:
    recent = _visit(session, practice)
    assert recent.patient_id is not None
    offered = markable_visits(session=session, patient_id=recent.patient_id, now=NOW)
    assert [v.appointment_id for v in offered] == [recent.id]
    assert (
        markable_visits(session=session, patient_id=recent.patient_id, now=NOW + timedelta(days=15))
        == []
    )
    marked = mark_no_show(
        session=session, practice_id=practice.id, appointment_id=recent.id, now=NOW
    )
    assert marked.status is AppointmentStatus.NOSHOW
    assert markable_visits(session=session, patient_id=recent.patient_id, now=NOW) == []
