"""Patient turns under faults: the service SIGKILLed while 200 signed SMS webhooks arrive, Rasa
stalling past the client's timeout, Rasa SIGKILLed mid-conversation. Rasa is a stand-in
speaking its callback-channel wire format (`tests.faults.rasa_standin`), Twilio the
`tests.twilio_fake` stand-in. Each scenario prints its counts and fails on anything but every
acknowledged text answered once, none twice, none lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from connectors.dispatcher import WAITING_NOTICE
from frontdesk.conversations.models import PatientTurn, TurnState
from tests.faults.rasa_standin import received_count
from tests.faults.turns import (
    CLIENT_TIMEOUT,
    Processes,
    Sender,
    Webhook,
    all_answered,
    seed_sms_practice,
    tally_turns,
    wait_until,
    webhooks,
)
from tests.twilio_fake import TwilioFake, running_fake

pytestmark = pytest.mark.faults


@pytest.fixture
def twilio() -> Iterator[TwilioFake]:
    with running_fake(TwilioFake(latency=0.01)) as fake:
        yield fake


def _turn_states(engine: Engine) -> set[TurnState]:
    with Session(engine) as db:
        return set(db.scalars(select(PatientTurn.state)))


def _flat(threads: list[list[Webhook]]) -> list[Webhook]:
    return [webhook for texts in threads for webhook in texts]


def _notices(fake: TwilioFake, phone: str) -> int:
    return fake.bodies_to(phone).count(WAITING_NOTICE)


def _sigkill_of_the_service_mid_burst(
    engine: Engine, tmp_path: Path, fake: TwilioFake, report: Callable[[str], None], label: str
) -> None:
    to = seed_sms_practice(engine)
    threads = webhooks(to, conversations=20, per_conversation=10)
    texts = _flat(threads)
    processes = Processes(tmp_path, engine, fake)
    try:
        began = time.monotonic()
        processes.start_rasa()
        processes.start_service()
        up = time.monotonic()
        sender = Sender(processes.base_url)
        # The kill comes when half the texts are acknowledged, while the rest are arriving.

        def kill_at_half() -> None:
            wait_until(lambda: sender.count() >= len(texts) // 2, 60)
            processes.kill_service()

        killer = threading.Thread(target=kill_at_half)
        killer.start()
        sender.post_all(threads, gap=0.005)
        killer.join()
        at_kill = sender.count()
        burst = time.monotonic()
        assert at_kill < len(texts), "every text was acknowledged before the kill"
        processes.start_service()
        # Twilio's retry of what was not acknowledged: the same MessageSid, once more.
        sender.resend_unacknowledged(threads)
        assert sender.count() == len(texts), (sender.failures, processes.log())
        assert wait_until(all_answered(texts, fake), 45), processes.log()
        done = time.monotonic()
        time.sleep(CLIENT_TIMEOUT + 1)  # past a retry's delay: a second answer would be here
        counts = tally_turns(texts, processes.tracker_file, fake)
        received = received_count(processes.tracker_file)
    finally:
        processes.stop()
    report(
        counts.line(
            f"{label}: service SIGKILLed at {at_kill} of {len(texts)} acknowledged "
            f"(attempts not acknowledged: {dict(sender.failures)}; the stand-in Rasa "
            f"received {received} webhooks; start {up - began:.1f} s, "
            f"burst {burst - up:.1f} s, restart to last answer {done - burst:.1f} s)"
        )
    )
    assert counts.all_once, counts
    assert _turn_states(engine) <= {TurnState.ANSWERED, TurnState.SENT}


def test_sigkill_of_the_service_while_200_sms_webhooks_arrive(
    sqlite_engine: Engine, tmp_path: Path, twilio: TwilioFake, report: Callable[[str], None]
) -> None:
    _sigkill_of_the_service_mid_burst(sqlite_engine, tmp_path, twilio, report, "SQLite")
