"""Next-5-open-slots latency over a busy practice: 50 providers x 180 days of schedules.

Builds a temporary database (SQLite always; PostgreSQL too when FRONTDESK_TEST_POSTGRES_URL or
--postgres-url is given, in a throw-away database), migrated with Alembic, holding:
  * one practice (America/New_York, 180-day horizon) with 50 providers, weekday hours
    8:00-12:00 and 13:00-17:00, a few Saturday mornings, three visit types (one with a buffer,
    one restricted to 10 providers), two holidays and ~2 % provider days off;
  * existing bookings on the 15-minute slot grid (20- and 45-minute visits) that thin out
    with distance: ~85 % of grid positions booked at first, falling to ~15 % at six months
    (written straight into appointments/appointment_blocks).
Then, after a warm-up, times `find_open_slots(limit=5)` for a mix of requests: "asap" with
anyone, "asap" with a named provider, and a named day and part of day.

Usage: .venv/bin/python bench/next_slots.py [--queries 500] [--postgres-url URL]
Goal: p95 <= 20 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time as clock
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from frontdesk.clock import fixed_clock
from frontdesk.db import CLOCK_KEY, make_engine
from frontdesk.migrate import upgrade
from frontdesk.models import (
    Appointment,
    AppointmentBlock,
    Location,
    Patient,
    Practice,
    Provider,
    VisitType,
    WeeklyHours,
)
from frontdesk.scheduling.blocks import grid_blocks
from frontdesk.scheduling.localtime import local_day_span, local_to_utc
from frontdesk.scheduling.models import AppointmentStatus, ScheduleException, VisitTypeProvider
from frontdesk.scheduling.slots import find_open_slots
from frontdesk.scheduling.timeprefs import TimePreference

TZ = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)  # Monday 8:00 in New York
PROVIDERS = 50
DAYS = 180
HOURS = [(time(8, 0), time(12, 0)), (time(13, 0), time(17, 0))]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def build(engine: Engine, seed: int = 7) -> dict[str, int]:
    """Create the practice, its schedules and bookings; returns row counts."""
    rng = random.Random(seed)
    upgrade(engine)
    with Session(engine, info={CLOCK_KEY: fixed_clock(NOW)}) as session, session.begin():
        practice = Practice(
            slug="bench",
            name="Bench Practice",
            timezone=TZ.key,
            min_lead_minutes=120,
            max_horizon_days=DAYS,
        )
        session.add(practice)
        session.flush()
        location = Location(practice_id=practice.id, name="Main", address="1 Bench Street")
        session.add(location)
        session.flush()
        providers = [
            Provider(
                practice_id=practice.id, location_id=location.id, display_name=f"Dr. Bench {i:02d}"
            )
            for i in range(PROVIDERS)
        ]
        session.add_all(providers)
        session.flush()
        for index, provider in enumerate(providers):
            for weekday in range(5):
                for start, end in HOURS:
                    session.add(
                        WeeklyHours(
                            practice_id=practice.id,
                            provider_id=provider.id,
                            weekday=weekday,
                            start_time=start,
                            end_time=end,
                        )
                    )
            if index % 5 == 0:
                session.add(
                    WeeklyHours(
                        practice_id=practice.id,
                        provider_id=provider.id,
                        weekday=5,
                        start_time=time(9, 0),
                        end_time=time(12, 0),
                    )
                )
        visits = [
            VisitType(practice_id=practice.id, code="sick", name="Sick", duration_minutes=20),
            VisitType(
                practice_id=practice.id,
                code="physical",
                name="Physical",
                duration_minutes=45,
                buffer_after_minutes=10,
            ),
            VisitType(practice_id=practice.id, code="new", name="New", duration_minutes=60),
        ]
        session.add_all(visits)
        session.flush()
        session.add_all(
            VisitTypeProvider(practice_id=practice.id, visit_type_id=visits[2].id, provider_id=p.id)
            for p in providers[:10]
        )
        for holiday in (date(2026, 12, 25), date(2027, 1, 1)):
            start, end = local_day_span(holiday, TZ)
            session.add(
                ScheduleException(practice_id=practice.id, start_at=start, end_at=end, reason="H")
            )
        first = NOW.astimezone(TZ).date()
        for provider in providers:
            for offset in range(DAYS):
                if rng.random() < 0.02:
                    start, end = local_day_span(first + timedelta(days=offset), TZ)
                    session.add(
                        ScheduleException(
                            practice_id=practice.id,
                            provider_id=provider.id,
                            start_at=start,
                            end_at=end,
                            reason="Off",
                        )
                    )
        session.add_all(
            Patient(
                practice_id=practice.id,
                first_name="Bench",
                last_name=f"Patient{i}",
                match_key=f"bench patient{i}",
                date_of_birth=date(1980, 1, 1) + timedelta(days=i),
            )
            for i in range(2000)
        )
        session.flush()
        patient_ids = list(session.scalars(select(Patient.id)))
        practice_id, location_id = practice.id, location.id
        provider_ids = [p.id for p in providers]
        visit_ids = [v.id for v in visits]

    grid = timedelta(minutes=15)
    appointments: list[dict[str, object]] = []
    blocks: list[dict[str, object]] = []
    next_id = 1
    for offset in range(DAYS):
        day = NOW.astimezone(TZ).date() + timedelta(days=offset)
        if day.weekday() > 4:
            continue
        # Busy soon, thinner later: ~85 % of the grid booked at first, ~15 % at six months.
        density = max(0.15, 0.85 - 0.7 * offset / 120)
        for provider_id in provider_ids:
            for start_wall, end_wall in HOURS:
                start = cursor = local_to_utc(day, start_wall, TZ)
                end = local_to_utc(day, end_wall, TZ)
                assert cursor is not None and end is not None
                while cursor + timedelta(minutes=20) <= end:
                    length = rng.choice((20, 20, 20, 45))
                    finish = cursor + timedelta(minutes=length)
                    if finish <= end and rng.random() < density:
                        appointments.append(
                            {
                                "id": next_id,
                                "practice_id": practice_id,
                                "provider_id": provider_id,
                                "location_id": location_id,
                                "patient_id": rng.choice(patient_ids),
                                "visit_type_id": visit_ids[0 if length == 20 else 1],
                                "start_at": cursor,
                                "end_at": finish,
                                "status": AppointmentStatus.BOOKED,
                                "source": "bench",
                                "created_at": NOW,
                            }
                        )
                        blocks.extend(
                            {
                                "practice_id": practice_id,
                                "provider_id": provider_id,
                                "block_start": block,
                                "appointment_id": next_id,
                            }
                            for block in grid_blocks(cursor, finish)
                        )
                        next_id += 1
                        # Bookings made through the slot finder start on its 15-minute grid,
                        # so a 20-minute visit leaves a 10-minute fragment after it.
                        cursor = start + -((start - finish) // grid) * grid
                    else:
                        cursor += grid
    with engine.begin() as connection:
        for start in range(0, len(appointments), 5000):
            connection.execute(insert(Appointment), appointments[start : start + 5000])
        for start in range(0, len(blocks), 20000):
            connection.execute(insert(AppointmentBlock), blocks[start : start + 20000])
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))
    return {"appointments": len(appointments), "blocks": len(blocks)}


def queries(session: Session, count: int, seed: int = 11) -> list[tuple[str, dict[str, object]]]:
    """A reproducible mix of next-5 requests."""
    rng = random.Random(seed)
    provider_ids = list(session.scalars(select(Provider.id)))
    visits = list(session.scalars(select(VisitType).order_by(VisitType.id)))
    today = NOW.astimezone(TZ).date()
    asap = TimePreference(days=tuple(today + timedelta(days=i) for i in range(DAYS)))
    mix: list[tuple[str, dict[str, object]]] = []
    for _ in range(count):
        roll = rng.random()
        visit = rng.choice(visits)
        if roll < 0.5:
            mix.append(("asap, anyone", {"visit_type": visit, "preference": asap}))
        elif roll < 0.8:
            mix.append(
                (
                    "asap, named provider",
                    {
                        "visit_type": visit,
                        "preference": asap,
                        "provider_id": rng.choice(provider_ids),
                    },
                )
            )
        else:
            day = today + timedelta(days=rng.randrange(1, 60))
            afternoon = rng.random() < 0.5
            mix.append(
                (
                    "named day and part of day",
                    {
                        "visit_type": visit,
                        "preference": TimePreference(
                            days=(day,),
                            earliest=time(12, 0) if afternoon else None,
                            latest=None if afternoon else time(12, 0),
                        ),
                    },
                )
            )
    return mix


def run(engine: Engine, label: str, count: int) -> None:
    """Build, warm up, measure and print."""
    started = clock.perf_counter()
    sizes = build(engine)
    print(
        f"\n[{label}] built {PROVIDERS} providers x {DAYS} days: {sizes['appointments']:,} "
        f"appointments, {sizes['blocks']:,} blocks in {clock.perf_counter() - started:.1f} s"
    )
    with Session(engine) as session:
        practice = session.scalars(select(Practice)).one()
        mix = queries(session, count + 50)
        found_counts: list[int] = []
        timings: dict[str, list[float]] = {}
        cpu: list[float] = []
        for index, (kind, kwargs) in enumerate(mix):
            started = clock.perf_counter()
            cpu_started = clock.process_time()
            slots = find_open_slots(
                session=session,
                practice=practice,
                now=NOW,
                limit=5,
                **kwargs,  # type: ignore[arg-type]
            )
            elapsed = (clock.perf_counter() - started) * 1000
            cpu_ms = (clock.process_time() - cpu_started) * 1000
            if index < 50:  # warm-up
                continue
            timings.setdefault(kind, []).append(elapsed)
            cpu.append(cpu_ms)
            found_counts.append(len(slots))
            session.expunge_all()  # like a fresh request: no identity-map carry-over
            practice = session.scalars(select(Practice)).one()
    every = [t for values in timings.values() for t in values]
    print(
        f"[{label}] next-5-open-slots, {len(every)} queries: p50 {statistics.median(every):.1f} ms"
        f"  p95 {percentile(every, 95):.1f} ms  p99 {percentile(every, 99):.1f} ms"
        f"  max {max(every):.1f} ms  (goal p95 <= 20 ms: "
        f"{'met' if percentile(every, 95) <= 20 else 'NOT met'})"
    )
    for kind, values in timings.items():
        print(
            f"    {kind:28s} n={len(values):3d}  p50 {statistics.median(values):6.1f} ms"
            f"  p95 {percentile(values, 95):6.1f} ms"
        )
    print(
        f"    this process's CPU time per query: p50 {statistics.median(cpu):.1f} ms"
        f"  p95 {percentile(cpu, 95):.1f} ms (wall time includes waiting for a busy machine;"
        f" load average now {os.getloadavg()[0]:.1f})"
    )
    print(f"    slots returned per query: min {min(found_counts)}, max {max(found_counts)}")


def main() -> None:
    """Run on SQLite, then on PostgreSQL when a server is given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--postgres-url", default=os.environ.get("FRONTDESK_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        try:
            run(engine, "sqlite", args.queries)
        finally:
            engine.dispose()
    if not args.postgres_url:
        print("\n(PostgreSQL skipped: set FRONTDESK_TEST_POSTGRES_URL or pass --postgres-url)")
        return
    admin_url = make_url(args.postgres_url)
    if admin_url.drivername in ("postgresql", "postgres"):
        admin_url = admin_url.set(drivername="postgresql+psycopg")
    name = f"frontdesk_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = make_engine(admin_url.set(database=name).render_as_string(hide_password=False))
        try:
            run(engine, "postgresql", args.queries)
        finally:
            engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
