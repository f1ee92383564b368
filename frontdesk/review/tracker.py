"""Reading the NLU result of a conversation's latest patient turn from Rasa's tracker.

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


def latest_user_turn(tracker: dict[str, Any]) -> ParsedTurn | None:
    """The last `user` event of a tracker in Rasa 3.6's JSON, with the actions after it."""
    events = tracker.get("events") or []
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if not isinstance(event, dict) or event.get("event") != "user":
            continue
        text = event.get("text")
        message_id = event.get("message_id")
        if not isinstance(text, str) or not isinstance(message_id, str):
            return None
        intent = (event.get("parse_data") or {}).get("intent") or {}
        confidence = intent.get("confidence")
        after = tuple(
            str(later.get("name"))
            for later in events[index + 1 :]
            if isinstance(later, dict) and later.get("event") == "action"
        )
        metadata = event.get("metadata") or {}
        return ParsedTurn(
            message_id=message_id,
            text=text,
            intent=intent.get("name") if isinstance(intent.get("name"), str) else None,
            confidence=float(confidence) if isinstance(confidence, int | float) else 0.0,
            model_id=metadata.get("model_id") if isinstance(metadata, dict) else None,
            actions_after=after,
        )
    return None


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

    async def latest_turn(self, conversation_id: str) -> ParsedTurn | None:
        """The conversation's latest patient turn, or None when Rasa cannot say."""
        try:
            response = await self._http.get(
                f"{self._base}/conversations/{conversation_id}/tracker",
                params={"token": self._token, "include_events": "AFTER_RESTART"},
                headers={"Authorization": f"Bearer {self._token}"},
            )
        except httpx.HTTPError as exc:
            logger.warning("rasa tracker unavailable: %s", type(exc).__name__)
            return None
        if response.status_code != 200:
            logger.warning("rasa answered %s for a tracker", response.status_code)
            return None
        return latest_user_turn(response.json())

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()
