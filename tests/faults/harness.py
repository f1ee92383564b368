"""What the fault suite shares: seeding due reminders, running `frontdesk outreach run` as its
own process (so it can be killed with SIGKILL), and counting what reached the Twilio fake.

Every scenario ends with one line of counts — acknowledged / sent once / sent twice / lost /
sent after hours — and fails on anything but "all sent once, none twice, none lost, none
after hours".
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from frontdesk.clock import Clock
from frontdesk.db import make_session_factory, session_scope
from frontdesk.reminders.models import ReminderSettings
from tests import factories
from tests.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, TwilioFake

ROOT = Path(__file__).resolve().parents[2]
ZONE = ZoneInfo("America/New_York")  # the factories' practice zone


@dataclass(frozen=True)
class Window:
    """The practice's outreach window, patient-local ("08:00" to "21:00" by default)."""

    start: clock_time
    end: clock_time

    def contains(self, moment: datetime) -> bool:
        """Whether a text leaving at `moment` (aware) respects quiet hours."""
        return self.start <= moment.astimezone(ZONE).time() < self.end


ALL_DAY = Window(clock_time(0, 0), clock_time(23, 59))


def seed_due_reminders(engine: Engine, *, count: int, clock: Clock, window: Window) -> list[str]:
    """`count` made-up patients, each with one visit whose two-hour reminder is due five
    minutes before `clock`'s now; the practice's window is `window`."""
    phones = [f"+1555557{n:04d}" for n in range(count)]
    now = clock()
    with session_scope(make_session_factory(engine, clock=clock)) as db:
        practice = factories.practice(db)
        factories.sms_number(db, practice=practice)
        db.add(
            ReminderSettings(
                practice_id=practice.id,
                quiet_start=window.start.strftime("%H:%M"),
                quiet_end=window.end.strftime("%H:%M"),
            )
        )
        visit = factories.visit_type(db, practice=practice)
        for n, phone in enumerate(phones):
            start = now + timedelta(hours=2) - timedelta(minutes=5) + timedelta(seconds=n)
            factories.appointment(
                db,
                patient=factories.patient(
                    db,
                    practice=practice,
                    first_name="Fault",
                    last_name=f"Suite{n}",
                    date_of_birth=date(1980, 1, 1),
                    phone=phone,
                ),
                provider=factories.provider(db, practice=practice),  # the visits overlap
                visit_type=visit,
                start=start,
                end=start + timedelta(minutes=15),
                created_at=now - timedelta(days=10),
            )
    return phones


def start_outreach(
    tmp_path: Path, engine: Engine, fake: TwilioFake, *, clock_offset: float = 0.0
) -> subprocess.Popen[bytes]:
    """`frontdesk outreach run` against the test database and the fake, its log in
    tmp_path/outreach.log. Short leases and retry delays keep each scenario to seconds."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "FRONTDESK_ENV": "test",
        "FRONTDESK_DATA_DIR": str(tmp_path),
        "FRONTDESK_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "FRONTDESK_SECRET_KEY": "fault-suite-secret-key",
        "FRONTDESK_INTERNAL_TOKEN": "fault-suite-internal-token",
        "FRONTDESK_RASA_TOKEN": "fault-suite-rasa-token",
        "FRONTDESK_RASA_URL": "http://127.0.0.1:9",  # nobody: trigger_intent fails at once
        "FRONTDESK_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "FRONTDESK_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "FRONTDESK_TWILIO_API_BASE_URL": fake.url,
        "FRONTDESK_REMINDER_TICK_SECONDS": "1",
        "FRONTDESK_SMS_CLAIM_LEASE_SECONDS": "2",
        "FRONTDESK_SMS_WORKER_THREADS": "4",
        # Every third call fails: enough attempts that no text runs out of them by chance.
        "FRONTDESK_SMS_MAX_ATTEMPTS": "30",
        "FRONTDESK_SMS_RETRY_BASE_SECONDS": "0.1",
        "FRONTDESK_TEST_CLOCK_OFFSET_SECONDS": str(clock_offset),
        "FRONTDESK_LOG_LEVEL": "WARNING",
    }
    with (tmp_path / "outreach.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "frontdesk", "outreach", "run"],
            cwd=tmp_path,  # no .env from the checkout
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def wait_for(
    condition: Callable[[], bool], process: subprocess.Popen[bytes], timeout: float
) -> bool:
    """Poll `condition` until it holds, the process exits, or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@dataclass(frozen=True)
class Tally:
    """What happened to the texts a scenario asked for."""

    acknowledged: int
    once: int
    twice: int
    lost: int
    after_hours: int

    def line(self, scenario: str) -> str:
        """The counts, as the suite prints them."""
        return (
            f"{scenario}: acknowledged {self.acknowledged} / sent once {self.once} / "
            f"sent twice {self.twice} / lost {self.lost} / sent after hours {self.after_hours}"
        )

    @property
    def all_once(self) -> bool:
        """The only acceptable outcome."""
        return (self.once, self.twice, self.lost, self.after_hours) == (
            self.acknowledged,
            0,
            0,
            0,
        )


def tally(
    expected: Iterable[str],
    received: Iterable[tuple[str, datetime]],
    *,
    window: Window = ALL_DAY,
) -> Tally:
    """Count each expected number's texts; `received` holds (to, when it left by the
    sender's clock)."""
    wanted = list(expected)
    arrivals = list(received)
    counts = Counter(to for to, _ in arrivals)
    return Tally(
        acknowledged=len(wanted),
        once=sum(1 for to in wanted if counts[to] == 1),
        twice=sum(1 for to in wanted if counts[to] > 1),
        lost=sum(1 for to in wanted if counts[to] == 0),
        after_hours=sum(1 for _, at in arrivals if not window.contains(at)),
    )
