"""Run the scripted conversations of `conversations.yml` against a running stack.

Each conversation gets a fresh made-up patient (and, when it says so, one booked
appointment), is driven over the web chat socket or signed Twilio SMS webhooks, and passes
when every turn's reply checks hold and the database ends in the expected state. Shared by
`make eval-conversations` (scripts/eval_conversations.py) and tests/e2e/test_conversations.py.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import yaml
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from websockets.sync.client import connect

import frontdesk.models  # noqa: F401 - every table, so cross-domain foreign keys resolve
from frontdesk.clock import system_clock
from frontdesk.db import make_engine, make_session_factory, session_scope
from frontdesk.demo.sms import DEMO_SMS_NUMBER
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Practice, Provider
from frontdesk.scheduling.models import Appointment, VisitType
from tests import factories
from tests.support.english import english_in
from tests.support.stack import ChatClient, Stack, buttons, texts
from tests.twilio_fake import inbound_params, sign

TIMEZONE = ZoneInfo("America/New_York")  # the demo practice's
SEED_PROVIDER = "Dr. Amara Patel"
# Made-up patients texting from a fictional 555-01xx range of their own (area code 202), so
# they never share a number with the demo's patients or another e2e test's (all +1 555 555 01xx):
# a shared number once inherited a scripted opt-out, and a browser test's code was never texted.
FIRST_PHONE = 12025550100
PHONES = 100  # 555-0100 to 555-0199
FIRST_NAMES = ["Avery", "Rowan", "Quinn", "Sage", "Emery", "Hollis", "Marlow", "Tatum"]
LAST_NAMES = ["Testwood", "Mockley", "Samplers", "Fauxton", "Dummett", "Pretendy"]

# What the conversation stack needs besides the usual test stack: signed SMS webhooks (a test
# double's token, no account: replies stay in the sandbox outbox), and reminders that go out
# within seconds and at any hour (the reminder-reply conversations run at 23:30 in CI too).
STACK_ENV = {
    "FRONTDESK_TWILIO_AUTH_TOKEN": "fake-twilio-auth-token-0123456789",
    "FRONTDESK_REMINDER_TICK_SECONDS": "2",
    "FRONTDESK_QUIET_HOURS_START": "00:00",
    "FRONTDESK_QUIET_HOURS_END": "23:59",
}


def load_conversations() -> list[dict[str, Any]]:
    """The scripted conversations, in file order."""
    text = resources.files(__package__).joinpath("conversations.yml").read_text("utf-8")
    conversations: list[dict[str, Any]] = yaml.safe_load(text)["conversations"]
    return conversations


@dataclass
class Seeded:
    """The patient (and appointment) a conversation starts with."""

    patient_id: int
    first_name: str
    last_name: str
    date_of_birth: date
    phone: str
    index: int = 0  # the conversation's place in the run
    appointment: tuple[int, datetime] | None = None  # id, start

    @property
    def full_name(self) -> str:
        """As typed in the identity form."""
        return f"{self.first_name} {self.last_name}"


@dataclass
class Outcome:
    """How one conversation went."""

    id: str
    channel: str
    passed: bool
    failures: list[str] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)


class ConversationRunner:
    """Seeds, drives and checks conversations on one running stack, one after another."""

    def __init__(self, stack: Stack) -> None:
        """Bind to `stack` (its SQLite database, its URLs)."""
        self.stack = stack
        self.db_file = stack.data_dir / "frontdesk.db"
        self.engine = make_engine(f"sqlite:///{self.db_file}")
        self.sessions = make_session_factory(self.engine, clock=system_clock)
        self.index = 0

    # --- seeding ------------------------------------------------------------------------

    def seed(self, conversation: dict[str, Any]) -> Seeded:
        """A fresh patient, and the appointment the conversation says it has."""
        n = self.index
        self.index += 1
        first = FIRST_NAMES[n % len(FIRST_NAMES)]
        last = LAST_NAMES[n // len(FIRST_NAMES) % len(LAST_NAMES)] + "ova" * (n // 48)
        dob = date(1970, 1, 1) + timedelta(days=401 * n + 17)
        assert n < PHONES, "more conversations than fictional numbers: widen the range"
        phone = f"+{FIRST_PHONE + n}"
        with session_scope(self.sessions) as db:
            practice = db.scalars(select(Practice).where(Practice.slug == "riverside")).one()
            patient = factories.patient(
                db,
                practice=practice,
                first_name=first,
                last_name=last,
                date_of_birth=dob,
                phone=phone,
            )
            # A patient known to speak Spanish (reminders go out in Spanish; `language`).
            patient.preferred_language = conversation.get("language")
            seeded = Seeded(patient.id, first, last, dob, phone, index=n)
            visit = conversation.get("has")
            if visit:
                provider = db.scalars(
                    select(Provider).where(
                        Provider.practice_id == practice.id,
                        Provider.display_name == SEED_PROVIDER,
                    )
                ).one()
                visit_type = db.scalars(
                    select(VisitType).where(
                        VisitType.practice_id == practice.id, VisitType.name == visit
                    )
                ).one()
                now = datetime.now(UTC)
                fields: dict[str, Any] = {}
                if "days_ahead" in conversation:
                    # A reminder fell due a little while ago: start one offset (days) ahead
                    # less a little, booked long ago (one for a visit booked within the hour
                    # is never planned).
                    starts = [
                        _round_up(now + timedelta(days=conversation["days_ahead"]))
                        - timedelta(minutes=20 + 25 * k)
                        for k in range(10)
                    ]
                    fields["created_at"] = now - timedelta(days=20)
                else:
                    starts = [_seed_start(n + k) for k in range(60)]
                row, start = _free_appointment(db, starts, patient, provider, visit_type, fields)
                seeded.appointment = (row.id, start)
        return seeded

    # --- driving ------------------------------------------------------------------------

    def run(self, conversation: dict[str, Any]) -> Outcome:
        """Seed, drive and check one conversation."""
        seeded = self.seed(conversation)
        outcome = Outcome(conversation["id"], conversation["channel"], passed=False)
        driver: _Driver = _Driver()
        try:
            if conversation["channel"] == "webchat":
                driver = _WebChat(self.stack, seeded)
            else:
                driver = _Sms(self.stack, seeded, self.db_file)
            for number, turn in enumerate(conversation["turns"], start=1):
                reply = driver.step(turn)
                label = turn.get("say") or turn.get("click") or next(iter(turn))
                outcome.transcript.append(f"  [{number}] > {label}\n      < {_short(reply)}")
                outcome.failures += _reply_failures(number, turn, reply)
                if conversation.get("language") == "es":
                    outcome.failures += [
                        f"turn {number}: English reply {start!r}" for start in english_in(reply)
                    ]
        except Exception as error:  # a stalled or broken conversation is a failure, not a crash
            outcome.failures.append(f"driving stopped: {type(error).__name__}: {error}")
        finally:
            driver.close()
        outcome.failures += self.end_state_failures(conversation["end"], seeded, driver)
        outcome.passed = not outcome.failures
        return outcome

    # --- checking -----------------------------------------------------------------------

    def end_state_failures(self, end: dict[str, Any], seeded: Seeded, driver: _Driver) -> list[str]:
        """What differs from the expected end state in the database."""
        failures: list[str] = []
        with sqlite3.connect(self.db_file) as db:
            rows = db.execute(
                "SELECT id, start_at, status FROM appointments WHERE patient_id = ? ORDER BY id",
                (seeded.patient_id,),
            ).fetchall()
            waitlisted = db.execute(
                "SELECT count(*) FROM waitlist_entries WHERE patient_id = ?", (seeded.patient_id,)
            ).fetchone()[0]
            conversation = driver.conversation_row(db)
        actual = _appointment_state(rows, seeded)
        expected = end.get("appointment", "untouched" if seeded.appointment else "none")
        if actual != expected:
            failures.append(f"appointment {actual}, expected {expected} ({rows})")
        escalated = conversation is not None and conversation[1] is not None
        if escalated != bool(end.get("escalated", False)):
            failures.append(f"escalated={escalated} (reason {conversation and conversation[1]})")
        elif "reason" in end and conversation is not None and conversation[1] != end["reason"]:
            failures.append(f"escalation reason {conversation[1]}, expected {end['reason']}")
        if end.get("waitlist") and not waitlisted:
            failures.append("no waitlist entry")
        if "opted_out" in end:
            with sqlite3.connect(self.db_file) as db:
                row = db.execute(
                    "SELECT opted_out FROM sms_consents WHERE phone = ?", (seeded.phone,)
                ).fetchone()
            opted_out = bool(row and row[0])
            if opted_out != end["opted_out"]:
                failures.append(f"opted_out={opted_out}, expected {end['opted_out']}")
        return failures


class _Driver:
    """One channel's way of taking a scripted turn."""

    def step(self, turn: dict[str, Any]) -> str:
        raise NotImplementedError

    def conversation_row(self, db: sqlite3.Connection) -> tuple[str, str | None] | None:
        return None  # no channel was opened

    def close(self) -> None:
        """Release the channel."""


class _WebChat(_Driver):
    def __init__(self, stack: Stack, seeded: Seeded) -> None:
        self.stack = stack
        self.seeded = seeded
        # Each conversation from its own address (a documentation range, passed on the way a
        # proxy on this machine would): the identity checks' per-address hourly cap would
        # otherwise lock the whole run out after ten identifications.
        headers = {"X-Forwarded-For": f"198.51.100.{seeded.index % 250 + 1}"}
        url = f"{stack.ws_url}?practice=riverside"
        socket = connect(url, open_timeout=10, additional_headers=headers)
        self.chat: ChatClient = ChatClient(socket)
        self.last: list[dict[str, Any]] = []

    def step(self, turn: dict[str, Any]) -> str:
        if "say" in turn:
            self.last = self.chat.turn(_fill(turn["say"], self.seeded))
        elif "click" in turn:
            button = _pick(self.last, turn["click"])
            self.last = self.chat.turn(button["title"], button["payload"])
        elif turn.get("identify"):
            if not any(f["type"] == "identity_request" for f in self.last):
                raise AssertionError(f"no identity form was asked for: {texts(self.last)!r}")
            self.chat.send(
                {
                    "type": "identity",
                    "full_name": self.seeded.full_name,
                    "date_of_birth": self.seeded.date_of_birth.isoformat(),
                }
            )
            self.chat.receive_until("otp_request")  # an existing record: its texted code
            self.chat.send({"type": "otp", "code": self.stack.latest_code(self.seeded.phone)})
            self.last = self.chat.collect_turn()
        else:
            raise ValueError(f"unknown web chat turn {turn}")
        return texts(self.last) + _button_line(self.last)

    def conversation_row(self, db: sqlite3.Connection) -> tuple[str, str | None] | None:
        row = db.execute(
            "SELECT status, escalation_reason FROM conversations WHERE public_id = ?",
            (self.chat.session["conversation_id"],),
        ).fetchone()
        return None if row is None else (str(row[0]), row[1])

    def close(self) -> None:
        self.chat.close()


class _Sms(_Driver):
    def __init__(self, stack: Stack, seeded: Seeded, db_file: Path) -> None:
        self.stack = stack
        self.seeded = seeded
        self.db_file = db_file
        self.url = f"{stack.base_url}/webhooks/twilio/sms"
        self.seen = self._last_outbound_id()
        self.sids: list[str] = []
        self.last = ""

    def step(self, turn: dict[str, Any]) -> str:
        if turn.get("reminder"):
            return self._wait_for_reminder()
        if turn.get("code"):
            if not any(word in self.last.lower() for word in ("code", "codigo", "código")):
                return self.last  # verified without one: nothing was asked
            text = self.stack.latest_code(self.seeded.phone)
        elif "say" in turn:
            text = _fill(turn["say"], self.seeded)
        else:
            raise ValueError(f"unknown SMS turn {turn}")
        sid = "SM" + secrets.token_hex(16)
        params = inbound_params(
            body=text,
            from_=self.seeded.phone,
            to=DEMO_SMS_NUMBER,
            sid=sid,
        )
        response = httpx.post(
            self.url, data=params, headers={"X-Twilio-Signature": sign(self.url, params)}
        )
        response.raise_for_status()
        self.sids.append(sid)
        self._settle(sid)
        self.last = self._new_texts()
        return self.last

    def _settle(self, sid: str, timeout: float = 60.0) -> None:
        """Until the turn this text queued has been answered (or was never a bot turn)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with sqlite3.connect(self.db_file) as db:
                row = db.execute(
                    "SELECT i.processed_at, m.conversation_id, "
                    "(SELECT count(*) FROM patient_turns t WHERE t.message_id = m.id "
                    " AND t.state IN ('queued', 'sending')) "
                    "FROM inbound_sms i LEFT JOIN messages m ON m.id = i.message_id "
                    "WHERE i.message_sid = ?",
                    (sid,),
                ).fetchone()
            if row is not None and row[0] is not None and not row[2]:
                time.sleep(0.3)  # replies are stored as the callback delivers them
                return
            time.sleep(0.1)
        raise TimeoutError(f"the text {sid} was not answered within {timeout:.0f} s")

    def _wait_for_reminder(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with sqlite3.connect(self.db_file) as db:
                row = db.execute(
                    "SELECT count(*) FROM outbound_sms WHERE to_phone = ? AND kind = 'reminder' "
                    "AND id > ?",
                    (self.seeded.phone, self.seen),
                ).fetchone()
            if row[0]:
                time.sleep(1.0)  # the bot's trigger_intent follows the outbox row
                self.last = self._new_texts()
                return self.last
            time.sleep(0.2)
        raise TimeoutError(f"no reminder was texted within {timeout:.0f} s")

    def _last_outbound_id(self) -> int:
        with sqlite3.connect(self.db_file) as db:
            row = db.execute("SELECT coalesce(max(id), 0) FROM outbound_sms").fetchone()
        return int(row[0])

    def _new_texts(self) -> str:
        with sqlite3.connect(self.db_file) as db:
            rows = db.execute(
                "SELECT id, body FROM outbound_sms WHERE to_phone = ? AND id > ? ORDER BY id",
                (self.seeded.phone, self.seen),
            ).fetchall()
        if rows:
            self.seen = rows[-1][0]
        return "\n".join(str(body) for _, body in rows)

    def conversation_row(self, db: sqlite3.Connection) -> tuple[str, str | None] | None:
        if not self.sids:
            return None
        row = db.execute(
            "SELECT c.status, c.escalation_reason FROM inbound_sms i "
            "JOIN messages m ON m.id = i.message_id "
            "JOIN conversations c ON c.id = m.conversation_id WHERE i.message_sid = ?",
            (self.sids[-1],),
        ).fetchone()
        return None if row is None else (str(row[0]), row[1])


# --- helpers ----------------------------------------------------------------------------


def _free_appointment(
    db: Session,
    starts: list[datetime],
    patient: Patient,
    provider: Provider,
    visit_type: VisitType,
    fields: dict[str, Any],
) -> tuple[Appointment, datetime]:
    """A booked appointment at the first of `starts` still free (the database refuses overlaps:
    a time some earlier conversation took is skipped)."""
    for start in starts:
        try:
            with db.begin_nested():
                row = factories.appointment(
                    db,
                    patient=patient,
                    provider=provider,
                    visit_type=visit_type,
                    start=start,
                    **fields,
                )
        except IntegrityError:
            continue
        return row, start
    raise RuntimeError("no free time to seed an appointment")


def _seed_start(n: int) -> datetime:
    """A weekday about three weeks ahead, a distinct hour per conversation.

    Three weeks: the conversations book and move into "next week", never there.
    """
    day = datetime.now(TIMEZONE).date() + timedelta(days=21 + n // 6)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    hour = [9, 10, 11, 13, 14, 15][n % 6]
    return datetime(day.year, day.month, day.day, hour, tzinfo=TIMEZONE).astimezone(UTC)


def _round_up(moment: datetime) -> datetime:
    """To the next whole five minutes (appointment blocks are five minutes long)."""
    moment = moment.replace(second=0, microsecond=0)
    return moment + timedelta(minutes=(5 - moment.minute % 5) % 5)


def _fill(text: str, seeded: Seeded) -> str:
    return text.replace("{dob}", seeded.date_of_birth.strftime("%m/%d/%Y")).replace(
        "{name}", seeded.full_name
    )


def _pick(frames: list[dict[str, Any]], wanted: str) -> dict[str, str]:
    offered = buttons(frames)
    if wanted == "first offer":
        offered = [b for b in offered if b["title"] != "None of these"]
        wanted = ""
    elif wanted == "first button":
        wanted = ""
    for button in offered:
        if button["title"].lower().startswith(wanted.lower()):
            return button
    raise AssertionError(f"no button {wanted!r} among {[b['title'] for b in offered]}")


def _button_line(frames: list[dict[str, Any]]) -> str:
    titles = [b["title"] for b in buttons(frames)]
    return ("\n[buttons: " + " | ".join(titles) + "]") if titles else ""


def _short(text: str, limit: int = 160) -> str:
    flat = " / ".join(line for line in text.splitlines() if line.strip())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _folded(text: str) -> str:
    """Lower-case, accents dropped: SMS drops á í ó ú by design (docs/decisions.md), so a
    script's "Qué día" must match a text's "Qué dia"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _reply_failures(number: int, turn: dict[str, Any], reply: str) -> list[str]:
    failures: list[str] = []
    folded = _folded(reply)
    for wanted in turn.get("expect", []):
        options = wanted if isinstance(wanted, list) else [wanted]
        if not any(_folded(option) in folded for option in options):
            failures.append(f"turn {number}: expected {' or '.join(map(repr, options))}")
    for unwanted in turn.get("reject", []):
        if _folded(unwanted) in folded:
            failures.append(f"turn {number}: unexpected {unwanted!r}")
    return failures


def _appointment_state(rows: list[tuple[int, str, str]], seeded: Seeded) -> str:
    """none | booked | moved | cancelled | confirmed | untouched | other, from the rows."""
    if seeded.appointment is None:
        if not rows:
            return "none"
        active = [r for r in rows if r[2] in ("booked", "confirmed")]
        return "booked" if len(rows) == 1 and len(active) == 1 else f"other({len(rows)} rows)"
    original_id, original_start = seeded.appointment
    original = next(r for r in rows if r[0] == original_id)
    others = [r for r in rows if r[0] != original_id and r[2] in ("booked", "confirmed")]
    start = datetime.fromisoformat(original[1]).replace(tzinfo=UTC)
    if original[2] in ("booked", "confirmed") and not others:
        if start != original_start:
            return "moved"
        return "confirmed" if original[2] == "confirmed" else "untouched"
    if original[2] == "cancelled" and not others:
        return "cancelled"
    if original[2] == "cancelled" and len(others) == 1:
        return "moved"  # rebooked as a new row, the old one released
    return f"other({[r[2] for r in rows]})"


def summary(outcomes: list[Outcome]) -> str:
    """The task-success rate line."""
    passed = sum(o.passed for o in outcomes)
    rate = passed / len(outcomes) if outcomes else 0.0
    return f"task success: {passed}/{len(outcomes)} = {rate:.1%}"
