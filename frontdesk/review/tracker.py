"""Reading the NLU results of a conversation's patient turns from Rasa's tracker.

Rasa keeps the parse of every user message in its tracker (`GET /conversations/{id}/tracker`):
the intent, its confidence, and the actions that followed. The service never re-runs the NLU.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

logger = logging.getLogger(__name__)

FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTIONS = frozenset({"action_default_fallback"})
MISUNDERSTANDING_ACTIONS = frozenset({"action_handle_misunderstanding"})


@dataclass(frozen=True)
class ParsedTurn:
    """A patient turn as Rasa's NLU read it (text as Rasa holds it: tokenised, not raw)."""

    message_id: str
    text: str
    intent: str | None
    confidence: float
    model_id: str | None
    actions_after: tuple[str, ...]  # the actions Rasa ran in answer to the turn

    @property
    def fell_back(self) -> bool:
        """The NLU or the policies fell back on this turn."""
        return self.intent == FALLBACK_INTENT or bool(FALLBACK_ACTIONS & set(self.actions_after))

    @property
    def escalated_for_misunderstanding(self) -> bool:
        """The bot handed the conversation to staff because it kept misunderstanding."""
        return bool(MISUNDERSTANDING_ACTIONS & set(self.actions_after))


def user_turns(tracker: dict[str, Any]) -> list[ParsedTurn]:
    """Every `user` event of a tracker in Rasa 3.6's JSON, oldest first, each with the actions
    Rasa ran before the next user event."""
    events = [event for event in tracker.get("events") or [] if isinstance(event, dict)]
    starts = [i for i, event in enumerate(events) if event.get("event") == "user"]
    turns = []
    for position, index in enumerate(starts):
        event = events[index]
        text = event.get("text")
        message_id = event.get("message_id")
        if not isinstance(text, str) or not isinstance(message_id, str):
            continue
        end = starts[position + 1] if position + 1 < len(starts) else len(events)
        intent = (event.get("parse_data") or {}).get("intent") or {}
        confidence = intent.get("confidence")
        metadata = event.get("metadata") or {}
        turns.append(
            ParsedTurn(
                message_id=message_id,
                text=text,
                intent=intent.get("name") if isinstance(intent.get("name"), str) else None,
                confidence=float(confidence) if isinstance(confidence, int | float) else 0.0,
                model_id=metadata.get("model_id") if isinstance(metadata, dict) else None,
                actions_after=tuple(
                    str(later.get("name"))
                    for later in events[index + 1 : end]
                    if later.get("event") == "action"
                ),
            )
        )
    return turns


class TrackerReader:
    """Fetches trackers from a Rasa 3.6 server started with `--enable-api --auth-token`."""

    def __init__(self, base_url: str, token: str, *, http: httpx.AsyncClient | None = None) -> None:
        """Create a reader.

        Args:
            base_url: Rasa's address.
            token: Rasa's `--auth-token`, sent as `?token=` (the only form Rasa 3.6 accepts
                for it) and as a Bearer header for a Rasa started with `--jwt-secret`.
            http: a client to use instead of a new one (tests point it at a double).
        """
        self._base = base_url.rstrip("/")
        self._token = token
        self._http = http or httpx.AsyncClient(timeout=10.0)

    async def turns(self, conversation_id: str) -> list[ParsedTurn]:
        """The conversation's patient turns, oldest first; empty when Rasa cannot say."""
        try:
            response = await self._http.get(
                f"{self._base}/conversations/{conversation_id}/tracker",
                params={"token": self._token, "include_events": "AFTER_RESTART"},
                headers={"Authorization": f"Bearer {self._token}"},
            )
        except httpx.HTTPError as exc:
            logger.warning("rasa tracker unavailable: %s", type(exc).__name__)
            return []
        if response.status_code != 200:
            logger.warning("rasa answered %s for a tracker", response.status_code)
            return []
        return user_turns(response.json())

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()
