"""The two-level emergency decision through the real entry points: the web chat socket and
signed SMS webhooks, with Rasa replaced by a double that follows the bot's emergency rules
(`utter_emergency`, then the real `action_escalate` through the action endpoint)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from actions.handoff import CARRY_ON_TEXT
from frontdesk.conversations.handoff import EscalationReason
from frontdesk.conversations.models import Conversation, Message, Owner, Role
from frontdesk.conversations.safety import SAFETY_LINE, SAFETY_LINES
from frontdesk.conversations.turns import MEDICAL_EMERGENCY
from frontdesk.sms.models import OutboundSms
from tests.connectors.test_twilio_sms import fake as fake
from tests.connectors.test_twilio_sms import make_client, send_outbox, text_in
from tests.connectors.test_webchat import WS, _client, turn
from tests.doubles import ScriptedBot, bot_domain
from tests.twilio_fake import TwilioFake

# What the double's "NLU" misreads as an emergency, at moderate confidence, when the service
# passes the words on: as a statistical model might on these alarming words.
NLU_MISREADS = "heart attack"
STRONG = "my husband collapsed and isn't breathing"
WEAK = "my bill gave me a heart attack lol, can i book a physical"
BENIGN = "can i book a physical"


def follows_the_emergency_rules(text: str) -> list[dict[str, Any]]:
    emergency = [{"text": SAFETY_LINE}]
    if text == MEDICAL_EMERGENCY:
        return [
            *emergency,
            {"action": "action_escalate", "intent": "medical_emergency", "text": MEDICAL_EMERGENCY},
        ]
    if NLU_MISREADS in text:
        return [
            *emergency,
            {
                "action": "action_escalate",
                "intent": "medical_emergency",
                "text": text,
                "confidence": 0.72,
            },
        ]
    return [{"text": f"What kind of visit? ({text})"}]


@pytest.fixture
def bot() -> ScriptedBot:
    return ScriptedBot(follows_the_emergency_rules)


@pytest.fixture
def chat(sqlite_engine: Engine, bot: ScriptedBot, tmp_path: Path) -> Iterator[TestClient]:
    yield from _client(sqlite_engine, bot, tmp_path)


@pytest.fixture
def sms(
    sqlite_engine: Engine, bot: ScriptedBot, fake: TwilioFake, tmp_path: Path
) -> Iterator[TestClient]:
    yield from make_client(sqlite_engine, bot, fake, tmp_path)


def chat_turn(client: TestClient, text: str) -> list[str]:
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        frames = turn(ws, {"type": "message", "text": text})
    return [str(f.get("text")) for f in frames if f["type"] == "message"]


def the_conversation(engine: Engine) -> Conversation:
    with Session(engine) as db:
        [conversation] = db.scalars(select(Conversation)).all()
        db.expunge(conversation)
        return conversation


def bot_texts(engine: Engine) -> list[str]:
    with Session(engine) as db:
        return [
            str(m.text)
            for m in db.scalars(
                select(Message).where(Message.role == Role.BOT).order_by(Message.id)
            )
        ]


def test_the_safety_line_is_the_bots_own_emergency_response_in_each_language() -> None:
    variations = bot_domain()["responses"]["utter_emergency"]
    assert variations[0]["text"] == SAFETY_LINE == SAFETY_LINES["en"]
    [spanish] = [
        v["text"]
        for v in variations
        if {"type": "slot", "name": "language", "value": "es"} in v.get("condition", [])
    ]
    assert spanish == SAFETY_LINES["es"]


def test_a_weak_signal_in_a_spanish_chat_gets_the_spanish_911_line(
    chat: TestClient, bot: ScriptedBot, sqlite_engine: Engine
) -> None:
    message = "mi hijo tuvo una convulsion hace 3 semanas, quisiera hacer una cita para un chequeo"
    shown = chat_turn(chat, message)
    assert [t for _, t in bot.turns] == [message]
    assert shown[0] == SAFETY_LINES["es"] and shown[1].startswith("What kind of visit?")
    assert the_conversation(sqlite_engine).language == "es"


def test_a_strong_signal_gets_911_an_urgent_escalation_and_stops(
    chat: TestClient, bot: ScriptedBot, sqlite_engine: Engine
) -> None:
    shown = chat_turn(chat, STRONG)
    assert [t for _, t in bot.turns] == [MEDICAL_EMERGENCY]
    assert shown[0] == SAFETY_LINE and "alerted our team" in shown[1]
    conversation = the_conversation(sqlite_engine)
    assert conversation.owner is Owner.STAFF
    assert conversation.escalation_reason is EscalationReason.EMERGENCY


def test_a_weak_signal_gets_the_911_line_and_the_task_carries_on(
    chat: TestClient, bot: ScriptedBot, sqlite_engine: Engine
) -> None:
    shown = chat_turn(chat, "my son had a seizure 3 weeks ago, can i book a physical for him")
    assert [t for _, t in bot.turns] == [
        "my son had a seizure 3 weeks ago, can i book a physical for him"
    ]
    assert shown[0] == SAFETY_LINE and shown[1].startswith("What kind of visit?")
    conversation = the_conversation(sqlite_engine)
    assert conversation.owner is Owner.BOT and conversation.escalation_reason is None


def test_the_nlu_alone_at_moderate_confidence_does_not_escalate(
    chat: TestClient, bot: ScriptedBot, sqlite_engine: Engine
) -> None:
    shown = chat_turn(chat, WEAK)
    assert [t for _, t in bot.turns] == [WEAK]  # the words, not the emergency intent
    assert shown == [SAFETY_LINE, CARRY_ON_TEXT["en"]]  # the bot's second 911 line is dropped
    conversation = the_conversation(sqlite_engine)
    assert conversation.owner is Owner.BOT and conversation.escalation_reason is None
    assert bot_texts(sqlite_engine) == [SAFETY_LINE, CARRY_ON_TEXT["en"]]


def test_a_benign_message_gets_no_911_line(
    chat: TestClient, bot: ScriptedBot, sqlite_engine: Engine
) -> None:
    assert chat_turn(chat, BENIGN) == [f"What kind of visit? ({BENIGN})"]
    assert SAFETY_LINE not in bot_texts(sqlite_engine)


def test_over_sms_a_weak_signal_texts_the_911_line_then_the_answer(
    sms: TestClient, bot: ScriptedBot, fake: TwilioFake, sqlite_engine: Engine
) -> None:
    text_in(sms, "lol this bill is killing me, can i book a physical")
    send_outbox(sms)
    assert [t for _, t in bot.turns] == ["lol this bill is killing me, can i book a physical"]
    with Session(sqlite_engine) as db:
        bodies = [o.body for o in db.scalars(select(OutboundSms).order_by(OutboundSms.id))]
    assert bodies[0] == SAFETY_LINE and bodies[1].startswith("What kind of visit?")
    assert the_conversation(sqlite_engine).owner is Owner.BOT


def test_over_sms_a_strong_signal_escalates_as_urgent(
    sms: TestClient, bot: ScriptedBot, sqlite_engine: Engine
) -> None:
    text_in(sms, "cancel my 3pm, my daughter is having a seizure")
    send_outbox(sms)
    assert [t for _, t in bot.turns] == [MEDICAL_EMERGENCY]
    conversation = the_conversation(sqlite_engine)
    assert conversation.owner is Owner.STAFF
    assert conversation.escalation_reason is EscalationReason.EMERGENCY
