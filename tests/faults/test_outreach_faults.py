"""Outreach under faults: the outbox process killed with SIGKILL while Twilio refuses every
third call, restarted in the middle of a reminder fan-out, and running while quiet hours end
mid-fan-out. Each scenario prints its counts and fails on anything but every text sent once,
none twice, none lost, none after hours."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from frontdesk.clock import shifted_clock, system_clock
from frontdesk.sms.models import OutboundSms, OutboundStatus
from tests.faults.harness import (
    ALL_DAY,
    ZONE,
    Window,
    seed_due_reminders,
    start_outreach,
    tally,
    wait_for,
)
from tests.twilio_fake import TwilioFake, running_fake

pytestmark = pytest.mark.faults

REMINDERS = 60


def _received(fake: TwilioFake, offset: float = 0.0) -> list[tuple[str, datetime]]:
    """(to, when it was sent by the sender's clock) for each text the fake took."""
    return [(m["to"], m["_created"] + timedelta(seconds=offset)) for m in fake.messages]


def _sent_at_least(fake: TwilioFake, count: int) -> Callable[[], bool]:
    return lambda: len(fake.messages) >= count


def _statuses(engine: Engine) -> set[OutboundStatus]:
    with Session(engine) as db:
        return set(db.scalars(select(OutboundSms.status)))


def _log(tmp_path: Path) -> str:
    return (tmp_path / "outreach.log").read_text()


def test_sigkill_of_the_outbox_while_twilio_fails_every_third_call(
    sqlite_engine: Engine, tmp_path: Path, report: Callable[[str], None]
) -> None:
    phones = seed_due_reminders(sqlite_engine, count=REMINDERS, clock=system_clock, window=ALL_DAY)
    with running_fake(TwilioFake(latency=0.03, fail_every=3)) as fake:
        for target in (REMINDERS // 4, REMINDERS // 2):  # killed at a quarter, then at half
            process = start_outreach(tmp_path, sqlite_engine, fake)
            try:
                assert wait_for(_sent_at_least(fake, target), process, 60), _log(tmp_path)
            finally:
                process.send_signal(signal.SIGKILL)
                process.wait(10)
        assert len(fake.messages) < REMINDERS, "the run finished before the last kill"
        last = start_outreach(tmp_path, sqlite_engine, fake)
        try:
            assert wait_for(_sent_at_least(fake, REMINDERS), last, 90), _log(tmp_path)
            time.sleep(3)  # longer than the claim lease: anything left would be resent now
        finally:
            last.send_signal(signal.SIGTERM)
            last.wait(15)
        counts = tally(phones, _received(fake))
        refused = fake.refused
    report(counts.line(f"outbox SIGKILLed twice, Twilio refused {refused} calls"))
    assert refused > 0, "the fake never failed a call: the scenario tested nothing"
    assert counts.all_once, counts
    assert _statuses(sqlite_engine) == {OutboundStatus.QUEUED}


def test_restart_during_reminder_fan_out(
    sqlite_engine: Engine, tmp_path: Path, report: Callable[[str], None]
) -> None:
    phones = seed_due_reminders(sqlite_engine, count=REMINDERS, clock=system_clock, window=ALL_DAY)
    # A slow Twilio: many sends are in flight when the stop comes.
    with running_fake(TwilioFake(latency=0.2, fail_every=3)) as fake:
        first = start_outreach(tmp_path, sqlite_engine, fake)
        try:
            assert wait_for(_sent_at_least(fake, REMINDERS // 3), first, 60), _log(tmp_path)
        finally:
            at_stop = len(fake.messages)
            first.send_signal(signal.SIGTERM)  # a deploy's restart, not a crash
            assert first.wait(20) == 0, _log(tmp_path)
        at_exit = len(fake.messages)
        # A stop finishes the sends it has claimed; what it had not claimed waits for the next.
        assert at_stop < REMINDERS, "the fan-out finished before the restart"
        second = start_outreach(tmp_path, sqlite_engine, fake)
        try:
            assert wait_for(lambda: len(fake.messages) >= REMINDERS, second, 90), _log(tmp_path)
            time.sleep(3)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(15)
        counts = tally(phones, _received(fake))
    report(
        counts.line(f"outreach restarted mid-fan-out (stop at {at_stop} texts, exit at {at_exit})")
    )
    assert counts.all_once, counts
    assert _statuses(sqlite_engine) == {OutboundStatus.QUEUED}


def test_quiet_hours_ending_mid_fan_out(
    sqlite_engine: Engine, tmp_path: Path, report: Callable[[str], None]
) -> None:
    # The outreach process's clock starts a few seconds before the window opens (10:00 in
    # the practice's zone, tomorrow): reminders are due, but none may leave before 10:00.
    window = Window(clock_time(10, 0), clock_time(20, 0))
    real_now = system_clock()
    tomorrow = real_now.astimezone(ZONE).date() + timedelta(days=1)
    opening = datetime.combine(tomorrow, window.start, tzinfo=ZONE)
    offset = (opening - timedelta(seconds=6) - real_now).total_seconds()
    clock = shifted_clock(offset)
    phones = seed_due_reminders(sqlite_engine, count=REMINDERS, clock=clock, window=window)
    with running_fake(TwilioFake(latency=0.03, fail_every=3)) as fake:
        process = start_outreach(tmp_path, sqlite_engine, fake, clock_offset=offset)
        try:
            assert wait_for(lambda: len(fake.messages) >= REMINDERS, process, 90), _log(tmp_path)
            time.sleep(3)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(15)
        counts = tally(phones, _received(fake, offset), window=window)
        first_sent = min(at for _, at in _received(fake, offset))
    report(counts.line("quiet hours ended mid-fan-out"))
    assert counts.all_once, counts
    assert first_sent >= opening


@pytest.mark.postgres
def test_two_outbox_processes_on_postgresql_one_killed_mid_fan_out(
    postgres_engine: Engine, tmp_path: Path, report: Callable[[str], None]
) -> None:
    # Two senders claim from one outbox (SKIP LOCKED); one dies with SIGKILL holding claims.
    phones = seed_due_reminders(
        postgres_engine, count=REMINDERS, clock=system_clock, window=ALL_DAY
    )
    with running_fake(TwilioFake(latency=0.05, fail_every=3)) as fake:
        survivor = start_outreach(tmp_path, postgres_engine, fake)
        victim = start_outreach(tmp_path, postgres_engine, fake)
        try:
            assert wait_for(_sent_at_least(fake, REMINDERS // 3), victim, 60), _log(tmp_path)
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            assert len(fake.messages) < REMINDERS, "the fan-out finished before the kill"
            assert wait_for(_sent_at_least(fake, REMINDERS), survivor, 90), _log(tmp_path)
            time.sleep(3)  # past the claim lease: a dead sender's claims are settled by now
        finally:
            for process in (victim, survivor):
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    process.wait(15)
        counts = tally(phones, _received(fake))
    report(counts.line("two outbox processes on PostgreSQL, one SIGKILLed"))
    assert counts.all_once, counts
    assert _statuses(postgres_engine) == {OutboundStatus.QUEUED}
