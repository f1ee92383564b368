"""Web chat abuse, through the real socket: enumeration, identity linking, code caps, resume
tokens and per-address limits (issue 16). Rasa is replaced by the double of test_webchat."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from connectors.webchat import limits
from connectors.webchat.limits import SocketCounter
from connectors.webchat.socket import RESUME_IDLE, RESUME_LIFETIME
from frontdesk.app import create_app
from frontdesk.db import make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.models import Conversation, Patient
from frontdesk.patients.verification import MAX_CODES_PER_PATIENT_PER_WINDOW
from frontdesk.settings import Settings
from tests.conftest import AT_NOW, NOW
from tests.connectors.test_webchat import (
    JORDAN,
    TOKEN,
    WS,
    RecordingCodeSender,
    bot_turn,
    offer,
    receive_until,
    resumed,
    turn,
)
from tests.doubles import ScriptedBot
from tests.support.apps import app_of, settle_turns


class Clock:
    """The app's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bot() -> ScriptedBot:
    return ScriptedBot(offer)


@pytest.fixture
def codes() -> RecordingCodeSender:
    return RecordingCodeSender()


@pytest.fixture
def client(
    sqlite_engine: Engine,
    bot: ScriptedBot,
    tmp_path: Path,
    codes: RecordingCodeSender,
    clock: Clock,
) -> Iterator[TestClient]:
    with session_scope(make_session_factory(sqlite_engine, clock=AT_NOW)) as db:
        seed_demo(db)
    settings = Settings(
        env="test",
        allowed_hosts="testserver",  # the TestClient's Host header
        data_dir=tmp_path,
        internal_token=TOKEN,
        rasa_token="rasa-test-token",
        secret_key="secret-test-key",
    )
    app = create_app(settings, engine=sqlite_engine, bot=bot, clock=clock)
    app.state.code_sender = codes
    bot.attach(app, TOKEN)
    with TestClient(app) as test_client:
        yield test_client


def _identity_answer(client: TestClient, identity: dict[str, Any], ask: str) -> list[Any]:
    """What a fresh chat gets back for these details, after the bot asked (`ask`)."""
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        turn(ws, {"type": "message", "text": ask})
        ws.send_text(json.dumps({**identity, "client_id": "id"}))
        return receive_until(ws, "otp_request")


def _verify_in_a_fresh_chat(client: TestClient, codes: RecordingCodeSender) -> None:
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        turn(ws, {"type": "message", "text": "show my appointments"})
        ws.send_text(json.dumps(JORDAN))
        receive_until(ws, "otp_request")
        frames = turn(ws, {"type": "otp", "code": codes.sent[-1][1]})
        assert not [f for f in frames if f["type"] == "error"], frames


# --- 1. Enumeration ------------------------------------------------------------------------


@pytest.mark.parametrize("ask", ["show my appointments", "need id"])
def test_a_miss_and_a_hit_get_the_same_answer_with_no_phone_digits(
    client: TestClient, codes: RecordingCodeSender, ask: str
) -> None:
    hit = _identity_answer(client, JORDAN, ask)
    assert len(codes.sent) == 1  # the real patient got a code
    wrong_birthday = {**JORDAN, "date_of_birth": "1985-04-13"}
    miss = _identity_answer(client, wrong_birthday, "show my appointments")
    assert len(codes.sent) == 1  # nobody was texted for the miss
    assert hit == miss
    assert "If we have a record" in hit[-1]["reason"]
    assert "masked_phone" not in hit[-1] and "01" not in json.dumps(hit)


def test_a_code_typed_after_a_miss_is_refused_as_after_a_hit(client: TestClient) -> None:
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        turn(ws, {"type": "message", "text": "show my appointments"})
        ws.send_text(json.dumps({**JORDAN, "date_of_birth": "1985-04-13"}))
        receive_until(ws, "otp_request")
        ws.send_text(json.dumps({"type": "otp", "code": "123456"}))
        frames = receive_until(ws, "otp_request")
    assert frames[0]["code"] == "otp_wrong" and "4 tries left" in frames[0]["message"]


def test_fresh_chats_from_one_address_run_out_of_guesses(
    client: TestClient, codes: RecordingCodeSender, bot: ScriptedBot
) -> None:
    """A new chat every three guesses no longer buys three more: the address is counted."""
    names = iter(f"Guess {letter}son" for letter in "abcdefghijklmnop")
    for _ in range(3):  # 9 people who are not patients, in 3 chats
        with client.websocket_connect(WS) as ws:
            ws.receive_json()
            turn(ws, {"type": "message", "text": "show my appointments"})
            for _ in range(3):
                ws.send_text(json.dumps({**JORDAN, "full_name": next(names)}))
                receive_until(ws, "otp_request")
    with client.websocket_connect(WS) as ws:
        hello = ws.receive_json()
        turn(ws, {"type": "message", "text": "show my appointments"})
        ws.send_text(json.dumps({**JORDAN, "full_name": next(names)}))
        receive_until(ws, "otp_request")  # the tenth check of the hour
        # A real patient's details now (a name not tried before): locked, nothing texted.
        frames = bot_turn(ws, JORDAN)
    assert [f.get("code") for f in frames if f["type"] == "error"] == ["identity_locked"]
    assert bot.turns[-1] == (hello["conversation_id"], "/identity_failed")
    assert codes.sent == []


# --- 2. The booking path -------------------------------------------------------------------


def test_booking_links_an_existing_record_only_after_its_code(
    client: TestClient, bot: ScriptedBot, codes: RecordingCodeSender, sqlite_engine: Engine
) -> None:
    with client.websocket_connect(WS) as ws:
        hello = ws.receive_json()
        turn(ws, {"type": "message", "text": "need id"})
        ws.send_text(json.dumps(JORDAN))
        receive_until(ws, "otp_request")
        with Session(sqlite_engine) as db:
            assert db.scalars(select(Conversation.patient_id)).one() is None
        assert bot.turns[-1][1] == "need id"  # the bot is not told yet
        turn(ws, {"type": "otp", "code": codes.sent[-1][1]})
    assert bot.turns[-1] == (hello["conversation_id"], "/identity_provided")
    with Session(sqlite_engine) as db:
        conversation = db.scalars(select(Conversation)).one()
        assert db.get_one(Patient, conversation.patient_id).last_name == "Sample"


def test_an_identity_request_the_conversation_moved_past_is_closed(
    client: TestClient, bot: ScriptedBot, sqlite_engine: Engine
) -> None:
    patients = _count_patients(sqlite_engine)
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        turn(ws, {"type": "message", "text": "need id"})
        turn(ws, {"type": "message", "text": "actually, what are your hours?"})
        ws.send_text(json.dumps({**JORDAN, "full_name": "Made Up", "client_id": "late"}))
        assert ws.receive_json()["code"] == "identity_unexpected"
    assert _count_patients(sqlite_engine) == patients
    assert "/identity_provided" not in [text for _, text in bot.turns]


def test_an_answered_identity_request_cannot_be_answered_again(
    client: TestClient, bot: ScriptedBot, sqlite_engine: Engine
) -> None:
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        turn(ws, {"type": "message", "text": "need id"})
        turn(ws, {**JORDAN, "full_name": "Morgan Newcomer"})  # registers
        ws.send_text(json.dumps({**JORDAN, "full_name": "Another Person", "client_id": "again"}))
        assert ws.receive_json()["code"] == "identity_unexpected"
    with Session(sqlite_engine) as db:
        conversation = db.scalars(select(Conversation)).one()
        assert db.get_one(Patient, conversation.patient_id).last_name == "Newcomer"
        assert db.scalar(select(Patient).where(Patient.last_name == "Person")) is None
    assert [text for _, text in bot.turns].count("/identity_provided") == 1


def test_registrations_are_limited_per_address(
    client: TestClient, bot: ScriptedBot, sqlite_engine: Engine
) -> None:
    patients = _count_patients(sqlite_engine)
    for n in range(3):
        with client.websocket_connect(WS) as ws:
            ws.receive_json()
            turn(ws, {"type": "message", "text": "need id"})
            turn(ws, {**JORDAN, "full_name": f"New Patient{'x' * n}"})
    with client.websocket_connect(WS) as ws:
        hello = ws.receive_json()
        turn(ws, {"type": "message", "text": "need id"})
        frames = bot_turn(ws, {**JORDAN, "full_name": "One More"})
    assert [f.get("code") for f in frames if f["type"] == "error"] == [
        "identity_registration_limited"
    ]
    assert bot.turns[-1] == (hello["conversation_id"], "/identity_failed")  # staff take over
    assert _count_patients(sqlite_engine) == patients + 3


def _count_patients(engine: Engine) -> int:
    with Session(engine) as db:
        return len(db.scalars(select(Patient.id)).all())


# --- 3. Code caps --------------------------------------------------------------------------


def test_a_patient_at_the_hourly_code_cap_is_told_when_to_try_again(
    client: TestClient, codes: RecordingCodeSender
) -> None:
    for _ in range(MAX_CODES_PER_PATIENT_PER_WINDOW):  # one verified task per chat
        _verify_in_a_fresh_chat(client, codes)
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        turn(ws, {"type": "message", "text": "show my appointments"})
        ws.send_text(json.dumps(JORDAN))
        frames = receive_until(ws, "error")
    # The first code was at 10:00 New York time; the cap lifts an hour later.
    assert frames[-1]["code"] == "identity_code_limit"
    assert "try again after 11:00 AM" in frames[-1]["message"]
    assert len(codes.sent) == MAX_CODES_PER_PATIENT_PER_WINDOW


# --- 4. Resume tokens ----------------------------------------------------------------------


def test_a_resume_token_in_the_url_is_refused(client: TestClient) -> None:
    with client.websocket_connect(WS) as ws:
        token = ws.receive_json()["resume_token"]
    with client.websocket_connect(f"{WS}&resume={token}") as ws:
        assert ws.receive_json()["code"] == "resume_invalid"
    with resumed(client, token) as ws:  # the same token, in the first frame, still works
        assert ws.receive_json()["type"] == "session"


def test_each_resume_replaces_the_token(client: TestClient) -> None:
    with client.websocket_connect(WS) as ws:
        first = ws.receive_json()
    with resumed(client, first["resume_token"]) as ws:
        second = ws.receive_json()
    assert second["conversation_id"] == first["conversation_id"]
    assert second["resume_token"] != first["resume_token"]
    with resumed(client, first["resume_token"]) as ws:  # a copied token works once
        assert ws.receive_json()["code"] == "resume_invalid"
    with resumed(client, second["resume_token"]) as ws:
        assert ws.receive_json()["conversation_id"] == first["conversation_id"]


@pytest.mark.parametrize(
    ("busy_for", "then_idle"),
    [
        (timedelta(0), RESUME_IDLE),
        (RESUME_LIFETIME - timedelta(minutes=10), timedelta(minutes=10)),
    ],
    ids=["idle", "absolute"],
)
def test_resume_tokens_expire(
    client: TestClient, clock: Clock, busy_for: timedelta, then_idle: timedelta
) -> None:
    with client.websocket_connect(WS) as ws:
        token = ws.receive_json()["resume_token"]
    # A chat in use every 20 minutes resumes fine, up to its absolute lifetime ...
    while clock.now < NOW + busy_for:
        clock.now = min(clock.now + timedelta(minutes=20), NOW + busy_for)
        with resumed(client, token) as ws:
            token = ws.receive_json()["resume_token"]
            turn(ws, {"type": "message", "text": "still here"})
            # Before the clock jumps: a turn still queued would look 20 minutes unanswered.
            settle_turns(app_of(client))
    # ... and its token dies once it sat idle too long, or grew too old, not a minute before.
    clock.now += then_idle - timedelta(minutes=1)
    with resumed(client, token) as ws:
        token = ws.receive_json()["resume_token"]
    clock.now += timedelta(minutes=1)
    with resumed(client, token) as ws:
        assert ws.receive_json()["code"] == "resume_invalid"
    clock.now -= timedelta(minutes=2)  # the refused token is gone for good
    with resumed(client, token) as ws:
        assert ws.receive_json()["code"] == "resume_invalid"


def test_a_resumed_socket_must_verify_again(
    client: TestClient, codes: RecordingCodeSender, sqlite_engine: Engine
) -> None:
    with client.websocket_connect(WS) as ws:
        token = ws.receive_json()["resume_token"]
        turn(ws, {"type": "message", "text": "show my appointments"})
        ws.send_text(json.dumps(JORDAN))
        receive_until(ws, "otp_request")
        turn(ws, {"type": "otp", "code": codes.sent[-1][1]})
    with Session(sqlite_engine) as db:
        assert db.scalars(select(Conversation.identity_verified_at)).one() is not None
    with resumed(client, token) as ws:
        assert ws.receive_json()["type"] == "session"
    with Session(sqlite_engine) as db:
        assert db.scalars(select(Conversation.identity_verified_at)).one() is None


def test_after_a_resume_the_earlier_socket_can_no_longer_verify_the_chat(
    client: TestClient, codes: RecordingCodeSender, sqlite_engine: Engine
) -> None:
    """A copied token resumed elsewhere: a code the first socket asked for opens nothing."""
    with client.websocket_connect(WS) as first:
        token = first.receive_json()["resume_token"]
        turn(first, {"type": "message", "text": "show my appointments"})
        first.send_text(json.dumps(JORDAN))
        receive_until(first, "otp_request")
        with resumed(client, token) as second:
            assert second.receive_json()["type"] == "session"
            first.send_text(json.dumps({"type": "otp", "code": codes.sent[-1][1]}))
            assert receive_until(first, "error")[-1]["code"] == "resumed_elsewhere"
            second.send_text(json.dumps({"type": "otp", "code": codes.sent[-1][1]}))
            assert receive_until(second, "error")[-1]["code"] == "otp_expired"
    with Session(sqlite_engine) as db:
        conversation = db.scalars(select(Conversation)).one()
        assert conversation.patient_id is None and conversation.identity_verified_at is None


# --- 5. Per-address limits -----------------------------------------------------------------


def test_open_sockets_are_limited_per_address(client: TestClient) -> None:
    client.app.state.webchat_sockets = SocketCounter(limit=2)  # type: ignore[attr-defined]
    with client.websocket_connect(WS) as one, client.websocket_connect(WS) as two:
        assert one.receive_json()["type"] == two.receive_json()["type"] == "session"
        with client.websocket_connect(WS) as three:
            assert three.receive_json()["code"] == "too_many_connections"
    with client.websocket_connect(WS) as again:  # closing frees the place
        assert again.receive_json()["type"] == "session"


def test_a_resuming_socket_that_sends_no_token_frees_its_place(client: TestClient) -> None:
    client.app.state.webchat_sockets = SocketCounter(limit=1)  # type: ignore[attr-defined]
    with client.websocket_connect(f"{WS}&resume=1") as ws:
        ws.send_text(json.dumps({"type": "message", "text": "hi"}))  # not a resume frame
        assert ws.receive_json()["code"] == "resume_invalid"
    with client.websocket_connect(f"{WS}&resume=1"):
        pass  # gone before sending anything
    with client.websocket_connect(WS) as ws:
        assert ws.receive_json()["type"] == "session"


def test_new_conversations_are_limited_per_address(
    client: TestClient, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_NEW_CONVERSATIONS", ((2, timedelta(hours=1)),))
    tokens = []
    for _ in range(2):
        with client.websocket_connect(WS) as ws:
            tokens.append(ws.receive_json()["resume_token"])
    with client.websocket_connect(WS) as ws:
        refused = ws.receive_json()
    assert refused["code"] == "too_many_conversations"
    with resumed(client, tokens[0]) as ws:  # an ongoing conversation still resumes
        assert ws.receive_json()["type"] == "session"
    clock.now = NOW + timedelta(hours=1, minutes=1)
    with client.websocket_connect(WS) as ws:
        assert ws.receive_json()["type"] == "session"
