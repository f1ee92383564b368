"""The web chat entry point, through HTTP and WebSocket, with Rasa replaced by a double
that answers through the real callback endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from connectors import dispatcher, rasa_internal
from frontdesk import texts
from frontdesk.app import create_app
from frontdesk.conversations.models import PatientTurn, TurnState
from frontdesk.db import make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.language import Language
from frontdesk.models import Conversation, Message, Patient
from frontdesk.settings import Settings
from tests.conftest import AT_NOW, NOW
from tests.doubles import DownBot, FlakyBot, ScriptedBot
from tests.support.apps import app_of, services_of, settle_turns

WAITING_NOTICE = texts.text(dispatcher.WAITING_NOTICE, "en")
ACTION_FAILED_TEXT = texts.text(rasa_internal.ACTION_FAILED_TEXT, "en")

TOKEN = "internal-test-token"
RASA_AUTH = {"Authorization": f"Bearer {TOKEN}"}  # as bot/endpoints.yml sends it
WS = "/chat/ws?practice=riverside"


def offer(text: str) -> list[dict[str, Any]]:
    if "book" in text:
        return [
            {
                "text": "What kind of visit do you need?",
                "buttons": [
                    {"title": "Sick visit", "payload": '/inform{"visit_type":"sick-visit"}'},
                    {
                        "title": "Annual physical",
                        "payload": '/inform{"visit_type":"annual-physical"}',
                    },
                ],
            }
        ]
    if text == "/identity_provided":
        return [{"text": "Thanks, found you."}]
    if text == "need id":
        return [
            {"text": "Please verify."},
            {"custom": {"type": "identity_request", "reason": "to book"}},
        ]
    if text == "show my appointments":
        return [
            {"text": "First I need to make sure it's you."},
            {"custom": {"type": "identity_request", "purpose": "verify", "reason": "to look"}},
        ]
    return [{"text": f"you said: {text}"}]


@pytest.fixture
def bot() -> ScriptedBot:
    return ScriptedBot(offer)


class RecordingCodeSender:
    """Stands in for the SMS outbox: keeps the codes that would have been texted."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.languages: list[Language] = []

    def send_code(
        self, *, session: Session, practice_id: int, phone: str, code: str, language: Language
    ) -> None:
        self.sent.append((phone, code))
        self.languages.append(language)


@pytest.fixture
def codes() -> RecordingCodeSender:
    return RecordingCodeSender()


def _client(
    engine: Engine, bot: ScriptedBot, tmp_path: Path, codes: RecordingCodeSender | None = None
) -> Iterator[TestClient]:
    with session_scope(make_session_factory(engine, clock=AT_NOW)) as db:
        seed_demo(db)
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        internal_token=TOKEN,
        rasa_token="rasa-test-token",
        secret_key="secret-test-key",
        allowed_hosts="testserver",  # the TestClient's Host header
        max_message_chars=1000,
    )
    app = create_app(settings, engine=engine, bot=bot, clock=lambda: NOW)
    app.state.code_sender = codes or RecordingCodeSender()
    bot.attach(app, TOKEN)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def client(
    sqlite_engine: Engine, bot: ScriptedBot, tmp_path: Path, codes: RecordingCodeSender
) -> Iterator[TestClient]:
    yield from _client(sqlite_engine, bot, tmp_path, codes)


def turn(ws: WebSocketTestSession, frame: dict[str, Any]) -> list[dict[str, Any]]:
    """Send a frame; collect frames until the bot's turn ends (or an error arrives)."""
    ws.send_text(json.dumps(frame))
    frames = []
    while True:
        received = ws.receive_json()
        frames.append(received)
        if received["type"] == "error" or (received["type"] == "typing" and not received["active"]):
            return frames


@contextmanager
def resumed(client: TestClient, token: str) -> Iterator[WebSocketTestSession]:
    """A socket that resumes a conversation: the token goes in the first frame, not the URL."""
    with client.websocket_connect(f"{WS}&resume=1") as ws:
        ws.send_text(json.dumps({"type": "resume", "token": token}))
        yield ws


def count(engine: Engine, model: Any) -> int:
    with Session(engine) as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_a_message_is_stored_acknowledged_and_answered_with_buttons(
    client: TestClient, bot: ScriptedBot, sqlite_engine: Engine
) -> None:
    with client.websocket_connect(WS) as ws:
        hello = ws.receive_json()
        assert hello["type"] == "session"
        assert hello["practice"] == {"slug": "riverside", "name": "Riverside Family Medicine"}
        assert hello["conversation_id"].startswith("c_") and hello["resume_token"]
        frames = turn(ws, {"type": "message", "text": "I want to book 🙂", "client_id": "m1"})
    kinds = [f["type"] for f in frames]
    # The first words decide the conversation's language, which the widget labels follow.
    assert kinds == ["ack", "language", "typing", "message", "typing"]
    assert frames[1] == {"type": "language", "language": "en"}
    frames.pop(1)
    message = frames[2]
    assert message["role"] == "bot"
    assert [b["title"] for b in message["buttons"]] == ["Sick visit", "Annual physical"]
    assert bot.turns == [(hello["conversation_id"], "I want to book 🙂")]
    with Session(sqlite_engine) as db:
        rows = db.scalars(select(Message).order_by(Message.id)).all()
        assert [(m.role.value, m.text) for m in rows] == [
            ("patient", "I want to book 🙂"),
            ("bot", "What kind of visit do you need?"),
        ]


def test_a_resent_frame_is_acknowledged_but_handled_once(
    client: TestClient, bot: ScriptedBot, sqlite_engine: Engine
) -> None:
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        turn(ws, {"type": "message", "text": "hello", "client_id": "same"})
        ws.send_text(json.dumps({"type": "message", "text": "hello", "client_id": "same"}))
        assert ws.receive_json() == {"type": "ack", "client_id": "same"}
        turn(ws, {"type": "message", "text": "next", "client_id": "other"})
    assert [t for _, t in bot.turns] == ["hello", "next"]
    assert count(sqlite_engine, Message) == 4


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "bad_frame"),
        ("[1, 2]", "bad_frame"),
        (json.dumps({"type": "message", "text": 5}), "bad_frame"),
        (json.dumps({"type": "message", "text": "   "}), "empty_message"),
        (json.dumps({"type": "message", "text": "x" * 5000}), "message_too_long"),
        (json.dumps({"type": "launch_missiles"}), "bad_frame"),
        (json.dumps({"type": "message", "text": "hi", "client_id": "x" * 200}), "bad_frame"),
    ],
)
def test_bad_frames_get_a_clear_error_and_the_socket_stays_usable(
    client: TestClient, bot: ScriptedBot, sqlite_engine: Engine, raw: str, code: str
) -> None:
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        ws.send_text(raw)
        error = ws.receive_json()
        assert error["type"] == "error" and error["code"] == code and error["message"]
        frames = turn(ws, {"type": "message", "text": "still there?", "client_id": "ok"})
        assert frames[-2]["text"] == "you said: still there?"
    assert [t for _, t in bot.turns] == ["still there?"]
    assert count(sqlite_engine, Message) == 2


def test_unknown_practice_is_refused(client: TestClient) -> None:
    with client.websocket_connect("/chat/ws?practice=nope") as ws:
        assert ws.receive_json()["code"] == "practice_unknown"
        with pytest.raises(WebSocketDisconnect):
            ws.receive_json()


def test_resume_replays_history_and_a_bad_token_is_refused(client: TestClient) -> None:
    with client.websocket_connect(WS) as ws:
        hello = ws.receive_json()
        turn(ws, {"type": "message", "text": "book please", "client_id": "1"})
    with resumed(client, hello["resume_token"]) as ws:
        again = ws.receive_json()
        assert again["conversation_id"] == hello["conversation_id"]
        history = ws.receive_json()
        assert history["type"] == "history"
        assert [(m["role"], m["text"]) for m in history["messages"]] == [
            ("patient", "book please"),
            ("bot", "What kind of visit do you need?"),
        ]
        assert len(history["messages"][1]["buttons"]) == 2
    with resumed(client, "forged") as ws:
        assert ws.receive_json()["code"] == "resume_invalid"


def test_only_offered_payloads_reach_the_bot(client: TestClient, bot: ScriptedBot) -> None:
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        turn(
            ws,
            {
                "type": "message",
                "text": "forged",
                "payload": '/inform{"slot_choice":"1@20261201T2000Z"}',
            },
        )
        turn(ws, {"type": "message", "text": "/ /request_human"})
        turn(ws, {"type": "message", "text": "/book_appointment"})
        turn(
            ws,
            {
                "type": "message",
                "text": "Sick visit",
                "payload": '/inform{"visit_type":"sick-visit"}',
            },
        )
    assert [t for _, t in bot.turns] == [
        "forged",
        "request_human",
        "book_appointment",
        '/inform{"visit_type":"sick-visit"}',
    ]


def test_identity_form_links_the_patient_without_telling_the_bot_who(
    client: TestClient, bot: ScriptedBot, sqlite_engine: Engine, codes: RecordingCodeSender
) -> None:
    with client.websocket_connect(WS) as ws:
        hello = ws.receive_json()
        frames = turn(ws, {"type": "message", "text": "need id"})
        assert {"type": "identity_request", "reason": "to book"} in frames
        ws.send_text(
            json.dumps(
                {"type": "identity", "full_name": "Jordan Sample", "date_of_birth": "2999-01-01"}
            )
        )
        assert ws.receive_json()["code"] == "identity_invalid"
        assert ws.receive_json()["type"] == "identity_request"
        ws.send_text(
            json.dumps(
                {
                    "type": "identity",
                    "full_name": " jordan  SAMPLE ",
                    "date_of_birth": "1985-04-12",
                    "client_id": "id1",
                }
            )
        )
        frames = receive_until(ws, "otp_request")
        assert frames[0] == {"type": "ack", "client_id": "id1"}
        turn(ws, {"type": "otp", "code": codes.sent[-1][1]})
    assert bot.turns[-1] == (hello["conversation_id"], "/identity_provided")
    assert all("Jordan" not in text and "1985" not in text for _, text in bot.turns)
    with Session(sqlite_engine) as db:
        conversation = db.scalars(select(Conversation)).one()
        patient = db.get_one(Patient, conversation.patient_id)
        assert (patient.first_name, patient.last_name) == (
            "Jordan",
            "Sample",
        )  # matched, not duplicated
    assert count(sqlite_engine, Patient) == 3  # matched, not duplicated


def test_when_the_bot_is_down_the_message_is_kept(sqlite_engine: Engine, tmp_path: Path) -> None:
    down = DownBot()
    for client in _client(sqlite_engine, down, tmp_path):
        with client.websocket_connect(WS) as ws:
            ws.receive_json()
            frames = turn(ws, {"type": "message", "text": "anyone there?", "client_id": "a"})
        assert frames[0] == {"type": "ack", "client_id": "a"}
        # Accepted and kept in the queue; the patient hears "one moment", not an error.
        assert [f["text"] for f in frames if f["type"] == "message"] == [WAITING_NOTICE]
        assert not any(f["type"] == "error" for f in frames)
        assert client.get("/healthz").json()["bot"] == "unavailable"
    assert count(sqlite_engine, Message) == 2  # the patient's message and the notice
    with Session(sqlite_engine) as db:
        assert db.scalars(select(PatientTurn.state)).all() == [TurnState.QUEUED]


def test_callback_endpoint_requires_the_token_and_json(client: TestClient) -> None:
    body = {"recipient_id": "c_x", "text": "hi"}
    assert client.post("/internal/rasa/callback", json=body).status_code == 403
    assert (
        client.post(
            "/internal/rasa/callback", headers={"Authorization": "Bearer wrong"}, json=body
        ).status_code
        == 403
    )
    bad = client.post("/internal/rasa/callback", headers=RASA_AUTH, content=b"{oops")
    assert bad.status_code == 400
    unknown = client.post("/internal/rasa/callback", headers=RASA_AUTH, json=body)
    assert unknown.json() == {"stored": False}


def test_a_bot_message_ending_a_sentence_in_an_abbreviation_keeps_one_period(
    client: TestClient, sqlite_engine: Engine
) -> None:
    # Rasa fills "{appointment}. ¡Nos vemos!" with a Spanish time that ends in "p. m.".
    with client.websocket_connect(WS) as ws:
        public_id = ws.receive_json()["conversation_id"]
        said = "Gracias, su cita quedó confirmada: el sáb a la 1:45 p. m.. ¡Nos vemos!"
        answer = client.post(
            "/internal/rasa/callback",
            headers=RASA_AUTH,
            json={"recipient_id": public_id, "text": said},
        )
        assert answer.json() == {"stored": True}
        frame = ws.receive_json()
    expected = "Gracias, su cita quedó confirmada: el sáb a la 1:45 p. m. ¡Nos vemos!"
    assert frame["text"] == expected
    with Session(sqlite_engine) as db:
        assert db.scalars(select(Message.text).where(Message.text.like("Gracias%"))).all() == [
            expected
        ]


def test_action_endpoint_requires_the_token(client: TestClient) -> None:
    call = {"next_action": "action_ask_visit_type", "tracker": {}, "domain": {}}
    assert client.post("/internal/rasa/actions", json=call).status_code == 403
    missing = client.post(
        "/internal/rasa/actions",
        headers=RASA_AUTH,
        json={"next_action": "nope", "tracker": {}},
    )
    assert missing.status_code == 404


def test_health_widget_and_demo_are_served(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["database"] == "ok" and health["bot"] == "ready"
    widget = client.get("/widget.js")
    assert widget.status_code == 200 and "javascript" in widget.headers["content-type"]
    demo = client.get("/demo")
    assert demo.status_code == 200 and 'data-practice="riverside"' in demo.text


def test_open_slots_api(client: TestClient) -> None:
    slots = client.get(
        "/api/practices/riverside/open-slots",
        params={"visit_type": "sick visit", "when": "next tue after 3"},
    )
    assert slots.status_code == 200
    body = slots.json()
    assert len(body) == 3 and all(s["local_start"].startswith("2026-12-01T") for s in body)
    assert (
        client.get("/api/practices/riverside/open-slots", params={"visit_type": "x"}).status_code
        == 422
    )
    past = client.get(
        "/api/practices/riverside/open-slots",
        params={"visit_type": "sick visit", "when": "yesterday"},
    )
    assert past.status_code == 422 and past.json()["detail"]["reason"] == "in_past"
    assert client.get("/api/practices/nope").status_code == 404
    info = client.get("/api/practices/riverside").json()
    assert len(info["visit_types"]) == 3 and len(info["providers"]) == 2


def test_emergency_wording_reaches_the_bot_as_the_emergency_intent(
    client: TestClient, bot: ScriptedBot, sqlite_engine: Engine
) -> None:
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        turn(ws, {"type": "message", "text": "my husband collapsed and isn't breathing"})
    assert [t for _, t in bot.turns] == ["/medical_emergency"]
    with Session(sqlite_engine) as db:  # what the patient wrote is kept as written
        assert (
            db.scalars(select(Message.text)).first() == "my husband collapsed and isn't breathing"
        )


def test_a_failing_action_answers_with_an_apology_not_silence(client: TestClient) -> None:
    call = {
        "next_action": "action_ask_visit_type",
        "sender_id": "c_nobody",
        "tracker": {"sender_id": "c_nobody", "slots": {}, "latest_message": {}, "events": []},
        "domain": {"version": "3.1"},
        "version": "3.6.21",
    }
    response = client.post("/internal/rasa/actions", headers=RASA_AUTH, json=call)
    assert response.status_code == 200
    assert response.json() == {"events": [], "responses": [{"text": ACTION_FAILED_TEXT}]}


def test_a_message_the_bot_never_got_is_answered_once_when_it_is_back(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    flaky = FlakyBot(failures=1)
    for client in _client(sqlite_engine, flaky, tmp_path):
        with client.websocket_connect(WS) as ws:
            hello = ws.receive_json()
            frames = turn(ws, {"type": "message", "text": "book me in", "client_id": "k1"})
            assert [f["text"] for f in frames if f["type"] == "message"] == [WAITING_NOTICE]
            # A resend of a queued message is only acknowledged: it is not queued twice.
            ws.send_text(json.dumps({"type": "message", "text": "book me in", "client_id": "k1"}))
            assert ws.receive_json() == {"type": "ack", "client_id": "k1"}
            services = services_of(client)
            services.clock = lambda: NOW + timedelta(minutes=1)  # the retry is due
            services.wake_turns()
            frames = [ws.receive_json() for _ in range(3)]
            assert frames[0] == {"type": "typing", "active": True}
            assert frames[1]["text"] == "you said: book me in", frames
            assert frames[2] == {"type": "typing", "active": False}
            settle_turns(app_of(client))
    assert flaky.turns == [
        (hello["conversation_id"], "(lost) book me in"),
        (hello["conversation_id"], "book me in"),
    ]
    assert count(sqlite_engine, Message) == 3  # the patient's message, the notice, the reply


def test_history_frames_carry_ids_for_deduplication(client: TestClient) -> None:
    with client.websocket_connect(WS) as ws:
        hello = ws.receive_json()
        live = turn(ws, {"type": "message", "text": "hello", "client_id": "h1"})
    with resumed(client, hello["resume_token"]) as ws:
        ws.receive_json()
        history = ws.receive_json()["messages"]
    assert history[0]["client_id"] == "h1" and isinstance(history[0]["id"], int)
    [bot_message] = [f for f in live if f["type"] == "message"]
    assert history[1]["id"] == bot_message["id"] and history[1]["id"] > history[0]["id"]


def test_a_failing_form_validator_clears_the_slot_it_could_not_check(client: TestClient) -> None:
    call = {
        "next_action": "validate_book_appointment_form",
        "sender_id": "c_nobody",
        "tracker": {
            "sender_id": "c_nobody",
            "slots": {"requested_slot": "slot_choice", "slot_choice": "the one at 4"},
            "latest_message": {"intent": {"name": "inform"}, "entities": [], "text": "x"},
            # The conversation is unknown to the service, so validating this value fails.
            "events": [
                {"event": "user", "text": "the one at 4", "parse_data": {}},
                {"event": "slot", "name": "slot_choice", "value": "the one at 4"},
            ],
            "active_loop": {"name": "book_appointment_form"},
        },
        "domain": {
            "version": "3.1",
            "forms": {"book_appointment_form": {"required_slots": ["slot_choice"]}},
        },
        "version": "3.6.21",
    }
    body = client.post("/internal/rasa/actions", headers=RASA_AUTH, json=call).json()
    assert body["responses"] == [{"text": ACTION_FAILED_TEXT}]
    assert [(e["event"], e["name"], e["value"]) for e in body["events"]] == [
        ("slot", "slot_choice", None)
    ]


def test_a_binary_frame_is_refused_and_the_socket_stays_usable(
    client: TestClient, bot: ScriptedBot
) -> None:
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        ws.send_bytes(b"\x00\x01 not json")
        assert ws.receive_json()["code"] == "bad_frame"
        frames = turn(ws, {"type": "message", "text": "hello again"})
    assert frames[-2]["text"] == "you said: hello again"


# --- Verified identity: name + date of birth, then a one-time code -----------------------

JORDAN = {"type": "identity", "full_name": "Jordan Sample", "date_of_birth": "1985-04-12"}


def receive_until(ws: WebSocketTestSession, kind: str) -> list[dict[str, Any]]:
    """Frames up to and including the first of type `kind`."""
    frames = []
    while True:
        frames.append(ws.receive_json())
        if frames[-1]["type"] == kind:
            return frames


def bot_turn(ws: WebSocketTestSession, frame: dict[str, Any]) -> list[dict[str, Any]]:
    """Send a frame; collect every frame until the bot's turn ends, errors included."""
    ws.send_text(json.dumps(frame))
    frames = []
    while True:
        frames.append(ws.receive_json())
        if frames[-1] == {"type": "typing", "active": False}:
            return frames


def test_a_code_to_the_phone_on_file_verifies_and_rasa_hears_only_that_it_did(
    client: TestClient, bot: ScriptedBot, codes: RecordingCodeSender, sqlite_engine: Engine
) -> None:
    with client.websocket_connect(WS) as ws:
        hello = ws.receive_json()
        frames = turn(ws, {"type": "message", "text": "show my appointments"})
        assert any(f["type"] == "identity_request" for f in frames)
        ws.send_text(json.dumps({**JORDAN, "client_id": "id1"}))
        frames = receive_until(ws, "otp_request")
        assert frames[0] == {"type": "ack", "client_id": "id1"}
        assert "masked_phone" not in frames[-1] and "01" not in frames[-1]["reason"]
        ((phone, code),) = codes.sent
        assert phone == "+15555550101"
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        ws.send_text(json.dumps({"type": "otp", "code": wrong, "client_id": "o1"}))
        frames = receive_until(ws, "otp_request")
        assert frames[0] == {"type": "ack", "client_id": "o1"}
        assert frames[1]["code"] == "otp_wrong" and "4 tries left" in frames[1]["message"]
        assert frames[2]["attempts_left"] == 4
        with Session(sqlite_engine) as db:
            assert db.scalars(select(Conversation)).one().identity_verified_at is None
        frames = turn(ws, {"type": "otp", "code": f" {code} ", "client_id": "o2"})
        assert frames[0] == {"type": "ack", "client_id": "o2"}
    assert bot.turns[-1] == (hello["conversation_id"], "/identity_provided")
    sent_to_bot = " ".join(text for _, text in bot.turns)
    assert "Jordan" not in sent_to_bot and "1985" not in sent_to_bot and code not in sent_to_bot
    with Session(sqlite_engine) as db:
        conversation = db.scalars(select(Conversation)).one()
        assert conversation.identity_verified_at is not None
        assert db.get_one(Patient, conversation.patient_id).last_name == "Sample"


def test_unknown_details_are_retried_then_lock_and_the_bot_escalates(
    client: TestClient, bot: ScriptedBot, codes: RecordingCodeSender
) -> None:
    stranger = {**JORDAN, "date_of_birth": "1985-04-13"}
    with client.websocket_connect(WS) as ws:
        hello = ws.receive_json()
        turn(ws, {"type": "message", "text": "show my appointments"})
        for attempt in range(3):
            ws.send_text(json.dumps({**stranger, "client_id": f"s{attempt}"}))
            frames = receive_until(ws, "otp_request")  # as if found; nothing is texted
            assert [f["type"] for f in frames] == ["ack", "otp_request"]
        frames = bot_turn(ws, {**stranger, "client_id": "s3"})
        assert [f.get("code") for f in frames if f["type"] == "error"] == ["identity_locked"]
    assert bot.turns[-1] == (hello["conversation_id"], "/identity_failed")
    assert codes.sent == []


def test_five_wrong_codes_lock_and_the_bot_escalates(
    client: TestClient, bot: ScriptedBot, codes: RecordingCodeSender
) -> None:
    with client.websocket_connect(WS) as ws:
        hello = ws.receive_json()
        turn(ws, {"type": "message", "text": "show my appointments"})
        ws.send_text(json.dumps(JORDAN))
        receive_until(ws, "otp_request")
        code = codes.sent[0][1]
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        for _ in range(4):
            ws.send_text(json.dumps({"type": "otp", "code": wrong}))
            receive_until(ws, "otp_request")
        frames = bot_turn(ws, {"type": "otp", "code": wrong})
        assert frames[0]["code"] == "identity_locked"
        # The right code is refused once locked.
        frames = bot_turn(ws, {"type": "otp", "code": code})
        assert frames[0]["code"] == "identity_locked"
    assert [t for _, t in bot.turns].count("/identity_failed") == 2
    assert "/identity_provided" not in [t for _, t in bot.turns]
    assert bot.turns[-1][0] == hello["conversation_id"]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "otp", "code": "12ab56", "client_id": "x"}, "otp_invalid"),
        ({"type": "otp", "code": 123456, "client_id": "x"}, "otp_invalid"),
        ({"type": "otp", "code": "1" * 5000, "client_id": "x"}, "otp_invalid"),
        ({"type": "otp", "code": "123456", "client_id": "x"}, "otp_expired"),
    ],
)
def test_bad_or_unexpected_codes_get_a_clear_error(
    client: TestClient, bot: ScriptedBot, frame: dict[str, Any], code: str
) -> None:
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        ws.send_text(json.dumps(frame))
        frames = receive_until(ws, "error")
        assert frames[-1]["code"] == code
        # The socket stays usable.
        assert turn(ws, {"type": "message", "text": "hello"})[-2]["text"] == "you said: hello"
    assert bot.turns[-1][1] == "hello"


def test_a_new_patient_registers_for_booking_without_a_code(
    client: TestClient, bot: ScriptedBot, codes: RecordingCodeSender, sqlite_engine: Engine
) -> None:
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        turn(ws, {"type": "message", "text": "need id"})
        frames = turn(ws, {**JORDAN, "full_name": "Morgan Newcomer", "client_id": "n1"})
        assert frames[0] == {"type": "ack", "client_id": "n1"}
    assert codes.sent == []
    assert bot.turns[-1][1] == "/identity_provided"
    with Session(sqlite_engine) as db:
        conversation = db.scalars(select(Conversation)).one()
        # The fresh record holds only what they typed: theirs to use at once.
        patient = db.get_one(Patient, conversation.patient_id)
        assert (patient.first_name, patient.last_name) == ("Morgan", "Newcomer")
        assert conversation.identity_verified_at is not None


def test_new_chats_cannot_flood_a_patients_phone_with_codes(
    client: TestClient, bot: ScriptedBot, codes: RecordingCodeSender
) -> None:
    from frontdesk.patients.verification import MAX_CODES_PER_PATIENT_PER_WINDOW

    # Someone who knows Jordan's name and birthday opens one fresh chat after another.
    for _ in range(MAX_CODES_PER_PATIENT_PER_WINDOW):
        with client.websocket_connect(WS) as ws:
            ws.receive_json()
            turn(ws, {"type": "message", "text": "show my appointments"})
            ws.send_text(json.dumps(JORDAN))
            assert receive_until(ws, "otp_request")[-1]["type"] == "otp_request"
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        turn(ws, {"type": "message", "text": "show my appointments"})
        # The usual answer (a stranger learns nothing), but no further text to Jordan.
        ws.send_text(json.dumps(JORDAN))
        assert receive_until(ws, "otp_request")[-1]["type"] == "otp_request"
    assert len(codes.sent) == MAX_CODES_PER_PATIENT_PER_WINDOW


def test_an_identity_frame_nobody_asked_for_is_refused(
    client: TestClient, bot: ScriptedBot, codes: RecordingCodeSender, sqlite_engine: Engine
) -> None:
    patients = count(sqlite_engine, Patient)
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        for n in range(3):  # a script registering made-up patients, or claiming to be one
            frame = {"type": "identity", "full_name": f"Made Up{'x' * n}", "client_id": f"i{n}"}
            ws.send_text(json.dumps({**frame, "date_of_birth": "1990-01-02"}))
            assert ws.receive_json() == {
                "type": "error",
                "code": "identity_unexpected",
                "message": "Please tell us what you need first; we'll ask for your details then.",
                "client_id": f"i{n}",
            }
        ws.send_text(json.dumps(JORDAN))
        assert ws.receive_json()["code"] == "identity_unexpected"
    assert count(sqlite_engine, Patient) == patients
    assert bot.turns == [] and codes.sent == []
