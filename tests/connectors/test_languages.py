"""The service's own texts follow the conversation's language on both channels: the identity
answers and the code text of the web chat, the SMS "one moment" notice. English is unchanged."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from connectors import dispatcher
from frontdesk import texts
from frontdesk.app import create_app
from frontdesk.conversations.models import Conversation
from frontdesk.db import make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.language import Language
from frontdesk.patients.models import Patient
from frontdesk.settings import Settings
from frontdesk.sms.models import OutboundSms
from frontdesk.sms.text import segment_info
from tests.conftest import AT_NOW, NOW
from tests.connectors.test_twilio_sms import PATIENT, make_client, send_outbox, text_in
from tests.connectors.test_webchat import JORDAN, TOKEN, WS, receive_until, turn
from tests.doubles import DownBot, ScriptedBot
from tests.support.apps import app_of, settle_turns
from tests.twilio_fake import TwilioFake, running_fake

SPANISH_ASK = "hola buenas tardes, quiero ver mis citas por favor"
SHORT_SPANISH_ASK = "cuanto debo?"  # too short for the detector to tell
ENGLISH_ASK = "hi there, I would like to see my appointments please"


def asks_for_identity(text: str) -> list[dict[str, Any]]:
    if text in (SPANISH_ASK, ENGLISH_ASK, SHORT_SPANISH_ASK):
        return [{"custom": {"type": "identity_request", "purpose": "verify", "reason": "-"}}]
    return [{"text": "ok"}]


@pytest.fixture
def web(sqlite_engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    """The web chat with the real code sender: codes go to the SMS outbox (sandbox transport)."""
    with session_scope(make_session_factory(sqlite_engine, clock=AT_NOW)) as db:
        seed_demo(db)
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        internal_token=TOKEN,
        rasa_token="rasa-test-token",
        secret_key="secret-test-key",
        allowed_hosts="testserver",
    )
    bot = ScriptedBot(asks_for_identity)
    app = create_app(settings, engine=sqlite_engine, bot=bot, clock=lambda: NOW)
    bot.attach(app, TOKEN)
    with TestClient(app) as client:
        yield client


def code_texts(engine: Engine) -> list[str]:
    with Session(engine) as db:
        return list(
            db.scalars(select(OutboundSms.body).where(OutboundSms.kind == "otp").order_by("id"))
        )


@pytest.mark.parametrize(
    ("ask", "language", "wrong_code_words"),
    [(SPANISH_ASK, "es", "le quedan 4 intentos"), (ENGLISH_ASK, "en", "4 tries left")],
)
def test_the_identity_answers_and_the_code_text_are_in_the_chats_language(
    web: TestClient, sqlite_engine: Engine, ask: str, language: str, wrong_code_words: str
) -> None:
    with web.websocket_connect(WS) as ws:
        ws.receive_json()
        frames = turn(ws, {"type": "message", "text": ask})
        assert any(f["type"] == "identity_request" for f in frames)
        ws.send_text(json.dumps(JORDAN))
        otp = receive_until(ws, "otp_request")[-1]
        assert otp["reason"] == texts.text("identity.code_sent", language)
        [code_text] = code_texts(sqlite_engine)
        code = next(word for word in code_text.split() if word.rstrip(".").isdigit()).rstrip(".")
        assert code_text == texts.for_sms(texts.text("verification.code_text", language, code=code))
        assert segment_info(code_text).encoding == "GSM-7"
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        ws.send_text(json.dumps({"type": "otp", "code": wrong}))
        frames = receive_until(ws, "otp_request")
        [error] = [f for f in frames if f["type"] == "error"]
        assert error["code"] == "otp_wrong" and wrong_code_words in error["message"]
        assert frames[-1]["reason"] == texts.text("identity.code_sent", language)
    with Session(sqlite_engine) as db:
        assert db.scalars(select(Conversation)).one().language == language


def test_a_spanish_chats_refused_identity_frame_is_answered_in_spanish(web: TestClient) -> None:
    with web.websocket_connect(WS) as ws:
        ws.receive_json()
        turn(ws, {"type": "message", "text": "hola, necesito una cita para mi hijo por favor"})
        frames = turn(ws, {**JORDAN})  # nobody asked for it
        [error] = [f for f in frames if f["type"] == "error"]
        assert error["message"] == texts.text("identity.not_asked_yet", "es")
        frames = turn(ws, {"type": "otp", "code": "12"})
        [error] = [f for f in frames if f["type"] == "error"]
        assert error["message"] == texts.text("identity.enter_code", "es")


@pytest.fixture(scope="module")
def fake() -> Iterator[TwilioFake]:
    with running_fake() as served:
        yield served


@pytest.mark.parametrize(
    ("first_text", "language"),
    [
        ("hola buenas tardes, necesito cambiar mi cita de mañana", "es"),
        ("hello, I need to change my appointment for tomorrow", "en"),
    ],
)
def test_the_sms_one_moment_notice_is_in_the_patients_language(
    sqlite_engine: Engine, fake: TwilioFake, tmp_path: Path, first_text: str, language: str
) -> None:
    for client in make_client(sqlite_engine, DownBot(), fake, tmp_path):
        text_in(client, first_text)
        settle_turns(app_of(client))
        assert send_outbox(client) == 1
        [notice] = [m["body"] for m in fake.messages]
        assert notice == texts.for_sms(texts.text(dispatcher.WAITING_NOTICE, language))
        assert segment_info(notice).encoding == "GSM-7"


def test_a_spanish_chats_refused_frames_are_answered_in_spanish(web: TestClient) -> None:
    limit = app_of(web).state.services.settings.max_message_chars
    with web.websocket_connect(WS) as ws:
        ws.receive_json()
        turn(ws, {"type": "message", "text": "hola, necesito una cita para mi hijo por favor"})
        frames = turn(ws, {"type": "message", "text": "x" * (limit + 1)})
        assert frames[-1]["code"] == "message_too_long"
        assert frames[-1]["message"] == texts.text(
            "chat.too_long", "es", length=limit + 1, limit=limit
        )
        frames = turn(ws, {"type": "message", "text": "   "})
        assert frames[-1]["message"] == texts.text("chat.empty", "es")
        frames = turn(ws, {"type": "nonsense"})
        assert frames[-1]["message"] == texts.text("chat.unreadable", "es")


def test_an_english_chats_refused_frame_is_answered_in_english(web: TestClient) -> None:
    with web.websocket_connect(WS) as ws:
        ws.receive_json()
        turn(ws, {"type": "message", "text": "hello, I need an appointment for my son please"})
        frames = turn(ws, {"type": "message", "text": "   "})
        assert frames[-1]["message"] == "Please type a message."


def _english_sentences() -> list[str]:
    """Every English catalogue text cut at its placeholders, as pieces a reply could carry."""
    pieces: list[str] = []
    for template in texts.catalogue(Language.EN).values():
        for piece in re.split(r"\{[a-z_]+\}", template):
            words = piece.strip(" .,:;()")
            if len(words.split()) >= 3:
                pieces.append(texts.for_sms(words))
    return pieces


def test_a_spanish_sms_conversation_keeps_spanish_through_the_date_of_birth_and_the_code(
    sqlite_engine: Engine, fake: TwilioFake, tmp_path: Path
) -> None:
    """The identity texts stand in for the patient's words in the transcript: they must not
    switch the conversation to English (issue 15), nor must anything the service texts."""
    bot = ScriptedBot(asks_for_identity)
    for client in make_client(sqlite_engine, bot, fake, tmp_path):
        text_in(client, SPANISH_ASK)
        text_in(client, "4/13/1985")  # not Jordan's birthday: counted, asked again
        text_in(client, "04/12/1985")  # Jordan Sample's, from the number on file
        send_outbox(client)
        [code_text] = [b for b in fake.bodies_to(PATIENT) if b.startswith("Su codigo")]
        code = code_text.split()[5].rstrip(".")
        text_in(client, f"{(int(code) + 1) % 1_000_000:06d}")  # a wrong code
        text_in(client, "no me llego nada")  # no code at all: asked again, not counted
        text_in(client, code)
        text_in(client, "gracias")
        send_outbox(client)
        bodies = fake.bodies_to(PATIENT)
    sms = texts.for_sms
    assert bodies == [
        sms(texts.text("sms.identity_prompt", "es")),
        "Lo sentimos, eso no coincide con nuestros datos para este numero. (le quedan 2 "
        "intentos) Responda con su fecha de nacimiento asi: MM/DD/AAAA.",
        sms(texts.text("verification.code_text", "es", code=code)),
        sms(texts.text("sms.code_sent", "es")),
        "Ese codigo no es correcto. Revise el mensaje de texto e inténtelo otra vez. "
        "(le quedan 4 intentos)",
        sms(texts.text("sms.ask_for_code", "es")),
        "ok",  # the bot's answer to the verdict
        "ok",  # and to "gracias"
    ]
    english = _english_sentences()
    assert [(b, e) for b in bodies for e in english if e.lower() in b.lower()] == []
    assert [t for _, t in bot.turns] == [SPANISH_ASK, "/identity_provided", "gracias"]
    assert bot.languages == ["es", "es", "es"]  # the bot answers the verdict in Spanish too
    with Session(sqlite_engine) as db:
        conversation = db.scalars(select(Conversation)).one()
        assert conversation.language == "es" and conversation.identity_verified_at is not None


def test_a_spanish_sms_conversation_that_locks_tells_the_bot_in_spanish(
    sqlite_engine: Engine, fake: TwilioFake, tmp_path: Path
) -> None:
    bot = ScriptedBot(asks_for_identity)
    for client in make_client(sqlite_engine, bot, fake, tmp_path):
        text_in(client, SPANISH_ASK)
        text_in(client, "04/12/1985")
        for guess in ("123456", "654321", "000000", "999999", "111111"):
            text_in(client, guess)
        send_outbox(client)
        bodies = fake.bodies_to(PATIENT)
    assert [t for _, t in bot.turns] == [SPANISH_ASK, "/identity_failed"]
    assert bot.languages == ["es", "es"]
    english = _english_sentences()
    assert [(b, e) for b in bodies for e in english if e.lower() in b.lower()] == []
    with Session(sqlite_engine) as db:
        assert db.scalars(select(Conversation)).one().language == "es"


@pytest.mark.parametrize(("remembered", "language"), [("es", "es"), (None, "en")])
def test_a_new_sms_conversation_starts_in_the_language_the_number_s_patient_speaks(
    sqlite_engine: Engine, fake: TwilioFake, tmp_path: Path, remembered: str | None, language: str
) -> None:
    """Too short to tell ("cuanto debo?"): the patient on file with the number is known to
    speak Spanish, so even the date-of-birth question is in Spanish; without that, English."""
    bot = ScriptedBot(asks_for_identity)
    for client in make_client(sqlite_engine, bot, fake, tmp_path):
        with Session(sqlite_engine) as db:
            jordan = db.scalars(select(Patient).where(Patient.phone == PATIENT)).one()
            jordan.preferred_language = remembered
            db.commit()
        text_in(client, SHORT_SPANISH_ASK)
        send_outbox(client)
        bodies = fake.bodies_to(PATIENT)
    assert bodies == [texts.for_sms(texts.text("sms.identity_prompt", language))]
    assert bot.languages == [language]
