"""RasaClient carries our message id into Rasa 3.6 and reads it back from the tracker, and
tells a timeout (Rasa may have the turn) from a refused connection (it cannot)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from connectors.rasa import RasaClient
from frontdesk.bot import BotTimeoutError, BotUnavailableError, BotUnreachableError

ID = "frontdesk-turn-7"


def client_for(handle: httpx.MockTransport) -> RasaClient:
    return RasaClient("http://rasa:5005", "rasa-token", http=httpx.AsyncClient(transport=handle))


def test_a_turn_carries_our_id_as_message_id_and_in_the_metadata_rasa_keeps() -> None:
    bodies: list[object] = []

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/webhooks/callback/webhook"
        bodies.append(json.loads(request.content))
        return httpx.Response(200, text="success")

    asyncio.run(client_for(httpx.MockTransport(handle)).send_user_turn("c_1", "hi", message_id=ID))
    assert bodies == [
        {
            "sender": "c_1",
            "message": "hi",
            "message_id": ID,
            "metadata": {"frontdesk_message_id": ID},
        }
    ]


@pytest.mark.parametrize(
    ("event", "found"),
    [
        # What Rasa 3.6 stores for a REST-channel turn: its own message id, our metadata.
        ({"event": "user", "message_id": "a1b2", "metadata": {"frontdesk_message_id": ID}}, True),
        ({"event": "user", "message_id": ID, "metadata": {}}, True),
        ({"event": "user", "message_id": "a1b2", "metadata": {"frontdesk_message_id": "x"}}, False),
        ({"event": "bot", "metadata": {"frontdesk_message_id": ID}}, False),
    ],
)
def test_the_tracker_read_finds_the_turn_by_our_id(event: dict[str, object], found: bool) -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, dict(request.url.params)))
        return httpx.Response(200, json={"sender_id": "c_1", "events": [event]})

    assert asyncio.run(client_for(httpx.MockTransport(handle)).has_user_turn("c_1", ID)) is found
    assert seen == [
        ("/conversations/c_1/tracker", {"token": "rasa-token", "include_events": "ALL"})
    ]


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (httpx.ReadTimeout("slow"), BotTimeoutError),
        (httpx.ConnectError("refused"), BotUnreachableError),
        (httpx.RemoteProtocolError("dropped"), BotUnavailableError),
    ],
)
def test_failures_say_whether_rasa_may_have_the_turn(
    failure: httpx.HTTPError, kind: type[BotUnavailableError]
) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise failure

    with pytest.raises(kind) as raised:
        asyncio.run(client_for(httpx.MockTransport(handle)).send_user_turn("c_1", "hi"))
    assert type(raised.value) is kind


def test_a_turn_carries_the_conversation_language_in_the_same_metadata() -> None:
    bodies: list[object] = []

    def handle(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, text="success")

    client = client_for(httpx.MockTransport(handle))
    asyncio.run(client.send_user_turn("c_1", "hola", message_id=ID, language="es"))
    asyncio.run(client.send_user_turn("c_1", "hi", language="en"))
    assert [body["metadata"] for body in bodies] == [  # type: ignore[index]
        {"frontdesk_message_id": ID, "language": "es"},
        {"language": "en"},
    ]


def test_outreach_sends_the_language_as_an_entity_of_the_triggered_intent() -> None:
    seen: list[tuple[str, object]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, json.loads(request.content)))
        return httpx.Response(200, json={})

    client = client_for(httpx.MockTransport(handle))
    asyncio.run(
        client.trigger_intent(
            "c_1", "EXTERNAL_appointment_reminder", {"appointment_ref": "a_7", "language": "es"}
        )
    )
    assert seen == [
        (
            "/conversations/c_1/trigger_intent",
            {
                "name": "EXTERNAL_appointment_reminder",
                "entities": {"appointment_ref": "a_7", "language": "es"},
            },
        )
    ]
