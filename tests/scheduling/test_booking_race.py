"""Many patients take the same slot at the same moment: exactly one gets it, the others get a
clean "just taken" outcome, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, func, select

from frontdesk.db import make_session_factory, session_scope
from frontdesk.models import Appointment, AppointmentBlock, Patient, Practice, VisitType
from frontdesk.scheduling.booking import PatientBusyError, SlotUnavailableError, book_appointment
from tests import factories
from tests.conftest import AT_NOW, NOW, empty_database

CONTENDERS = 8
START = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # Tue 3:00 PM in New York


@dataclass(frozen=True)
class Race:
    """What the contenders race for, committed for real (threads need to see it)."""

    practice_id: int
    provider_id: int
    visit_type_id: int


@pytest.fixture
def race(engine: Engine) -> Iterator[Race]:
    """A practice with one provider and one 20-minute visit type, plus the contenders."""
    with session_scope(make_session_factory(engine, clock=AT_NOW)) as session:
        clinic = factories.clinic(session)
        for i in range(CONTENDERS):
            factories.patient(
                session,
                practice=clinic.practice,
                first_name="Racer",
                last_name=f"Number{i}",
                date_of_birth=date(1990, 1, 1 + i),
            )
        taken_for = Race(clinic.practice.id, clinic.provider.id, clinic.visit_type.id)
    try:
        yield taken_for
    finally:
        empty_database(engine)


def test_exactly_one_of_many_simultaneous_bookings_wins(engine: Engine, race: Race) -> None:
    factory = make_session_factory(engine, clock=AT_NOW)
    with session_scope(factory) as session:
        patient_ids = list(session.scalars(select(Patient.id).where(Patient.first_name == "Racer")))
    barrier = threading.Barrier(CONTENDERS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(patient_id: int) -> None:
        barrier.wait()
        try:
            with session_scope(factory) as session:
                book_appointment(
                    session=session,
                    practice=session.get_one(Practice, race.practice_id),
                    patient=session.get_one(Patient, patient_id),
                    visit_type=session.get_one(VisitType, race.visit_type_id),
                    provider_id=race.provider_id,
                    start=START,
                    now=NOW,
                )
            result = "booked"
        except PatientBusyError:
            result = "patient busy (wrong outcome)"
        except SlotUnavailableError:
            result = "just taken"
        except Exception as exc:  # anything else is a defect this test exists to catch
            result = f"crashed: {type(exc).__name__}"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(pid,)) for pid in patient_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["booked"] + ["just taken"] * (CONTENDERS - 1)
    with session_scope(factory) as session:
        assert session.scalar(select(func.count()).select_from(Appointment)) == 1
        assert session.scalar(select(func.count()).select_from(AppointmentBlock)) == 4
