"""Rasa's callback channel, keeping the metadata the service sends with each turn.

Rasa 3.6's `CallbackInput` builds its `UserMessage` without the request's `metadata` (its
parent, the REST channel, keeps it), so the turn id and the conversation's language the
service sends never reached the tracker. This channel is the same callback channel, under the
same name and URL (`/webhooks/callback/webhook`, `output_channel=callback`), with the
metadata passed on; `action_extract_language` reads the language from it.

Its output retries a bot message the service did not take (a 5xx or no connection): Rasa's
own `CallbackOutput` logs the failure and drops the message, while the webhook still answers
"success", so the turn counts as done and the patient never gets the reply. Behind a load
balancer that happens whenever a replica dies during a callback (found by `make test-scale`:
HAProxy answered 502 for the replica it lost mid-request). A retry is safe: the service
recognises a reply it already stored for the turn in flight (`turn_queue.record_reply`).

Rasa imports this module (credentials.yml names it); the service never does. Rasa's Python
is 3.10.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import action_validation
import aiohttp
from rasa.core.channels.callback import CallbackInput, CallbackOutput
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.utils.endpoints import ClientResponseError
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

# Rasa imports this module at start-up; the faster action-answer check rides along.
action_validation.install()

logger = logging.getLogger(__name__)
RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0)  # about 8 s: a balancer notices a dead replica in 2


class RetryingCallbackOutput(CallbackOutput):
    """Rasa's callback output, retrying a message the service did not take."""

    async def _persist_message(self, message: dict[str, Any]) -> None:
        await CollectingOutputChannel._persist_message(self, message)
        for attempt, delay in enumerate((*RETRY_DELAYS, None), start=1):
            try:
                await self.callback_endpoint.request(
                    "post", content_type="application/json", json=message
                )
                return
            except ClientResponseError as exc:
                if exc.status < 500:  # refused for good (auth, validation): retrying won't help
                    logger.error("callback refused the bot message (status %s)", exc.status)
                    return
                failure = f"status {exc.status}"
            # Rasa runs Python 3.10, where asyncio.TimeoutError is not the builtin one.
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:  # noqa: UP041
                failure = type(exc).__name__
            if delay is None:
                logger.error("callback failed %s times (%s); bot message dropped", attempt, failure)
                return
            logger.warning("callback failed (%s); retry %s in %s s", failure, attempt, delay)
            await asyncio.sleep(delay)


class MetadataCallbackInput(CallbackInput):
    """The callback channel, with each message's `metadata` kept on the user event."""

    def get_output_channel(self) -> CallbackOutput:
        """Where the bot's messages go: the service's callback, retried when it fails."""
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
