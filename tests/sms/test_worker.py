"""The outbox worker against the local Twilio fake: retries, timeouts, dead letters, crashes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from frontdesk.db import make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.sms.consent import record_consent
from frontdesk.sms.models import OutboundSms, OutboundStatus
from frontdesk.sms.outbox import BulkSms, dead_letters, queue_many, queue_sms, retry_dead_letter
from frontdesk.sms.transport import ProviderMessage, SendResult, TwilioTransport
from frontdesk.sms.worker import OutboxWorker
from tests.conftest import AT_NOW, NOW, empty_database
from tests.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, TwilioFake, running_fake

PATIENT = "+15555550101"


class Clock:
    """A clock the test moves; starts at the real time (the fake stamps real times)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)  # after what the test queues

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _next_noon_in_new_york(after: datetime) -> datetime:
    """The demo practice's next midday: any hour of the real clock, outreach may leave then."""
    local = after.astimezone(ZoneInfo("America/New_York"))
    noon = local.replace(hour=12, minute=0, second=0, microsecond=0)
    return (noon if noon > local else noon + timedelta(days=1)).astimezone(UTC)


@pytest.fixture(scope="module")
def fake() -> Iterator[TwilioFake]:
    with running_fake() as served:
        yield served


@pytest.fixture
def sessions(sqlite_engine: Engine, fake: TwilioFake) -> sessionmaker[Session]:
    fake.messages.clear()
    factory = make_session_factory(sqlite_engine, clock=AT_NOW)
    with session_scope(factory) as db:
        seed_demo(db)
    return factory


def worker(
    sessions: sessionmaker[Session],
    fake: TwilioFake,
    clock: Clock,
    *,
    timeout: float = 5.0,
    max_attempts: int = 4,
    batch_size: int = 100,
) -> OutboxWorker:
    transport = TwilioTransport(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, base_url=fake.url, timeout=timeout
    )
    return OutboxWorker(
        sessions=sessions,
        transport=transport,
        clock=clock,
        threads=4,
        max_attempts=max_attempts,
        retry_base_seconds=2.0,
        lease_seconds=30.0,
        batch_size=batch_size,
    )


def queue(sessions: sessionmaker[Session], body: str, to: str = PATIENT) -> int:
    with session_scope(sessions) as db:
        practice_id = seed_demo(db).id
        row = queue_sms(session=db, practice_id=practice_id, to=to, body=body, kind="bot")
        assert row is not None
        return row.id


def outbound(sessions: sessionmaker[Session], outbound_id: int) -> OutboundSms:
    with sessions() as db:
        return db.get_one(OutboundSms, outbound_id)


def test_a_queued_message_is_sent_once_with_twilios_wire_format(
    sessions: sessionmaker[Session], fake: TwilioFake
) -> None:
    clock = Clock()
    sms_id = queue(sessions, "Your visit is confirmed.")
    sender = worker(sessions, fake, clock)
    assert sender.run_once() == 1
    assert sender.run_once() == 0
    [message] = fake.messages
    assert (message["to"], message["from"], message["body"]) == (
        PATIENT,
        "+15555550199",
        "Your visit is confirmed.",
    )
    row = outbound(sessions, sms_id)
    assert (row.status, row.twilio_sid, row.attempts) == (
        OutboundStatus.QUEUED,
        message["sid"],
        1,
    )


def test_server_errors_are_retried_with_backoff_and_sent_once(
    sessions: sessionmaker[Session], fake: TwilioFake
) -> None:
    clock = Clock()
    sms_id = queue(sessions, "hello")
    sender = worker(sessions, fake, clock)
    fake.fail_next(2, status=500)
    assert sender.run_once() == 1
    row = outbound(sessions, sms_id)
    assert row.status is OutboundStatus.PENDING and row.next_attempt_at == clock.now + timedelta(
        seconds=2
    )
    assert sender.run_once() == 0  # not due yet
    clock.advance(2)
    sender.run_once()
    row = outbound(sessions, sms_id)
    assert row.next_attempt_at == clock.now + timedelta(seconds=4)  # doubled
    clock.advance(4)
    sender.run_once()
    assert fake.bodies_to(PATIENT) == ["hello"]
    row = outbound(sessions, sms_id)
    assert (row.status, row.attempts) == (OutboundStatus.QUEUED, 3)


def test_rate_limits_and_timeouts_are_retried(
    sessions: sessionmaker[Session], fake: TwilioFake
) -> None:
    clock = Clock()
    sms_id = queue(sessions, "hello")
    sender = worker(sessions, fake, clock, timeout=0.3)
    fake.fail_next(1, status=429)
    sender.run_once()
    assert outbound(sessions, sms_id).status is OutboundStatus.PENDING
    fake.stall_next(1, seconds=1.0)  # longer than the client's timeout
    clock.advance(2)
    sender.run_once()
    # A read timeout is ambiguous: the message is checked with Twilio before any resend.
    assert outbound(sessions, sms_id).status is OutboundStatus.SENDING
    clock.advance(1)
    sender.run_once()  # not at Twilio (it answered 503 after the stall): sent now
    assert fake.bodies_to(PATIENT) == ["hello"]
    assert outbound(sessions, sms_id).status is OutboundStatus.QUEUED


def test_a_timeout_after_twilio_took_the_message_never_sends_it_twice(
    sessions: sessionmaker[Session], fake: TwilioFake
) -> None:
    clock = Clock()
    sms_id = queue(sessions, "once only")
    sender = worker(sessions, fake, clock, timeout=0.3)
    fake.accept_then_stall(1, seconds=1.0)
    sender.run_once()
    clock.advance(1)
    sender.run_once()
    sender.run_once()
    assert fake.bodies_to(PATIENT) == ["once only"]
    row = outbound(sessions, sms_id)
    assert row.status is OutboundStatus.QUEUED and row.twilio_sid == fake.messages[0]["sid"]


def test_a_worker_that_died_mid_send_is_reconciled_not_repeated(
    sessions: sessionmaker[Session], fake: TwilioFake
) -> None:
    clock = Clock()
    handed_over = queue(sessions, "handed over before the crash")
    lost = queue(sessions, "claimed, never handed over", to="+15555550102")
    sender = worker(sessions, fake, clock)
    sender.run_once()  # both sent (in parallel: either may arrive first)...
    [never_arrived] = [m for m in fake.messages if m["to"] == "+15555550102"]
    fake.messages.remove(never_arrived)  # ...but pretend the second never reached Twilio
    with session_scope(sessions) as db:  # and the crash lost both results
        for row in db.scalars(select(OutboundSms)):
            row.status, row.twilio_sid = OutboundStatus.SENDING, None
            row.claimed_until = clock.now + timedelta(seconds=30)
    sender.run_once()
    assert len(fake.messages) == 1  # the lease has not expired: nobody touches them
    clock.advance(31)
    sender.run_once()
    assert fake.bodies_to(PATIENT) == ["handed over before the crash"]
    assert fake.bodies_to("+15555550102") == ["claimed, never handed over"]
    assert outbound(sessions, handed_over).twilio_sid == fake.messages[0]["sid"]
    assert outbound(sessions, lost).status is OutboundStatus.QUEUED


def test_permanent_errors_and_exhausted_retries_are_dead_lettered_for_staff(
    sessions: sessionmaker[Session], fake: TwilioFake
) -> None:
    clock = Clock()
    invalid = queue(sessions, "hello", to="12345")
    sender = worker(sessions, fake, clock, max_attempts=2)
    sender.run_once()
    row = outbound(sessions, invalid)
    assert (row.status, row.error_code) == (OutboundStatus.DEAD, "21211")
    flaky = queue(sessions, "hello", to="+15555550103")
    clock.advance(1)
    fake.fail_next(2, status=503)
    sender.run_once()
    clock.advance(60)
    sender.run_once()
    assert outbound(sessions, flaky).status is OutboundStatus.DEAD
    with session_scope(sessions) as db:
        practice_id = seed_demo(db).id
        assert {r.id for r in dead_letters(session=db, practice_id=practice_id)} == {
            invalid,
            flaky,
        }
        assert retry_dead_letter(session=db, outbound_id=flaky, now=clock.now)
    sender.run_once()
    assert fake.bodies_to("+15555550103") == ["hello"]


def test_one_recipients_messages_keep_their_order(
    sessions: sessionmaker[Session], fake: TwilioFake
) -> None:
    clock = Clock()
    for n in range(6):
        queue(sessions, f"part {n}")
    worker(sessions, fake, clock).run_once()
    assert fake.bodies_to(PATIENT) == [f"part {n}" for n in range(6)]


def test_opted_out_numbers_get_nothing_queued_and_dedupe_keys_hold(
    sessions: sessionmaker[Session],
) -> None:
    with session_scope(sessions) as db:
        practice_id = seed_demo(db).id
        first = queue_sms(
            session=db,
            practice_id=practice_id,
            to=PATIENT,
            body="a",
            kind="reminder",
            dedupe_key="outreach:1",
        )
        again = queue_sms(
            session=db,
            practice_id=practice_id,
            to=PATIENT,
            body="a",
            kind="reminder",
            dedupe_key="outreach:1",
        )
        assert first is not None and again is not None and first.id == again.id
        record_consent(
            session=db,
            practice_id=practice_id,
            phone=PATIENT,
            opted_out=True,
            keyword="STOP",
            now=NOW,
        )
        assert (
            queue_sms(session=db, practice_id=practice_id, to=PATIENT, body="b", kind="otp") is None
        )
        assert queue_sms(
            session=db, practice_id=practice_id, to=PATIENT, body="c", kind="compliance"
        )


def test_two_workers_never_send_the_same_message(engine: Engine, fake: TwilioFake) -> None:
    fake.messages.clear()
    factory = make_session_factory(engine, clock=AT_NOW)
    try:
        with session_scope(factory) as db:
            practice_id = seed_demo(db).id
            for n in range(120):
                queue_sms(
                    session=db,
                    practice_id=practice_id,
                    to=f"+1555555{n:04d}",
                    body=f"m{n}",
                    kind="bot",
                )
        clock = Clock()
        workers = [worker(factory, fake, clock, batch_size=20) for _ in range(3)]
        threads = [threading.Thread(target=w.drain) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        bodies = sorted(m["body"] for m in fake.messages)
        assert bodies == sorted(f"m{n}" for n in range(120))
        with factory() as db:
            statuses = set(db.scalars(select(OutboundSms.status)))
        assert statuses == {OutboundStatus.QUEUED}
        for w in workers:
            w.stop()
    finally:
        empty_database(engine)


# --- crashes mid-flight: reconciliation is exact and never wedges the outbox ---------------


class Crash(BaseException):
    """The process dying between two statements (nothing after it runs)."""


class DiesAfter:
    """The real transport, until the process dies right after the `n`-th hand-over."""

    def __init__(self, inner: TwilioTransport, n: int) -> None:
        self.inner, self.left = inner, n

    def send(self, **kwargs: Any) -> SendResult:
        result = self.inner.send(**kwargs)
        self.left -= 1
        if self.left == 0:
            raise Crash
        return result

    def sent_to(self, *, to: str, since: datetime) -> list[ProviderMessage]:
        return self.inner.sent_to(to=to, since=since)


def lose_results(sessions: sessionmaker[Session], clock: Clock, *ids: int) -> None:
    """What a crash leaves: claimed rows, no sid, the lease still running."""
    with session_scope(sessions) as db:
        for outbound_id in ids:
            row = db.get_one(OutboundSms, outbound_id)
            row.status, row.twilio_sid = OutboundStatus.SENDING, None
            row.claimed_until = clock.now + timedelta(seconds=30)


def test_two_identical_texts_in_flight_to_one_number_do_not_wedge_the_outbox(
    sessions: sessionmaker[Session], fake: TwilioFake
) -> None:
    clock = Clock()
    first = queue(sessions, "See you tomorrow at 9.")
    second = queue(sessions, "See you tomorrow at 9.")
    sender = worker(sessions, fake, clock)
    sender.run_once()
    fake.messages.pop()  # the second never reached Twilio...
    lose_results(sessions, clock, first, second)  # ...and the crash lost both results
    other = queue(sessions, "for someone else", to="+15555550102")
    clock.advance(31)
    sender.drain()  # used to fail on every pass: both rows matched the one sid at Twilio
    assert fake.bodies_to(PATIENT) == ["See you tomorrow at 9."] * 2
    assert fake.bodies_to("+15555550102") == ["for someone else"]
    sids = [outbound(sessions, i).twilio_sid for i in (first, second, other)]
    assert sids[0] == fake.messages[0]["sid"] and len(set(sids)) == 3
    assert {outbound(sessions, i).status for i in (first, second, other)} == {OutboundStatus.QUEUED}


def test_an_earlier_identical_text_is_never_taken_for_an_unsent_one(
    sessions: sessionmaker[Session], fake: TwilioFake
) -> None:
    clock = Clock()
    earlier = queue(sessions, "Reply 1 to confirm.")
    sender = worker(sessions, fake, clock)
    sender.run_once()  # sent and recorded
    clock.advance(1)
    unsent = queue(sessions, "Reply 1 to confirm.")
    with session_scope(sessions) as db:  # claimed, then the process died before sending
        db.get_one(OutboundSms, unsent).attempts = 1
    lose_results(sessions, clock, unsent)
    clock.advance(31)
    sender.drain()
    assert fake.bodies_to(PATIENT) == ["Reply 1 to confirm."] * 2  # really sent, not assumed
    assert outbound(sessions, unsent).twilio_sid == fake.messages[1]["sid"]
    assert outbound(sessions, earlier).twilio_sid == fake.messages[0]["sid"]


def test_a_failing_provider_lookup_backs_off_then_goes_to_staff_never_resent_blind(
    sessions: sessionmaker[Session], fake: TwilioFake
) -> None:
    clock = Clock()
    stuck = queue(sessions, "in doubt")
    sender = OutboxWorker(
        sessions=sessions,
        transport=TwilioTransport(
            account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, base_url=fake.url, timeout=5.0
        ),
        clock=clock,
        lease_seconds=30.0,
        reconcile_give_up_seconds=600.0,
    )
    sender.run_once()
    lose_results(sessions, clock, stuck)
    fake.fail_lists(1000)
    try:
        clock.advance(31)
        sender.run_once()
        row = outbound(sessions, stuck)
        assert row.status is OutboundStatus.SENDING and row.next_attempt_at > clock.now
        assert "lookup failed" in (row.last_error or "")
        queue(sessions, "others still go out", to="+15555550102")
        clock.advance(1)
        sender.run_once()
        assert fake.bodies_to("+15555550102") == ["others still go out"]
        clock.advance(600)
        sender.run_once()
        row = outbound(sessions, stuck)
        assert row.status is OutboundStatus.DEAD and "unknown" in (row.last_error or "")
        assert fake.bodies_to(PATIENT) == ["in doubt"]  # never sent a second time
    finally:
        fake.fail_lists(0)
        fake._list_failures.clear()


def test_each_result_is_recorded_as_soon_as_twilio_answers(
    sessions: sessionmaker[Session], fake: TwilioFake
) -> None:
    clock = Clock()
    ids = [queue(sessions, f"part {n}") for n in range(3)]
    inner = TwilioTransport(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, base_url=fake.url, timeout=5.0
    )
    dying = OutboxWorker(
        sessions=sessions, transport=DiesAfter(inner, 2), clock=clock, lease_seconds=30.0
    )
    with pytest.raises(Crash):
        dying.run_once()
    # The first result was written before the second message left; the second is in doubt.
    first = outbound(sessions, ids[0])
    assert (first.status, first.twilio_sid) == (OutboundStatus.QUEUED, fake.messages[0]["sid"])
    assert outbound(sessions, ids[1]).status is OutboundStatus.SENDING
    clock.advance(31)
    worker(sessions, fake, clock).drain()
    assert fake.bodies_to(PATIENT) == ["part 0", "part 1", "part 2"]
    assert outbound(sessions, ids[1]).twilio_sid == fake.messages[1]["sid"]


def test_a_number_with_a_message_in_doubt_gets_nothing_else_until_it_is_settled(
    sessions: sessionmaker[Session], fake: TwilioFake
) -> None:
    clock = Clock()
    queue(sessions, "first")
    sender = worker(sessions, fake, clock, timeout=0.3)
    fake.accept_then_stall(1, seconds=1.0)
    fake.fail_lists(1)
    sender.run_once()  # Twilio took it, the answer timed out
    queue(sessions, "second")
    clock.advance(1)
    sender.run_once()  # the lookup failed: "first" is still in doubt, "second" waits
    assert fake.bodies_to(PATIENT) == ["first"]
    clock.advance(5)
    sender.drain()
    assert fake.bodies_to(PATIENT) == ["first", "second"]


def test_a_reply_to_a_patient_never_waits_behind_a_reminder_fan_out(
    sessions: sessionmaker[Session], fake: TwilioFake
) -> None:
    clock = Clock()
    with session_scope(sessions) as db:
        practice_id = seed_demo(db).id
        queue_many(
            session=db,
            practice_id=practice_id,
            messages=[
                BulkSms(to=f"+1555557{n:04d}", body="Reminder", kind="reminder", dedupe_key=f"r{n}")
                for n in range(250)
            ],
        )
    reply = queue(sessions, "Your visit is booked.")  # queued after the whole fan-out
    clock.now = _next_noon_in_new_york(clock.now)  # reminders leave outside quiet hours only
    sender = worker(sessions, fake, clock, batch_size=100)
    sender.run_once()
    assert fake.bodies_to(PATIENT) == ["Your visit is booked."]  # in the first pass
    assert outbound(sessions, reply).status is OutboundStatus.QUEUED
    sender.drain()
    assert len(fake.messages) == 251
