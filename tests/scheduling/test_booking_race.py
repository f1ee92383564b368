"""Many patients take the same slot at the same moment: exactly one gets it, the others get a
clean "just taken" outcome, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, func, select

from frontdesk.db import make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.models import Appointment, AppointmentBlock, Patient, Practice
from frontdesk.patients.service import match_key
from frontdesk.scheduling.booking import PatientBusyError, SlotUnavailableError, book_appointment
from frontdesk.scheduling.matching import match_provider, match_visit_type
from tests.conftest import AT_NOW, NOW, empty_database

CONTENDERS = 8
START = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # Tue 3:00 PM in New York


@pytest.fixture
def committed_practice(engine: Engine) -> Iterator[int]:
    """The demo practice plus contenders, committed for real (threads need to see them)."""
    with session_scope(make_session_factory(engine, clock=AT_NOW)) as session:
        practice = seed_demo(session)
        session.add_all(
            Patient(
                practice_id=practice.id,
                first_name="Racer",
                last_name=f"Number{i}",
                match_key=match_key(f"Racer Number{i}"),
                date_of_birth=date(1990, 1, 1 + i),
            )
            for i in range(CONTENDERS)
        )
        practice_id = practice.id
    try:
        yield practice_id
    finally:
        empty_database(engine)


def test_exactly_one_of_many_simultaneous_bookings_wins(
    engine: Engine, committed_practice: int
) -> None:
    factory = make_session_factory(engine, clock=AT_NOW)
    with session_scope(factory) as session:
        patient_ids = list(session.scalars(select(Patient.id).where(Patient.first_name == "Racer")))
        provider_id = match_provider(
            session=session, practice_id=committed_practice, text="patel"
        ).id  # type: ignore[union-attr]
    barrier = threading.Barrier(CONTENDERS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(patient_id: int) -> None:
        barrier.wait()
        try:
            with session_scope(factory) as session:
                practice = session.get_one(Practice, committed_practice)
                book_appointment(
                    session=session,
                    practice=practice,
                    patient=session.get_one(Patient, patient_id),
                    visit_type=match_visit_type(
                        session=session, practice_id=practice.id, text="sick-visit"
                    ),  # type: ignore[arg-type]
                    provider_id=provider_id,
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
