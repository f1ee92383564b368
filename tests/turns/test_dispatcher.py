"""The turn dispatcher through the web chat socket: a slow Rasa, a send that died after Rasa
took the turn, Rasa loading, a callback delivered twice, and a turn nobody answers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from connectors import dispatcher
from frontdesk import texts
from frontdesk.app import create_app
from frontdesk.bot import BotTimeoutError, BotUnavailableError
from frontdesk.console.service import queue
from frontdesk.conversations.models import (
    Conversation,
    EscalationReason,
    Message,
    Owner,
    PatientTurn,
    Role,
    TurnState,
)
from frontdesk.db import make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.runtime import Services
from frontdesk.settings import Settings
from tests.conftest import AT_NOW, NOW
from tests.doubles import FlakyBot, ScriptedBot
from tests.support.apps import services_of

UNANSWERED_NOTICE = texts.text(dispatcher.UNANSWERED_NOTICE, "en")
WAITING_NOTICE = texts.text(dispatcher.WAITING_NOTICE, "en")

TOKEN = "internal-test-token"
WS = "/chat/ws?practice=riverside"
CLIENT_TIMEOUT = 0.2  # FRONTDESK_RASA_TIMEOUT_SECONDS in these tests


class MovingClock:
    """The app's clock: starts at NOW and runs with real time, so retries come due."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return NOW + self.offset + timedelta(seconds=time.monotonic() - self.started)


class StallingBot(ScriptedBot):
    """Rasa that takes the first turn and works on it longer than the client waits: the
    client gives up (a timeout) while Rasa goes on, answers and saves the tracker."""

    def __init__(self, stall: float) -> None:
        super().__init__()
        self.stall = stall
        self.sent = 0
        self.working: list[asyncio.Task[None]] = []

    async def send_user_turn(
        self,
        conversation_id: str,
        text: str,
        *,
        message_id: str | None = None,
        language: str | None = None,
    ) -> None:
        self.sent += 1
        if self.sent > 1:
            await super().send_user_turn(
                conversation_id, text, message_id=message_id, language=language
            )
            return

        async def finish_later() -> None:
            await asyncio.sleep(self.stall)
            await ScriptedBot.send_user_turn(self, conversation_id, text, message_id=message_id)

        self.working.append(asyncio.create_task(finish_later()))
        await asyncio.sleep(CLIENT_TIMEOUT)
        raise BotTimeoutError("ReadTimeout")


class TookItThenDiedBot(ScriptedBot):
    """Rasa handles the turn (replies sent, tracker saved), then the connection dies before
    the client hears so: the client sees an error for a turn Rasa has."""

    async def send_user_turn(
        self,
        conversation_id: str,
        text: str,
        *,
        message_id: str | None = None,
        language: str | None = None,
    ) -> None:
        await super().send_user_turn(
            conversation_id, text, message_id=message_id, language=language
        )
        if len(self.turns) == 1:
            raise BotUnavailableError("RemoteProtocolError")


class EchoTwiceBot(ScriptedBot):
    """Rasa (or a proxy in front of the service) delivers every callback twice."""

    async def answer(self, conversation_id: str, text: str) -> None:
        await super().answer(conversation_id, text)
        await super().answer(conversation_id, text)


def make_client(
    engine: Engine, bot: ScriptedBot, tmp_path: Path, clock: Callable[[], datetime], **extra: Any
) -> Iterator[TestClient]:
    with session_scope(make_session_factory(engine, clock=AT_NOW)) as db:
        seed_demo(db)
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        internal_token=TOKEN,
        rasa_token="rasa-test-token",
        secret_key="secret-test-key",
        allowed_hosts="testserver",
        rasa_timeout_seconds=CLIENT_TIMEOUT,
        turn_retry_base_seconds=0.05,
        **extra,
    )
    app = create_app(settings, engine=engine, bot=bot, clock=clock)
    bot.attach(app, TOKEN)
    with TestClient(app) as client:
        yield client


def say(client: TestClient, text: str) -> None:
    """One web chat message from a new patient, acknowledged (the socket then closes)."""
    with client.websocket_connect(WS) as ws:
        ws.receive_json()  # hello
        ws.send_text(json.dumps({"type": "message", "text": text, "client_id": "m1"}))
        assert ws.receive_json() == {"type": "ack", "client_id": "m1"}


def wait_until_done(engine: Engine, timeout: float = 10.0) -> list[PatientTurn]:
    """The turns, once none is queued or being sent any more."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Session(engine) as db:
            turns = list(db.scalars(select(PatientTurn).order_by(PatientTurn.id)))
        if turns and all(t.state not in (TurnState.QUEUED, TurnState.SENDING) for t in turns):
            return turns
        time.sleep(0.02)
    raise AssertionError(f"turns still unfinished: {[t.state for t in turns]}")


def wait_for_attempt(engine: Engine, timeout: float = 10.0) -> None:
    """Return once the dispatcher has tried the (only) turn and put it back in the queue.

    Not as soon as the claim is committed: the failed send's requeue (and its "one moment")
    may still be on its way, and a test that moves the clock then lets another worker take
    the turn over from under it (seen on a loaded machine).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Session(engine) as db:
            turn = db.scalars(select(PatientTurn)).one_or_none()
            if turn is not None and turn.attempts and turn.state is TurnState.QUEUED:
                return
        time.sleep(0.02)
    raise AssertionError("the turn was never tried")


def bot_texts(engine: Engine) -> list[str | None]:
    with Session(engine) as db:
        return list(
            db.scalars(select(Message.text).where(Message.role == Role.BOT).order_by(Message.id))
        )


def test_a_rasa_slower_than_the_client_timeout_answers_the_turn_once(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    bot = StallingBot(stall=3 * CLIENT_TIMEOUT)
    for client in make_client(sqlite_engine, bot, tmp_path, MovingClock()):
        say(client, "can I book a checkup")
        [turn] = wait_until_done(sqlite_engine)
        time.sleep(CLIENT_TIMEOUT)  # a resend, had there been one, would have answered by now
    # Sent once; the retry read the tracker (after a client timeout's grace) and found it.
    assert bot.sent == 1
    assert turn.state is TurnState.SENT and turn.attempts == 2
    assert bot_texts(sqlite_engine).count("you said: can I book a checkup") == 1


def test_a_turn_rasa_took_before_the_send_died_is_not_sent_again(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    bot = TookItThenDiedBot()
    for client in make_client(sqlite_engine, bot, tmp_path, MovingClock()):
        say(client, "what are your hours")
        [turn] = wait_until_done(sqlite_engine)
    assert [text for _, text in bot.turns] == ["what are your hours"]  # never resent
    assert turn.state is TurnState.SENT
    [conversation_id] = bot.tracker_turns
    assert bot.tracker_turns[conversation_id] == [f"frontdesk-turn-{turn.id}"]
    assert bot_texts(sqlite_engine) == ["you said: what are your hours"]


def test_while_rasa_loads_the_patient_hears_one_moment_once_then_the_answer(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    bot = FlakyBot(failures=3)  # three attempts find Rasa still loading
    for client in make_client(sqlite_engine, bot, tmp_path, MovingClock()):
        with client.websocket_connect(WS) as ws:
            ws.receive_json()
            ws.send_text(json.dumps({"type": "message", "text": "hi", "client_id": "a"}))
            ws.send_text(json.dumps({"type": "message", "text": "hello?", "client_id": "b"}))
            frames: list[dict[str, Any]] = []
            while len([f for f in frames if f["type"] == "message"]) < 3:
                frames.append(ws.receive_json())
        turns = wait_until_done(sqlite_engine)
    assert [f["text"] for f in frames if f["type"] == "message"] == [
        WAITING_NOTICE,  # once per conversation, not per message or attempt
        "you said: hi",
        "you said: hello?",
    ]
    assert not any(f["type"] == "error" for f in frames)
    assert [t.state for t in turns] == [TurnState.ANSWERED, TurnState.ANSWERED]
    assert turns[0].attempts == 4


def test_a_callback_delivered_twice_is_stored_once(sqlite_engine: Engine, tmp_path: Path) -> None:
    bot = EchoTwiceBot()
    for client in make_client(sqlite_engine, bot, tmp_path, MovingClock()):
        say(client, "thanks")
        wait_until_done(sqlite_engine)
    assert bot_texts(sqlite_engine) == ["you said: thanks"]


@pytest.mark.parametrize("limit_minutes", [5])
def test_a_turn_unanswered_past_the_limit_goes_to_the_staff_queue(
    sqlite_engine: Engine, tmp_path: Path, limit_minutes: int
) -> None:
    bot = FlakyBot(failures=1000)  # Rasa never comes back
    clock = MovingClock()
    for client in make_client(
        sqlite_engine, bot, tmp_path, clock, turn_answer_limit_seconds=limit_minutes * 60
    ):
        say(client, "I need to reschedule")
        wait_for_attempt(sqlite_engine)
        clock.offset = timedelta(minutes=limit_minutes, seconds=1)
        services_of(client).wake_turns()
        [turn] = wait_until_done(sqlite_engine)
        with Session(sqlite_engine) as db:
            conversation = db.scalars(select(Conversation)).one()
            items = queue(session=db, practice_id=conversation.practice_id, now=clock())
    assert turn.state is TurnState.ESCALATED
    assert conversation.owner is Owner.STAFF
    assert conversation.escalation_reason is EscalationReason.BOT_UNANSWERED
    [item] = items
    assert item.conversation_id == conversation.public_id
    assert item.reason == "The assistant did not answer"
    assert bot_texts(sqlite_engine) == [WAITING_NOTICE, UNANSWERED_NOTICE]


class CountingDispatcher(dispatcher.TurnDispatcher):
    """A dispatcher whose claims find nothing; counts them, and can queue a turn mid-claim."""

    def __init__(self, workers: int) -> None:
        settings = SimpleNamespace(rasa_timeout_seconds=1.0)
        super().__init__(
            cast(Services, SimpleNamespace(settings=settings)), workers=workers, poll_seconds=60.0
        )
        self.claims = 0
        self.queue_during_claim = 0  # this many claims see a turn queued while they look

    async def dispatch_one(self) -> bool:
        self.claims += 1
        if self.queue_during_claim:
            self.queue_during_claim -= 1
            self.wake()  # a turn committed after the claim's query read the queue ...
        await asyncio.sleep(0.01)  # ... and before the claim's thread came back
        return False


def test_a_queued_turn_wakes_one_idle_worker_not_all() -> None:
    async def scenario() -> tuple[int, int]:
        workers = CountingDispatcher(workers=4)
        workers.start()
        await asyncio.sleep(0.1)  # every worker looked once and waits
        before = workers.claims
        workers.wake()
        await asyncio.sleep(0.1)
        after = workers.claims
        await workers.stop()
        return before, after

    before, after = asyncio.run(scenario())
    assert (before, after) == (4, 5)


def test_a_turn_queued_during_an_empty_claim_is_looked_for_at_once() -> None:
    async def scenario() -> int:
        worker = CountingDispatcher(workers=1)
        worker.queue_during_claim = 1
        worker.start()
        await asyncio.sleep(0.2)  # far less than the 60 s poll
        await worker.stop()
        return worker.claims

    assert asyncio.run(scenario()) == 2
