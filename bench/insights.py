"""Insights page render time with a year of a busy practice's data.

Seeds a migrated SQLite file (or a PostgreSQL database given with --postgres-url, which
must be empty) with bulk inserts: --conversations conversations spread over the year before
the clock (about 18% escalated, most answered by staff), the bot's bookings, reschedules,
cancellations and confirmations and knowledge answers as insight events, visits (some
no-shows, confirmed or cancelled after a reminder), sent reminders, waitlist offers and
opt-outs. Then it signs in a manager through the real app and times the pages a manager
opens: per day (30 days), per week (12), per month (the whole year), one channel, the
monthly summary and a CSV export. Every page is a full request: session check, audit
write, queries and template.

Usage: .venv/bin/python bench/insights.py [--conversations 150000] [--runs 5]
       [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_insights]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from frontdesk.auth.models import StaffRole
from frontdesk.conversations.models import Channel, Conversation, EscalationReason
from frontdesk.db import make_engine
from frontdesk.insights.models import InsightEvent, InsightKind
from frontdesk.migrate import upgrade
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Provider
from frontdesk.reminders.models import ReminderKind, ReminderStatus, ScheduledReminder
from frontdesk.scheduling.models import (
    Appointment,
    AppointmentStatus,
    OfferStatus,
    VisitType,
    WaitlistEntry,
    WaitlistOffer,
)
from frontdesk.sms.models import SmsConsent
from tests.auth.support import Console, make_console

BATCH = 10_000
REASONS = list(EscalationReason)
PAGES = [
    ("per day, last 30 days", "/console/insights"),
    ("per week, last 12 weeks", "/console/insights?period=week"),
    ("per month, the whole year", "/console/insights?period=month"),
    ("per month, SMS only", "/console/insights?period=month&channel=sms"),
    ("monthly summary", "/console/insights/summary"),
    (
        "CSV export, conversations per month",
        "/console/insights/export/conversations.csv?period=month",
    ),
]


def batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == BATCH:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def bulk(session: Session, model: Any, rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    for chunk in batches(rows):
        session.execute(insert(model), chunk)
        count += len(chunk)
    return count


def seed_year(console: Console, conversations: int, rng: random.Random) -> dict[str, int]:
    now = console.clock()
    year = timedelta(days=365)

    def moment() -> Any:
        return now - year * rng.random()

    counts: dict[str, int] = {}
    with console.db() as session:
        practice_id = console.practice_id
        provider = session.scalars(
            select(Provider).where(Provider.practice_id == practice_id)
        ).first()
        visit = session.scalars(
            select(VisitType).where(VisitType.practice_id == practice_id)
        ).first()
        patient = session.scalars(select(Patient).where(Patient.practice_id == practice_id)).first()
        assert provider and visit and patient

        def conversation_rows() -> Iterator[dict[str, Any]]:
            for n in range(conversations):
                created = moment()
                row: dict[str, Any] = {
                    "practice_id": practice_id,
                    "public_id": f"bench{n:09d}",
                    "channel": Channel.SMS if rng.random() < 0.55 else Channel.WEBCHAT,
                    "created_at": created,
                    "last_activity_at": created,
                }
                if rng.random() < 0.18:
                    row["escalated_at"] = created + timedelta(minutes=rng.uniform(0, 5))
                    row["escalation_reason"] = rng.choice(REASONS)
                    if rng.random() < 0.9:
                        row["first_reply_at"] = row["escalated_at"] + timedelta(
                            minutes=rng.expovariate(1 / 12)
                        )
                yield row

        counts["conversations"] = bulk(session, Conversation, conversation_rows())
        kinds = [
            (InsightKind.BOT_BOOKED, 0.20),
            (InsightKind.BOT_RESCHEDULED, 0.06),
            (InsightKind.BOT_CANCELLED, 0.05),
            (InsightKind.BOT_CONFIRMED, 0.25),
            (InsightKind.KB_ANSWERED, 0.15),
            (InsightKind.KB_ABSTAINED, 0.04),
        ]

        def event_rows() -> Iterator[dict[str, Any]]:
            for kind, share in kinds:
                for _ in range(int(conversations * share)):
                    yield {
                        "practice_id": practice_id,
                        "kind": kind,
                        "channel": rng.choice(["sms", "webchat"]),
                        "at": moment(),
                    }

        counts["insight events"] = bulk(session, InsightEvent, event_rows())
        visits = conversations // 3

        def appointment_rows() -> Iterator[dict[str, Any]]:
            for n in range(visits):
                start = moment()
                row: dict[str, Any] = {
                    "practice_id": practice_id,
                    "provider_id": provider.id,
                    "location_id": provider.location_id,
                    "patient_id": patient.id,
                    "visit_type_id": visit.id,
                    "start_at": start,
                    "end_at": start + timedelta(minutes=20),
                    "status": AppointmentStatus.FULFILLED,
                    "source": "ehr",
                    "external_id": f"bench-{n}",
                    "created_at": start - timedelta(days=10),
                }
                luck = rng.random()
                if luck < 0.06:
                    row["status"] = AppointmentStatus.NOSHOW
                elif luck < 0.16:
                    row["status"] = AppointmentStatus.CANCELLED
                    row["cancelled_at"] = start - timedelta(days=1)
                    row["cancelled_by"] = "patient"
                elif luck < 0.60:
                    row["confirmed_at"] = start - timedelta(days=1)
                yield row

        counts["visits"] = bulk(session, Appointment, appointment_rows())
        first_visit = session.scalar(select(Appointment.id).order_by(Appointment.id)) or 0

        def reminder_rows() -> Iterator[dict[str, Any]]:
            for n in range(visits):
                appointment_id = first_visit + n
                start = now - year * (n / visits)
                for offset in (7 * 24 * 60, 2 * 24 * 60):
                    sent = start - timedelta(minutes=offset)
                    yield {
                        "practice_id": practice_id,
                        "appointment_id": appointment_id,
                        "patient_id": patient.id,
                        "kind": ReminderKind.REMINDER,
                        "offset_minutes": offset,
                        "appointment_start": start,
                        "due_at": sent,
                        "status": ReminderStatus.SENT,
                        "sent_at": sent,
                        "created_at": sent - timedelta(days=3),
                    }

        counts["reminders"] = bulk(session, ScheduledReminder, reminder_rows())
        entry = WaitlistEntry(
            practice_id=practice_id,
            patient_id=patient.id,
            visit_type_id=visit.id,
            first_day=(now - year).date(),
            last_day=now.date(),
        )
        session.add(entry)
        session.flush()

        def offer_rows() -> Iterator[dict[str, Any]]:
            for n in range(conversations // 30):
                offered = moment()
                accepted = rng.random() < 0.4
                yield {
                    "practice_id": practice_id,
                    "entry_id": entry.id,
                    "provider_id": provider.id,
                    "start_at": offered + timedelta(days=2),
                    "end_at": offered + timedelta(days=2, minutes=20),
                    "token": f"bench-offer-{n}",
                    "status": OfferStatus.ACCEPTED if accepted else OfferStatus.EXPIRED,
                    "created_at": offered,
                    "expires_at": offered + timedelta(hours=2),
                    "appointment_id": first_visit + n if accepted else None,
                }

        counts["waitlist offers"] = bulk(session, WaitlistOffer, offer_rows())
        counts["opt-outs"] = bulk(
            session,
            SmsConsent,
            (
                {
                    "practice_id": practice_id,
                    "phone": f"+1555{n:07d}",
                    "opted_out": True,
                    "changed_at": moment(),
                }
                for n in range(conversations // 100)
            ),
        )
    return counts


def timed(call: Callable[[], Any]) -> tuple[float, float]:
    """Wall time and this process's CPU time of one request, in ms.

    The app, its thread pool and SQLite all run in this process, so the CPU time is the work
    one request costs; on a shared machine the wall time also holds the wait for a core.
    """
    started, cpu = time.perf_counter(), time.process_time()
    response = call()
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.status_code
    return elapsed, (time.process_time() - cpu) * 1000


def run(engine: Engine, folder: Path, args: argparse.Namespace) -> None:
    upgrade(engine)
    harness = make_console(engine, folder)
    console = next(harness)
    try:
        started = time.perf_counter()
        counts = seed_year(console, args.conversations, random.Random(17))
        seeded = time.perf_counter() - started
        print(f"seeded in {seeded:.1f} s: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
        console.add_staff("manager@riverside.example", StaffRole.MANAGER, name="Bench Manager")
        assert console.sign_in("manager@riverside.example").status_code == 303
        worst = 0.0
        for label, path in PAGES:
            console.client.get(path)  # warm the template and the database cache
            runs = [timed(lambda p=path: console.client.get(p)) for _ in range(args.runs)]
            wall = sorted(w for w, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            worst = max(worst, statistics.median(wall))
            print(
                f"{label:<40} p50={statistics.median(wall):7.1f} ms  max={wall[-1]:7.1f} ms  "
                f"cpu p50={cpu:7.1f} ms  (n={args.runs})"
            )
        verdict = "meets" if worst < 500 else "MISSES"
        load = os.getloadavg()[0]
        print(
            f"slowest page p50 {worst:.1f} ms: {verdict} the 500 ms goal (load average {load:.1f})"
        )
    finally:
        harness.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=150_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.postgres_url or f"sqlite:///{folder}/frontdesk.db"
        engine = make_engine(url)
        print(f"backend: {engine.dialect.name}")
        try:
            run(engine, Path(folder), args)
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
