"""The dialogue engine as the service sees it: a port, whatever runs behind it.

Channels, the console and the reminder tick hand turns to a `BotClient` and handle
`BotUnavailableError`; `connectors.rasa.RasaClient` is the implementation that talks to Rasa
over HTTP, and tests use doubles (`tests/doubles.py`).
"""

from __future__ import annotations

from typing import Any, Protocol


class BotUnavailableError(Exception):
    """Rasa could not be reached or failed; the patient's message is stored regardless."""


class BotUnreachableError(BotUnavailableError):
    """Rasa could not be reached at all (connection refused): it cannot have the turn."""


class BotTimeoutError(BotUnavailableError):
    """Rasa took the turn but did not answer in time: it may still be working on it."""


class BotClient(Protocol):
    """What the service needs from the dialogue engine."""

    async def send_user_turn(
        self,
        conversation_id: str,
        text: str,
        *,
        message_id: str | None = None,
        language: str | None = None,
    ) -> None:
        """Hand one patient turn to the bot; replies arrive through the callback.

        `message_id` is ours for the turn; the bot's tracker keeps it, so that
        `has_user_turn` can tell afterwards whether the turn arrived. `language` is the
        conversation's language ("en", "es"), which the bot answers in.
        """

    async def has_user_turn(self, conversation_id: str, message_id: str) -> bool:
        """Whether the conversation's tracker holds the patient turn sent as `message_id`."""

    async def trigger_intent(
        self, conversation_id: str, intent: str, entities: dict[str, Any] | None = None
    ) -> None:
        """Make the bot act as if the patient expressed `intent` (reminders, hand-back)."""

    async def pause(self, conversation_id: str) -> None:
        """Stop the bot acting in a conversation (staff own it now)."""

    async def resume(self, conversation_id: str) -> None:
        """Let the bot act again, starting by waiting for the patient's next message."""

    async def is_ready(self) -> bool:
        """Whether the bot is up with a model loaded."""

    async def aclose(self) -> None:
        """Release connections."""
