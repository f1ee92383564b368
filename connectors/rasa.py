"""The bridge to Rasa: user turns go in over the callback channel, replies come back by POST.

Rasa runs in its own Python 3.10 environment and is only spoken to over HTTP. Conversation
ids are opaque (`Conversation.public_id`); nothing here ever sends a phone number or a name
as a sender id.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from frontdesk.bot import BotTimeoutError, BotUnavailableError, BotUnreachableError

logger = logging.getLogger(__name__)
TURN_METADATA_KEY = "frontdesk_message_id"
# Read by the bot (actions/language.py); also the entity name on trigger_intent.
LANGUAGE_METADATA_KEY = "language"


def tracker_has_turn(tracker: Any, message_id: str) -> bool:
    """Whether a Rasa tracker (its JSON) holds a user event sent with our `message_id`."""
    events = tracker.get("events") if isinstance(tracker, dict) else None
    for event in events or []:
        if not isinstance(event, dict) or event.get("event") != "user":
            continue
        metadata = event.get("metadata")
        if event.get("message_id") == message_id or (
            isinstance(metadata, dict) and metadata.get(TURN_METADATA_KEY) == message_id
        ):
            return True
    return False


class RasaClient:
    """A `frontdesk.bot.BotClient`: a Rasa 3.6 server started with `--enable-api --auth-token`."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        """Create a client.

        Args:
            base_url: Rasa's address, e.g. `http://127.0.0.1:5005`.
            token: the `--auth-token` Rasa was started with (sent as `?token=`; Rasa 3.6
                accepts it only as a query parameter).
            timeout: seconds to wait for a whole turn, actions included.
            http: an `httpx.AsyncClient` to use instead of a new one (tests).
        """
        self._base = base_url.rstrip("/")
        self._token = token
        self._http = http or httpx.AsyncClient(timeout=timeout)

    async def send_user_turn(
        self,
        conversation_id: str,
        text: str,
        *,
        message_id: str | None = None,
        language: str | None = None,
    ) -> None:
        """POST the turn to Rasa's callback channel and wait until Rasa has handled it.

        Rasa 3.6's REST channel (which the callback channel extends) builds its
        `UserMessage` without reading a `message_id` from the payload, and its callback
        channel drops the payload's `metadata` too; our callback channel
        (bot/channels/frontdesk_callback.py) keeps the metadata on the user event. So our
        id goes in both places, and `has_user_turn` accepts either. The conversation's
        `language` rides in the same metadata, where the bot's `action_extract_language`
        reads it into its `language` slot.
        """
        payload: dict[str, Any] = {"sender": conversation_id, "message": text}
        metadata: dict[str, str] = {}
        if message_id is not None:
            payload["message_id"] = message_id
            metadata[TURN_METADATA_KEY] = message_id
        if language is not None:
            metadata[LANGUAGE_METADATA_KEY] = language
        if metadata:
            payload["metadata"] = metadata
        await self._post("/webhooks/callback/webhook", json=payload)

    async def has_user_turn(self, conversation_id: str, message_id: str) -> bool:
        """Read the conversation's tracker for a user event carrying `message_id`.

        Rasa 3.6 takes its API token as `?token=` only (an `Authorization: Bearer` header
        is read as a JWT), as for every other call here.
        """
        try:
            response = await self._http.get(
                f"{self._base}/conversations/{conversation_id}/tracker",
                params={"token": self._token, "include_events": "ALL"},
            )
        except httpx.HTTPError as exc:
            logger.warning("rasa tracker read failed: %s", type(exc).__name__)
            raise BotUnavailableError(type(exc).__name__) from exc
        if response.status_code >= 400:
            logger.warning("rasa answered %s on a tracker read", response.status_code)
            raise BotUnavailableError(f"rasa answered {response.status_code}")
        return tracker_has_turn(response.json(), message_id)

    async def trigger_intent(
        self, conversation_id: str, intent: str, entities: dict[str, Any] | None = None
    ) -> None:
        """Inject an intent; the resulting bot messages go out through the callback channel."""
        await self._post(
            f"/conversations/{conversation_id}/trigger_intent",
            params={"output_channel": "callback", "token": self._token},
            json={"name": intent, "entities": entities or {}},
        )

    async def pause(self, conversation_id: str) -> None:
        """Append a `pause` event to the conversation's tracker."""
        await self._post_events(conversation_id, [{"event": "pause"}])

    async def resume(self, conversation_id: str) -> None:
        """Append `resume` and `action_listen`.

        `resume` alone leaves the tracker mid-turn and Rasa mispredicts the next action;
        `action_listen` makes the patient's next message start a fresh turn.
        """
        await self._post_events(
            conversation_id, [{"event": "resume"}, {"event": "action", "name": "action_listen"}]
        )

    async def _post_events(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        await self._post(
            f"/conversations/{conversation_id}/tracker/events",
            params={"token": self._token},
            json=events,
        )

    async def is_ready(self) -> bool:
        """True once Rasa answers `/status` with a loaded model."""
        try:
            response = await self._http.get(
                f"{self._base}/status", params={"token": self._token}, timeout=5.0
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and bool(response.json().get("model_id"))

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    async def _post(
        self,
        path: str,
        *,
        json: dict[str, Any] | list[dict[str, Any]],
        params: dict[str, str] | None = None,
    ) -> None:
        try:
            response = await self._http.post(f"{self._base}{path}", json=json, params=params)
        except httpx.TimeoutException as exc:
            # Rasa may have the turn and still be working on it: the caller must not resend
            # blind (`frontdesk.bot.BotTimeoutError`).
            logger.warning("rasa request timed out: %s", path.split("/")[1])
            raise BotTimeoutError(type(exc).__name__) from exc
        except httpx.ConnectError as exc:  # down or still loading: nothing reached Rasa
            logger.warning("rasa not reachable: %s", path.split("/")[1])
            raise BotUnreachableError(type(exc).__name__) from exc
        except httpx.HTTPError as exc:
            logger.warning("rasa request failed: %s %s", path.split("/")[1], type(exc).__name__)
            raise BotUnavailableError(str(type(exc).__name__)) from exc
        if response.status_code >= 400:
            logger.warning("rasa answered %s on %s", response.status_code, path.split("/")[1])
            raise BotUnavailableError(f"rasa answered {response.status_code}")
