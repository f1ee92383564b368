"""Outreach is checked again when it leaves the outbox: quiet hours, expiry and the TCPA caps.

A reminder or waitlist offer can wait in the outbox (Twilio down, a backlog) until quiet hours
begin, and two senders can reach one patient at once; the outbox worker, through the real
Twilio client and the local Twilio fake, decides again at the moment of sending.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from frontdesk.conversations.models import Conversation, Role
from frontdesk.conversations.service import record_outgoing_message
from frontdesk.db import make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.sms.models import OutboundSms, OutboundStatus
from frontdesk.sms.outbox import BulkSms, queue_many
from frontdesk.sms.threads import threads_for
from frontdesk.sms.transport import TwilioTransport
from frontdesk.sms.worker import OutboxWorker
from tests.conftest import empty_database
from tests.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, TwilioFake, running_fake

PATIENT = "+15555550101"
# 20:58 in New York (the demo practice's zone), two minutes before the default 21:00 close.
EVENING = datetime(2026, 11, 28, 1, 58, tzinfo=UTC)
NEXT_OPENING = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)  # 08:00 in New York
_keys = count()


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="module")
def fake() -> Iterator[TwilioFake]:
    with running_fake() as served:
        yield served


@pytest.fixture
def clock() -> Clock:
    return Clock(EVENING)


@pytest.fixture
def sessions(sqlite_engine: Engine, fake: TwilioFake, clock: Clock) -> sessionmaker[Session]:
    """Sessions that stamp rows by the test's clock (a message is due when it is queued)."""
    fake.messages.clear()
    factory = make_session_factory(sqlite_engine, clock=clock)
    with session_scope(factory) as db:
        seed_demo(db)
    return factory


def worker(sessions: sessionmaker[Session], fake: TwilioFake, clock: Clock) -> OutboxWorker:
    transport = TwilioTransport(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, base_url=fake.url, timeout=5.0
    )
    return OutboxWorker(
        sessions=sessions, transport=transport, clock=clock, threads=4, batch_size=7
    )


def queue_outreach(
    sessions: sessionmaker[Session],
    to: str,
    *,
    kind: str = "reminder",
    not_after: datetime | None = None,
) -> int:
    with session_scope(sessions) as db:
        practice_id = seed_demo(db).id
        key = f"test:{next(_keys)}"
        ids = queue_many(
            session=db,
            practice_id=practice_id,
            messages=[
                BulkSms(
                    to=to,
                    body="Reminder: visit soon",
                    kind=kind,
                    dedupe_key=key,
                    not_after=not_after,
                )
            ],
        )
        return ids[key]


def row(sessions: sessionmaker[Session], outbound_id: int) -> OutboundSms:
    with sessions() as db:
        return db.get_one(OutboundSms, outbound_id)


def test_a_reminder_retried_into_quiet_hours_waits_for_the_morning(
    sessions: sessionmaker[Session], fake: TwilioFake, clock: Clock
) -> None:
    reminder = queue_outreach(sessions, PATIENT, not_after=EVENING + timedelta(days=1))
    reply = queue_outreach(sessions, "+15555550102", kind="bot")  # a bot answer: not outreach
    sender = worker(sessions, fake, clock)
    fake.fail_next(2, status=503)  # Twilio is down at 20:58...
    sender.run_once()
    clock.advance(minutes=3)  # ...and back at 21:01, after the window closed
    sender.run_once()
    assert fake.bodies_to(PATIENT) == []
    assert fake.bodies_to("+15555550102") == ["Reminder: visit soon"]
    held = row(sessions, reminder)
    assert (held.status, held.next_attempt_at) == (OutboundStatus.PENDING, NEXT_OPENING)
    assert held.attempts == 1  # holding back is not an attempt
    clock.now = NEXT_OPENING
    sender.run_once()
    assert fake.bodies_to(PATIENT) == ["Reminder: visit soon"]
    assert row(sessions, reply).status is OutboundStatus.QUEUED


def test_outreach_that_quiet_hours_would_hold_past_its_use_is_dropped(
    sessions: sessionmaker[Session], fake: TwilioFake, clock: Clock
) -> None:
    clock.advance(minutes=3)  # 21:01
    late = queue_outreach(sessions, PATIENT, not_after=EVENING + timedelta(hours=2))
    worker(sessions, fake, clock).run_once()
    dropped = row(sessions, late)
    assert dropped.status is OutboundStatus.DEAD and "quiet hours" in (dropped.last_error or "")
    assert fake.messages == []


def test_a_waitlist_offer_is_outreach_it_waits_for_the_window_and_expires_with_the_offer(
    sessions: sessionmaker[Session], fake: TwilioFake, clock: Clock
) -> None:
    clock.advance(minutes=30)  # 21:28, in quiet hours
    expires = clock.now + timedelta(minutes=30)
    with session_scope(sessions) as db:
        practice_id = seed_demo(db).id
        thread = threads_for(session=db, practice_id=practice_id, phones={PATIENT})[PATIENT]
        conversation = db.get_one(Conversation, thread.conversation_id)
        record_outgoing_message(
            session=db,
            conversation=conversation,
            role=Role.BOT,
            text="Good news: an opening came up. Would you like it?",
            custom={
                "type": "waitlist_offer",
                "offer_token": "t1",
                "expires_at": expires.isoformat(),
            },
        )
    worker(sessions, fake, clock).run_once()
    with sessions() as db:
        [offer] = db.scalars(select(OutboundSms).where(OutboundSms.to_phone == PATIENT))
    assert (offer.kind, offer.not_after) == ("waitlist_offer", expires)
    assert offer.status is OutboundStatus.DEAD  # the window opens after the offer closes
    assert fake.messages == []


def test_the_daily_cap_holds_with_concurrent_senders(engine: Engine, fake: TwilioFake) -> None:
    fake.messages.clear()
    clock = Clock(EVENING - timedelta(hours=5))  # 15:58 in New York
    factory = make_session_factory(engine, clock=clock)
    numbers = [f"+1555556{n:04d}" for n in range(30)]
    try:
        with session_scope(factory) as db:
            seed_demo(db)
        ids = []
        for kind in ("reminder", "waitlist_offer", "post_visit"):
            ids += [queue_outreach(factory, number, kind=kind) for number in numbers]
        workers = [worker(factory, fake, clock) for _ in range(3)]
        threads = [threading.Thread(target=w.drain) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        for w in workers:
            w.stop()
        per_number = Counter(m["to"] for m in fake.messages)
        assert per_number == Counter(dict.fromkeys(numbers, 1))  # the default cap: 1/day
        with factory() as db:
            statuses = Counter(
                db.scalars(select(OutboundSms.status).where(OutboundSms.id.in_(ids)))
            )
            capped = db.scalars(
                select(OutboundSms.last_error).where(OutboundSms.status == OutboundStatus.DEAD)
            ).all()
        assert statuses == {OutboundStatus.QUEUED: 30, OutboundStatus.DEAD: 60}
        assert all("cap" in (reason or "") for reason in capped)
        clock.advance(hours=24, minutes=1)  # a day later: one more may go, nothing resent
        queue_outreach(factory, numbers[0])
        workers[0].drain()
        assert Counter(m["to"] for m in fake.messages)[numbers[0]] == 2
    finally:
        empty_database(engine)
