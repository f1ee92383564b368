"""In-repo test doubles for outside systems, speaking their real wire formats."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import yaml
from fastapi import FastAPI

from frontdesk.bot import BotUnreachableError

Reply = dict[str, Any]
BOT_DOMAIN = Path(__file__).resolve().parents[1] / "bot" / "domain"


@cache
def bot_domain() -> dict[str, Any]:
    """The bot's domain responses, as Rasa sends them to the action server."""
    responses: dict[str, Any] = {}
    for path in sorted(BOT_DOMAIN.glob("*.yml")):
        responses.update((yaml.safe_load(path.read_text()) or {}).get("responses") or {})
    return {"responses": responses}


class ScriptedBot:
    """Stands in for Rasa: each user turn is answered by POSTing Rasa callback-channel
    messages (`{"recipient_id", "text", "buttons", "custom"}`) to the service's real
    callback endpoint, before the turn returns, as Rasa's callback channel does."""

    def __init__(
        self,
        replies: Callable[[str], list[Reply]] | None = None,
        *,
        render_templates: bool = False,
    ) -> None:
        self.replies = replies or (lambda text: [{"text": f"you said: {text}"}])
        # Off by default: most tests assert only on what needs no rendering.
        self.render_templates = render_templates
        self.turns: list[tuple[str, str]] = []
        self.languages: list[str | None] = []  # the language each turn was sent with
        self.triggered: list[tuple[str, str]] = []
        self.trigger_entities: list[dict[str, Any]] = []  # each trigger_intent's entities
        # Tracker events posted by pause/resume, as RasaClient sends them to
        # `/conversations/{id}/tracker/events`.
        self.tracker_events: list[tuple[str, list[dict[str, Any]]]] = []
        # Events returned by custom actions run through `{"action": ...}` replies.
        self.action_events: list[tuple[str, list[dict[str, Any]]]] = []
        # Our message ids of the user turns each conversation's tracker holds, as Rasa's
        # tracker store has them once a turn is handled (`GET /conversations/{id}/tracker`).
        self.tracker_turns: dict[str, list[str]] = {}
        self.app: FastAPI | None = None
        self.token = ""

    def attach(self, app: FastAPI, token: str) -> None:
        self.app, self.token = app, token

    @property
    def auth(self) -> dict[str, str]:
        """The header Rasa sends from `bot/endpoints.yml` and `bot/credentials.yml`."""
        return {"Authorization": f"Bearer {self.token}"}

    async def send_user_turn(
        self,
        conversation_id: str,
        text: str,
        *,
        message_id: str | None = None,
        language: str | None = None,
    ) -> None:
        self.turns.append((conversation_id, text))
        self.languages.append(language)
        await self.answer(conversation_id, text)
        if message_id is not None:  # Rasa saves the tracker once the turn is handled
            self.tracker_turns.setdefault(conversation_id, []).append(message_id)

    async def has_user_turn(self, conversation_id: str, message_id: str) -> bool:
        return message_id in self.tracker_turns.get(conversation_id, [])

    async def answer(self, conversation_id: str, text: str) -> None:
        """Post this turn's replies to the service's callback, as Rasa's callback channel does."""
        assert self.app is not None, "attach the app first"
        transport = httpx.ASGITransport(app=self.app)
        # Rasa calls back on the service's internal address, as `frontdesk.botctl` tells it.
        base_url = self.app.state.services.settings.internal_base_url
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            for reply in self.replies(text):
                if "action" in reply:
                    await self._run_action(client, conversation_id, reply)
                    continue
                response = await client.post(
                    "/internal/rasa/callback",
                    headers=self.auth,
                    json={"recipient_id": conversation_id, **reply},
                )
                response.raise_for_status()

    async def _run_action(
        self, client: httpx.AsyncClient, conversation_id: str, step: dict[str, Any]
    ) -> None:
        """A reply `{"action": name, "intent": name, "slots": {...}}` (optionally the turn's
        "text" and the intent's "confidence") runs a custom action as
        Rasa does: the action call goes to the service's action endpoint with the real bot
        domain, and each message the action dispatched comes back through the callback."""
        call = {
            "next_action": step["action"],
            "sender_id": conversation_id,
            "version": "3.6.21",
            "domain": bot_domain(),
            "tracker": {
                "sender_id": conversation_id,
                "slots": step.get("slots") or {},
                "latest_message": {
                    "intent": {
                        "name": step.get("intent", ""),
                        "confidence": step.get("confidence", 1.0),
                    },
                    "entities": [],
                    "text": step.get("text", ""),
                },
                "events": [],
                "paused": False,
                "followup_action": None,
                "active_loop": {},
                "latest_action_name": "action_listen",
            },
        }
        response = await client.post("/internal/rasa/actions", headers=self.auth, json=call)
        response.raise_for_status()
        result = response.json()
        self.action_events.append((conversation_id, result["events"]))
        for message in result["responses"]:
            # Rasa renders templates; this double passes on only what needs no rendering,
            # unless asked to fill a response's first text variant with the action's values.
            if self.render_templates and message.get("response") and not message.get("text"):
                message = {**message, "text": self._render(message)}
            body = {k: message[k] for k in ("text", "buttons", "custom") if message.get(k)}
            if body:
                posted = await client.post(
                    "/internal/rasa/callback",
                    headers=self.auth,
                    json={"recipient_id": conversation_id, **body},
                )
                posted.raise_for_status()

    @staticmethod
    def _render(message: dict[str, Any]) -> str:
        """A response's first text variant with `{name}` filled from the message, as Rasa."""
        variants = bot_domain()["responses"].get(message["response"]) or [{}]
        template = str(variants[0].get("text") or "")
        values = {k: v for k, v in message.items() if isinstance(v, str)}
        return template.format_map(values)

    async def trigger_intent(
        self, conversation_id: str, intent: str, entities: dict[str, Any] | None = None
    ) -> None:
        self.triggered.append((conversation_id, intent))
        self.trigger_entities.append(dict(entities or {}))

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

    async def send_user_turn(
        self,
        conversation_id: str,
        text: str,
        *,
        message_id: str | None = None,
        language: str | None = None,
    ) -> None:
        self.turns.append((conversation_id, text))
        raise BotUnreachableError("connection refused")

    async def has_user_turn(self, conversation_id: str, message_id: str) -> bool:
        raise BotUnreachableError("connection refused")

    async def pause(self, conversation_id: str) -> None:
        raise BotUnreachableError("connection refused")

    async def resume(self, conversation_id: str) -> None:
        raise BotUnreachableError("connection refused")

    async def is_ready(self) -> bool:
        return False


class FlakyBot(ScriptedBot):
    """Unreachable for the first `failures` turns, then answers like `ScriptedBot`."""

    def __init__(self, failures: int = 1) -> None:
        super().__init__()
        self.failures = failures

    async def send_user_turn(
        self,
        conversation_id: str,
        text: str,
        *,
        message_id: str | None = None,
        language: str | None = None,
    ) -> None:
        if self.failures > 0:
            self.failures -= 1
            self.turns.append((conversation_id, f"(lost) {text}"))
            raise BotUnreachableError("connection refused")
        await super().send_user_turn(
            conversation_id, text, message_id=message_id, language=language
        )
