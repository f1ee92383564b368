"""In-repo test doubles for outside systems, speaking their real wire formats."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI

from connectors.rasa import BotUnavailableError

Reply = dict[str, Any]


class ScriptedBot:
    """Stands in for Rasa: each user turn is answered by POSTing Rasa callback-channel
    messages (`{"recipient_id", "text", "buttons", "custom"}`) to the service's real
    callback endpoint, before the turn returns, as Rasa's callback channel does."""

    def __init__(self, replies: Callable[[str], list[Reply]] | None = None) -> None:
        self.replies = replies or (lambda text: [{"text": f"you said: {text}"}])
        self.turns: list[tuple[str, str]] = []
        self.triggered: list[tuple[str, str]] = []
        # Tracker events posted by pause/resume, as RasaClient sends them to
        # `/conversations/{id}/tracker/events`.
        self.tracker_events: list[tuple[str, list[dict[str, Any]]]] = []
        self.app: FastAPI | None = None
        self.token = ""

    def attach(self, app: FastAPI, token: str) -> None:
        self.app, self.token = app, token

    async def send_user_turn(self, conversation_id: str, text: str) -> None:
        self.turns.append((conversation_id, text))
        assert self.app is not None, "attach the app first"
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            for reply in self.replies(text):
                response = await client.post(
                    "/internal/rasa/callback",
                    params={"token": self.token},
                    json={"recipient_id": conversation_id, **reply},
                )
                response.raise_for_status()

    async def trigger_intent(
        self, conversation_id: str, intent: str, entities: dict[str, Any] | None = None
    ) -> None:
        self.triggered.append((conversation_id, intent))

    async def pause(self, conversation_id: str) -> None:
        self.tracker_events.append((conversation_id, [{"event": "pause"}]))

    async def resume(self, conversation_id: str) -> None:
        self.tracker_events.append(
            (conversation_id, [{"event": "resume"}, {"event": "action", "name": "action_listen"}])
        )

    async def is_ready(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


class DownBot(ScriptedBot):
    """A bot that cannot be reached."""

    async def send_user_turn(self, conversation_id: str, text: str) -> None:
        self.turns.append((conversation_id, text))
        raise BotUnavailableError("connection refused")

    async def pause(self, conversation_id: str) -> None:
        raise BotUnavailableError("connection refused")

    async def resume(self, conversation_id: str) -> None:
        raise BotUnavailableError("connection refused")

    async def is_ready(self) -> bool:
        return False


class FlakyBot(ScriptedBot):
    """Unreachable for the first `failures` turns, then answers like `ScriptedBot`."""

    def __init__(self, failures: int = 1) -> None:
        super().__init__()
        self.failures = failures

    async def send_user_turn(self, conversation_id: str, text: str) -> None:
        if self.failures > 0:
            self.failures -= 1
            self.turns.append((conversation_id, f"(lost) {text}"))
            raise BotUnavailableError("connection refused")
        await super().send_user_turn(conversation_id, text)
