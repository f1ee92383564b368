"""RasaClient pause/resume speak Rasa 3.6's tracker events API."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from connectors.rasa import RasaClient
from frontdesk.bot import BotUnavailableError


def _client(handler: httpx.MockTransport) -> RasaClient:
    return RasaClient("http://rasa:5005/", "rasa-token", http=httpx.AsyncClient(transport=handler))


def test_pause_and_resume_append_events_to_the_tracker() -> None:
    seen: list[tuple[str, str, dict[str, str], object]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(
            (
                request.method,
                request.url.path,
                dict(request.url.params),
                json.loads(request.content),
            )
        )
        return httpx.Response(200, json={"sender_id": "c_abc", "events": []})

    client = _client(httpx.MockTransport(handle))
    asyncio.run(client.pause("c_abc"))
    asyncio.run(client.resume("c_abc"))
    assert seen == [
        (
            "POST",
            "/conversations/c_abc/tracker/events",
            {"token": "rasa-token"},
            [{"event": "pause"}],
        ),
        (
            "POST",
            "/conversations/c_abc/tracker/events",
            {"token": "rasa-token"},
            # resume alone leaves Rasa mid-turn; action_listen starts a fresh one.
            [{"event": "resume"}, {"event": "action", "name": "action_listen"}],
        ),
    ]


@pytest.mark.parametrize("status", [400, 401, 500])
def test_a_refusal_is_reported_as_the_bot_being_unavailable(status: int) -> None:
    client = _client(httpx.MockTransport(lambda request: httpx.Response(status)))
    with pytest.raises(BotUnavailableError):
        asyncio.run(client.resume("c_abc"))


def test_an_unreachable_rasa_is_reported_as_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(BotUnavailableError):
        asyncio.run(_client(httpx.MockTransport(refuse)).pause("c_abc"))
