"""200 patients take the same slot at the same moment on PostgreSQL: exactly one gets it, and
every other one gets a clean "just taken, here are the next ones" answer.

Each attempt runs in its own thread with its own session (and pooled connection), released
together by a barrier. The database gets a throw-away PostgreSQL database of its own, so the
test neither sees nor disturbs other tests' rows.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

from frontdesk.db import make_engine, make_session_factory, session_scope
from frontdesk.migrate import upgrade
from frontdesk.models import (
    Appointment,
    AppointmentBlock,
    Patient,
    Practice,
    Provider,
    VisitType,
)
from frontdesk.scheduling.booking import PatientBusyError, SlotUnavailableError, book_appointment
from frontdesk.scheduling.slots import OpenSlot
from tests import factories
from tests.conftest import AT_NOW, NOW, POSTGRES_URL, _postgres_url

pytestmark = pytest.mark.postgres

CONTENDERS = 200
# Fewer connections than contenders: PostgreSQL's default max_connections is 100 and other
# test runs share the server. Attempts queue for a connection, then collide in the database.
POOL = 40
START = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # Tue 3:00 PM in New York


@pytest.fixture
def contention_engine() -> Iterator[Engine]:
    """A fresh migrated PostgreSQL database: one provider, one 20-minute visit, 200 patients."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need FRONTDESK_TEST_POSTGRES_URL (set by .ci/run)")
    admin_url = _postgres_url()
    name = f"frontdesk_contention_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url, pool_size=POOL, max_overflow=0, pool_timeout=120)
    try:
        upgrade(engine)
        with session_scope(make_session_factory(engine, clock=AT_NOW)) as session:
            practice = factories.clinic(session).practice
            for i in range(CONTENDERS):
                factories.patient(
                    session,
                    practice=practice,
                    first_name="Racer",
                    last_name=f"Number{i}",
                    date_of_birth=date(1950, 1, 1).replace(year=1950 + i % 50, day=1 + i % 28),
                )
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Outcome:
    """What one contender saw."""

    kind: str
    alternatives: list[OpenSlot]


def test_exactly_one_of_200_simultaneous_bookings_wins(contention_engine: Engine) -> None:
    factory = make_session_factory(contention_engine, clock=AT_NOW)
    with session_scope(factory) as session:
        practice_id = session.scalars(select(Practice.id)).one()
        patient_ids = list(session.scalars(select(Patient.id).where(Patient.first_name == "Racer")))
        provider_id = session.scalars(select(Provider.id)).one()
        visit_type_id = session.scalars(select(VisitType.id)).one()
    assert len(patient_ids) == CONTENDERS
    barrier = threading.Barrier(CONTENDERS)
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def attempt(patient_id: int) -> None:
        barrier.wait()
        alternatives: list[OpenSlot] = []
        try:
            with session_scope(factory) as session:
                book_appointment(
                    session=session,
                    practice=session.get_one(Practice, practice_id),
                    patient=session.get_one(Patient, patient_id),
                    visit_type=session.get_one(VisitType, visit_type_id),
                    provider_id=provider_id,
                    start=START,
                    now=NOW,
                )
            kind = "booked"
        except PatientBusyError:
            kind = "patient busy (wrong outcome)"
        except SlotUnavailableError as exc:
            kind = "just taken"
            alternatives = exc.alternatives
        except Exception as exc:  # anything else is a defect this test exists to catch
            kind = f"crashed: {type(exc).__name__}"
        with lock:
            outcomes.append(Outcome(kind, alternatives))

    threads = [threading.Thread(target=attempt, args=(pid,)) for pid in patient_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)

    assert sorted(o.kind for o in outcomes) == ["booked"] + ["just taken"] * (CONTENDERS - 1)
    for outcome in outcomes:
        if outcome.kind == "just taken":
            assert outcome.alternatives, "every loser is offered the next open slots"
            assert all(s.start != START and s.start > NOW for s in outcome.alternatives)
    with session_scope(factory) as session:
        assert session.scalar(select(func.count()).select_from(Appointment)) == 1
        assert session.scalar(select(func.count()).select_from(AppointmentBlock)) == 4
