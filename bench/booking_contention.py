"""Booking contention: many patients try to book the same slot at the same moment.

Each attempt is a thread with its own session (and pooled connection), released together by
a barrier against a freshly migrated demo database: SQLite (temporary file) always, and
PostgreSQL (throw-away database) when FRONTDESK_TEST_POSTGRES_URL or --postgres-url is given.
Prints attempts, successes, clean "just taken" answers (with how many carried alternatives),
anything else, the wall time of the whole burst, and per-attempt latency.

Usage: .venv/bin/python bench/booking_contention.py [--attempts 200] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time as clock
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

from frontdesk.clock import fixed_clock
from frontdesk.db import make_engine, make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.migrate import upgrade
from frontdesk.models import Appointment, Patient, Practice
from frontdesk.patients.service import match_key
from frontdesk.scheduling.booking import SlotUnavailableError, book_appointment
from frontdesk.scheduling.matching import match_provider, match_visit_type

NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
START = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # Tuesday 3:00 PM in New York
POOL = 40  # PostgreSQL's default max_connections is 100, shared with everything else


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def run(engine: Engine, label: str, attempts: int) -> None:
    """Seed, fire `attempts` simultaneous bookings at one slot, print the outcome."""
    upgrade(engine)
    factory = make_session_factory(engine, clock=fixed_clock(NOW))
    with session_scope(factory) as session:
        practice = seed_demo(session)
        session.add_all(
            Patient(
                practice_id=practice.id,
                first_name="Contender",
                last_name=f"Number{i}",
                match_key=match_key(f"Contender Number{i}"),
                date_of_birth=date(1950, 1, 1) + timedelta(days=i),
            )
            for i in range(attempts)
        )
        practice_id = practice.id
    with session_scope(factory) as session:
        patient_ids = list(
            session.scalars(select(Patient.id).where(Patient.first_name == "Contender"))
        )
        provider = match_provider(session=session, practice_id=practice_id, text="patel")
        assert provider is not None
        provider_id = provider.id
    barrier = threading.Barrier(attempts + 1)
    lock = threading.Lock()
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []

    def attempt(patient_id: int) -> None:
        barrier.wait()
        started = clock.perf_counter()
        try:
            with session_scope(factory) as session:
                visit = match_visit_type(
                    session=session, practice_id=practice_id, text="sick-visit"
                )
                assert visit is not None
                book_appointment(
                    session=session,
                    practice=session.get_one(Practice, practice_id),
                    patient=session.get_one(Patient, patient_id),
                    visit_type=visit,
                    provider_id=provider_id,
                    start=START,
                    now=NOW,
                )
            kind = "booked"
        except SlotUnavailableError as exc:
            kind = "just taken, with alternatives" if exc.alternatives else "just taken, none"
        except Exception as exc:  # reported, not hidden: this is what the bench looks for
            kind = f"error: {type(exc).__name__}"
        elapsed = (clock.perf_counter() - started) * 1000
        with lock:
            outcomes[kind] += 1
            latencies.append(elapsed)

    threads = [threading.Thread(target=attempt, args=(pid,)) for pid in patient_ids]
    for thread in threads:
        thread.start()
    barrier.wait()
    burst_started = clock.perf_counter()
    for thread in threads:
        thread.join()
    burst = clock.perf_counter() - burst_started
    with session_scope(factory) as session:
        rows = session.scalar(select(func.count()).select_from(Appointment))
    print(
        f"[{label}] attempts {attempts}, successes {outcomes['booked']}, "
        f"appointments in the database {rows}, burst {burst:.2f} s"
    )
    for kind, count in sorted(outcomes.items()):
        print(f"    {kind:32s} {count}")
    print(
        f"    per attempt: p50 {statistics.median(latencies):.0f} ms, "
        f"p95 {percentile(latencies, 95):.0f} ms, max {max(latencies):.0f} ms "
        f"(load average {os.getloadavg()[0]:.1f})"
    )


def main() -> None:
    """SQLite, then PostgreSQL when a server is given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=200)
    parser.add_argument("--postgres-url", default=os.environ.get("FRONTDESK_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'contention.db'}")
        try:
            run(engine, "sqlite", args.attempts)
        finally:
            engine.dispose()
    if not args.postgres_url:
        print("(PostgreSQL skipped: set FRONTDESK_TEST_POSTGRES_URL or pass --postgres-url)")
        return
    admin_url = make_url(args.postgres_url)
    if admin_url.drivername in ("postgresql", "postgres"):
        admin_url = admin_url.set(drivername="postgresql+psycopg")
    name = f"frontdesk_contention_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = make_engine(
            admin_url.set(database=name).render_as_string(hide_password=False),
            pool_size=POOL,
            max_overflow=0,
            pool_timeout=120,
        )
        try:
            run(engine, "postgresql", args.attempts)
        finally:
            engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
