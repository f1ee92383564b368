"""Rasa's callback channel, keeping the metadata the service sends with each turn.

Rasa 3.6's `CallbackInput` builds its `UserMessage` without the request's `metadata` (its
parent, the REST channel, keeps it), so the turn id and the conversation's language the
service sends never reached the tracker. This channel is the same callback channel, under the
same name and URL (`/webhooks/callback/webhook`, `output_channel=callback`), with the
metadata passed on; `action_extract_language` reads the language from it. Its output retries
a bot message the service did not take (`callback_output.py`).

It also never runs the dialogue twice for one of our turns. The service resends a turn whose
send timed out unless Rasa's tracker already shows it, but Rasa saves the tracker only at the
end of a turn: a resend that arrives while Rasa is still on the first delivery waits for the
conversation's lock and would then be processed again (the user event twice in the tracker,
its actions, a booking among them, run twice). Only Rasa can tell, inside that lock.

Rasa imports this module (credentials.yml names it); the service never does. Rasa's Python
is 3.10.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import action_validation
from callback_output import RetryingCallbackOutput
from rasa.core.agent import Agent
from rasa.core.channels.callback import CallbackInput
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

# Rasa imports this module at start-up; the faster action-answer check rides along.
action_validation.install()

# Under Rasa's logger, so `rasa run --log-level` and `--log-file` apply (Rasa sets no other).
logger = logging.getLogger(f"rasa.{__name__}")
# The service's turn id in a message's metadata (`TURN_METADATA_KEY` in connectors/rasa.py).
TURN_METADATA_KEY = "frontdesk_message_id"


class MetadataCallbackInput(CallbackInput):
    """The callback channel, with each message's `metadata` kept on the user event, and bot
    messages posted with retries (`callback_output`)."""

    def get_output_channel(self) -> CollectingOutputChannel:
        """Rasa's callback output, retrying a post the service did not take."""
        return RetryingCallbackOutput(self.callback_endpoint)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The callback channel's routes, as Rasa's own, passing `metadata` on."""
        callback_webhook = Blueprint("callback_webhook", __name__)

        @callback_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @callback_webhook.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            sender_id = await self._extract_sender(request)
            text = self._extract_message(request)
            metadata = self.get_metadata(request)
            message = UserMessage(
                text,
                self.get_output_channel(),
                sender_id,
                input_channel=self.name(),
                metadata=metadata,
            )
            turn_id = metadata.get(TURN_METADATA_KEY) if isinstance(metadata, dict) else None
            if isinstance(turn_id, str) and turn_id:
                await handle_turn_once(request.app.ctx.agent, message, turn_id)
            else:
                await on_new_message(message)  # Rasa's own path: `Agent.handle_message`
            # A turn handled before answers "success" too: its replies went out the first time.
            return response.text("success")

        return callback_webhook


async def handle_turn_once(agent: Agent, message: UserMessage, turn_id: str) -> None:
    """Process `message` unless the conversation's tracker already holds the turn `turn_id`.

    What `Agent.handle_message` does (the conversation's lock from the agent's lock store,
    in-memory or Redis, then the processor), with a look at the tracker once the lock is
    held: the first delivery's turn is saved by then. The agent's own `handle_message`
    cannot be called here, as it takes the same lock again.
    """
    if not agent.is_ready():
        await agent.handle_message(message)  # logs and ignores it, as Rasa does
        return
    async with agent.lock_store.lock(message.sender_id):
        tracker = await agent.tracker_store.retrieve(message.sender_id)
        if tracker is not None and tracker_has_turn(tracker, turn_id):
            # No text: it is the patient's.
            logger.info("turn %s delivered again; already in the tracker, not processed", turn_id)
            return
        await agent.processor.handle_message(message)  # set once the agent is ready


def tracker_has_turn(tracker: DialogueStateTracker, turn_id: str) -> bool:
    """Whether a user event carries `turn_id` (as its `message_id` or in its metadata)."""
    return any(
        isinstance(event, UserUttered)
        and (event.message_id == turn_id or event.metadata.get(TURN_METADATA_KEY) == turn_id)
        for event in reversed(tracker.events)
    )
