"""Plan and send N appointment reminders to the local Twilio fake; count duplicates.

Sets up N patients with one visit each whose two-hour reminder is due (not timed), then times
  * planning (`plan_outreach`: one unique row per appointment and offset),
  * queueing (`send_due` in batches: claim, checks, conversation message, outbox row),
  * sending (the outbox worker, through the real twilio client, to the fake over HTTP),
and checks that every number got exactly one message. Goal: 10,000 in <= 30 s, 0 duplicates.

Usage: .venv/bin/python bench/reminders.py [--count 10000] [--threads 8]
       [--database-url postgresql+psycopg://...]   (default: a fresh SQLite file)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from frontdesk.clock import fixed_clock
from frontdesk.db import make_engine, make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.migrate import upgrade
from frontdesk.models import Appointment, Patient, Provider, VisitType
from frontdesk.reminders.models import ReminderStatus, ScheduledReminder
from frontdesk.reminders.policy import ReminderDefaults
from frontdesk.reminders.scheduler import ReminderRunner
from frontdesk.sms.models import OutboundSms, OutboundStatus
from frontdesk.sms.transport import TwilioTransport
from frontdesk.sms.worker import OutboxWorker
from frontdesk.wiring import connect_ports
from tests.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, free_port

# Tuesday 1 December 2026, 10:00 in New York: inside the default 8 am - 9 pm window. Every
# part (seeding, planning, the outbox) tells time by this one clock, so the run is the same on
# any date.
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
CLOCK = fixed_clock(NOW)
STALL_SECONDS = 60  # no message left the outbox for this long: report instead of hanging


@contextmanager
def fake_process() -> Iterator[str]:
    """The Twilio fake in its own process, as Twilio is not in ours."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.twilio_fake", str(port)],
        cwd=Path(__file__).resolve().parents[1],
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/_fake/messages", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def seed(engine_url: str, count: int) -> None:
    """Patients with one visit each, two hours (less a minute) from NOW."""
    engine = make_engine(engine_url)
    upgrade(engine)
    sessions = make_session_factory(engine, clock=CLOCK)
    with session_scope(sessions) as db:
        practice = seed_demo(db)
        provider = db.scalars(select(Provider).where(Provider.practice_id == practice.id)).first()
        visit = db.scalars(select(VisitType).where(VisitType.practice_id == practice.id)).first()
        assert provider is not None and visit is not None
        first_id = (db.scalar(select(func.max(Patient.id))) or 0) + 1
        db.execute(
            insert(Patient),
            [
                {
                    "id": first_id + n,
                    "practice_id": practice.id,
                    "first_name": "Bench",
                    "last_name": f"Patient{n}",
                    "match_key": f"bench patient{n}",
                    "date_of_birth": date(1980, 1, 1),
                    "phone": f"+1555{n:07d}",
                    "created_at": NOW - timedelta(days=30),
                }
                for n in range(count)
            ],
        )
        # Rows only (no provider-time blocks): what matters here is each visit's 2-hour
        # reminder being due at NOW.
        db.execute(
            insert(Appointment),
            [
                {
                    "practice_id": practice.id,
                    "provider_id": provider.id,
                    "location_id": provider.location_id,
                    "patient_id": first_id + n,
                    "visit_type_id": visit.id,
                    "start_at": NOW + timedelta(hours=2) - timedelta(minutes=1),
                    "end_at": NOW + timedelta(hours=2, minutes=14),
                    "status": "booked",
                    "source": "webchat",
                    "created_at": NOW - timedelta(days=10),
                }
                for n in range(count)
            ],
        )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="frontdesk-bench-") as folder:
        url, cleanup = _database(args.database_url, Path(folder))
        try:
            run(url, args.count, args.threads)
        finally:
            cleanup()


def _database(base_url: str, folder: Path) -> tuple[str, object]:
    if not base_url:
        return f"sqlite:///{folder / 'bench.db'}", lambda: None
    name = f"frontdesk_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(base_url).set(database=name).render_as_string(hide_password=False), drop


def run(url: str, count: int, threads: int) -> None:
    print(f"database: {make_url(url).get_backend_name()}, reminders: {count}, threads: {threads}")
    connect_ports()  # as the service at start-up: SMS conversations' messages reach the outbox
    started = time.perf_counter()
    seed(url, count)
    print(f"setup (not timed): {time.perf_counter() - started:.1f} s")
    engine = make_engine(url)
    sessions = make_session_factory(engine, clock=CLOCK)
    clock = CLOCK  # reminders are due, quiet hours pass
    with fake_process() as fake_url:
        transport = TwilioTransport(
            account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, base_url=fake_url, timeout=10.0
        )
        worker = OutboxWorker(
            sessions=sessions, transport=transport, clock=clock, threads=threads, batch_size=200
        )
        runner = ReminderRunner(
            sessions=sessions, clock=clock, defaults=ReminderDefaults(), on_queued=worker.wake
        )

        # As in the service: the worker sends while the tick is still queueing later batches.
        t0 = time.perf_counter()
        worker.start()
        result = runner.tick()
        t1 = time.perf_counter()
        last_waiting, last_progress = None, time.monotonic()
        while True:
            with sessions() as db:
                waiting = db.scalar(
                    select(func.count())
                    .select_from(OutboundSms)
                    .where(OutboundSms.status.in_([OutboundStatus.PENDING, OutboundStatus.SENDING]))
                )
            if not waiting:
                break
            if waiting != last_waiting:
                last_waiting, last_progress = waiting, time.monotonic()
            elif time.monotonic() - last_progress > STALL_SECONDS:
                worker.stop()
                raise SystemExit(f"stalled: {waiting} messages still waiting in the outbox")
            time.sleep(0.05)
        t2 = time.perf_counter()
        worker.stop()

        received = httpx.get(f"{fake_url}/_fake/messages", timeout=30).json()
        per_number = Counter(m["to"] for m in received)
        duplicates = sum(n - 1 for n in per_number.values() if n > 1)
        with sessions() as db:
            sent = db.scalar(
                select(func.count())
                .select_from(ScheduledReminder)
                .where(ScheduledReminder.status == ReminderStatus.SENT)
            )
            outbox = db.scalar(select(func.count()).select_from(OutboundSms))
            segments = db.scalar(select(func.sum(OutboundSms.segments)))
    engine.dispose()
    total = t2 - t0
    print(f"planned + queued:  {t1 - t0:6.1f} s  ({result.planned} planned, {result.sent} queued)")
    print(f"last one sent at:  {t2 - t0:6.1f} s  ({len(received)} messages received)")
    print(f"total:             {total:6.1f} s  -> {len(received) / total:,.0f} messages/s")
    print(f"reminders marked sent: {sent}, outbox rows: {outbox}, segments billed: {segments}")
    print(f"numbers reached: {len(per_number)} of {count}; duplicates: {duplicates}")
    met = total <= 30 * count / 10_000 and duplicates == 0 and len(per_number) == count
    print("goal (<= 30 s per 10,000, 0 duplicates, none lost):", "met" if met else "NOT met")


if __name__ == "__main__":
    main()
