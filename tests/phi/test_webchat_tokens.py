"""Through the real web chat socket: Rasa receives tokens, our database keeps the words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from frontdesk.models import Message
from frontdesk.phi.models import PhiToken
from frontdesk.phi.tokens import resolve_tokens
from tests.connectors.test_webchat import WS, _client, turn
from tests.doubles import ScriptedBot


@pytest.fixture
def bot() -> ScriptedBot:
    return ScriptedBot()


@pytest.fixture
def client(sqlite_engine: Engine, bot: ScriptedBot, tmp_path: Path) -> Iterator[TestClient]:
    yield from _client(sqlite_engine, bot, tmp_path)


def test_phi_typed_in_chat_reaches_the_bot_as_tokens_only(
    client: TestClient, bot: ScriptedBot, sqlite_engine: Engine
) -> None:
    typed = "this is maria gonzalez, dob 4/12/1985, can I come next tue after 3?"
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        turn(ws, {"type": "message", "text": typed, "client_id": "m1"})
    [(_, sent)] = bot.turns
    assert sent == "this is PHI_NAME_1, dob PHI_DOB_1, can I come next tue after 3?"
    with Session(sqlite_engine) as db:
        [stored] = db.scalars(select(Message).where(Message.role == "patient")).all()
        assert stored.text == typed  # the patient's own record keeps what they wrote
        tokens = db.scalars(select(PhiToken)).all()
        assert {t.token for t in tokens} == {"PHI_NAME_1", "PHI_DOB_1"}
        assert (
            resolve_tokens(session=db, conversation_id=stored.conversation_id, text=sent) == typed
        )


def test_offered_payloads_and_plain_booking_words_pass_unchanged(
    client: TestClient, bot: ScriptedBot
) -> None:
    with client.websocket_connect(WS) as ws:
        ws.receive_json()
        turn(ws, {"type": "message", "text": "book with dr patel next tue after 3"})
    assert [text for _, text in bot.turns] == ["book with dr patel next tue after 3"]
