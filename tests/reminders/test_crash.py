"""Kill the outreach process (scheduler + outbox worker) with SIGKILL mid-run, start it again,
and show that every reminder reached the Twilio fake exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import cast

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from frontdesk.clock import system_clock
from frontdesk.db import make_session_factory, session_scope
from frontdesk.reminders.models import ReminderSettings, ReminderStatus, ScheduledReminder
from frontdesk.sms.models import OutboundSms, OutboundStatus
from tests import factories
from tests.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, TwilioFake, running_fake

REMINDERS = 200
ROOT = Path(__file__).resolve().parents[2]


def seed(engine: Engine) -> list[str]:
    """Patients with one visit each, whose two-hour reminder is due now."""
    phones = [f"+1555556{n:04d}" for n in range(REMINDERS)]
    now = system_clock()
    with session_scope(make_session_factory(engine, clock=system_clock)) as db:
        practice = factories.practice(db)
        factories.sms_number(db, practice=practice)
        db.add(ReminderSettings(practice_id=practice.id, quiet_start="00:00", quiet_end="23:59"))
        visit = factories.visit_type(db, practice=practice)
        for n, phone in enumerate(phones):
            start = now + timedelta(hours=2) - timedelta(minutes=5) + timedelta(seconds=n)
            factories.appointment(
                db,
                patient=factories.patient(
                    db,
                    practice=practice,
                    first_name="Crash",
                    last_name=f"Test{n}",
                    date_of_birth=date(1980, 1, 1),
                    phone=phone,
                ),
                # The visits overlap (one a second): each needs a provider of its own.
                provider=factories.provider(db, practice=practice),
                visit_type=visit,
                start=start,
                end=start + timedelta(minutes=15),
                created_at=now - timedelta(days=10),
            )
    return phones


def start(tmp_path: Path, database_url: str, fake: TwilioFake) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "FRONTDESK_ENV": "test",
        "FRONTDESK_DATA_DIR": str(tmp_path),
        "FRONTDESK_DATABASE_URL": database_url,
        "FRONTDESK_SECRET_KEY": "crash-test-secret-key",
        "FRONTDESK_INTERNAL_TOKEN": "crash-test-internal-token",
        "FRONTDESK_RASA_TOKEN": "crash-test-rasa-token",
        "FRONTDESK_RASA_URL": "http://127.0.0.1:9",  # nobody: trigger_intent fails at once
        "FRONTDESK_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "FRONTDESK_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "FRONTDESK_TWILIO_API_BASE_URL": fake.url,
        "FRONTDESK_REMINDER_TICK_SECONDS": "1",
        "FRONTDESK_SMS_CLAIM_LEASE_SECONDS": "2",
        "FRONTDESK_SMS_WORKER_THREADS": "4",
        "FRONTDESK_LOG_LEVEL": "WARNING",
        # A shifted test clock (scripts/test-shifted-clock.sh) shifts this process too.
        **{k: v for k, v in os.environ.items() if k == "LD_PRELOAD" or k.startswith("FAKETIME")},
    }
    with (tmp_path / "outreach.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "frontdesk.reminders.cli", "run"],
            cwd=tmp_path,  # no .env from the checkout
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def wait_for(
    condition: Callable[[], bool], process: subprocess.Popen[bytes], timeout: float
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_killing_the_outreach_process_mid_run_loses_and_doubles_nothing(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    phones = seed(sqlite_engine)
    database_url = sqlite_engine.url.render_as_string(hide_password=False)
    with running_fake(TwilioFake(latency=0.03)) as fake:
        first = start(tmp_path, database_url, fake)
        try:
            assert wait_for(lambda: len(fake.messages) >= REMINDERS // 4, first, 60), (
                tmp_path / "outreach.log"
            ).read_text()
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        at_kill = len(fake.messages)
        assert at_kill < REMINDERS, "the run finished before it could be interrupted"
        second = start(tmp_path, database_url, fake)
        try:
            assert wait_for(lambda: len(fake.messages) >= REMINDERS, second, 90), (
                tmp_path / "outreach.log"
            ).read_text()
            time.sleep(3)  # longer than the claim lease: anything left would be resent now
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(15)
        received = [m["to"] for m in fake.messages]
    assert sorted(received) == sorted(phones)  # each number exactly once: none lost or doubled
    with Session(sqlite_engine) as db:
        sent = db.scalar(
            select(func.count())
            .select_from(ScheduledReminder)
            .where(ScheduledReminder.status == ReminderStatus.SENT)
        )
        statuses = set(db.scalars(select(OutboundSms.status)))
        # Sorted below: a row without a sid would make that fail, as it should.
        sids = cast(list[str], db.scalars(select(OutboundSms.twilio_sid)).all())
    assert sent == REMINDERS
    assert statuses == {OutboundStatus.QUEUED}
    assert sorted(sids) == sorted(m["sid"] for m in fake.messages)
