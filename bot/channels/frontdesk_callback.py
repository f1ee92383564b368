"""Rasa's callback channel, keeping the metadata the service sends with each turn.

Rasa 3.6's `CallbackInput` builds its `UserMessage` without the request's `metadata` (its
parent, the REST channel, keeps it), so the turn id and the conversation's language the
service sends never reached the tracker. This channel is the same callback channel, under the
same name and URL (`/webhooks/callback/webhook`, `output_channel=callback`), with the
metadata passed on; `action_extract_language` reads the language from it. Its output retries
a bot message the service did not take (`callback_output.py`).

Rasa imports this module (credentials.yml names it); the service never does. Rasa's Python
is 3.10.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import action_validation
from callback_output import RetryingCallbackOutput
from rasa.core.channels.callback import CallbackInput
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

# Rasa imports this module at start-up; the faster action-answer check rides along.
action_validation.install()


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
            await on_new_message(
                UserMessage(
                    text,
                    self.get_output_channel(),
                    sender_id,
                    input_channel=self.name(),
                    metadata=self.get_metadata(request),
                )
            )
            return response.text("success")

        return callback_webhook
