"""Rasa's callback output, retrying a bot message the service did not take.

Rasa 3.6's `CallbackOutput` posts each bot message to the service once: an error status is
logged and the message is gone, and a refused connection (the service restarting, a replica
killed behind the load balancer) raises out of the turn. The service's callback stores first
and is idempotent (a redelivered message is recorded once per turn, `turn_replies`), so
posting again is safe. This output retries what can pass on a later try (no connection, a
timeout, 429 and 5xx answers) a few times with backoff, then logs and lets the turn finish:
raising would stop Rasa before it saves the tracker, and the retried turn would run its
actions (a booking) a second time. Answers such as 400 or 401 are not retried. Logs name the
conversation and the status, never the message text (it can hold PHI).

Imported by `frontdesk_callback` (Rasa's Python, 3.10).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from rasa.core.channels.callback import CallbackOutput
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.utils.endpoints import ClientResponseError

logger = logging.getLogger(__name__)

# Waits before each further try: about 7 s in all, inside the service's turn timeout.
RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0, 3.5)
# Each try's own limit (Rasa's default is 5 minutes: one hung request would stall the turn).
ATTEMPT_TIMEOUT_SECONDS = 10.0


def worth_retrying(error: BaseException) -> bool:
    """Whether a later try of the same post can succeed."""
    if isinstance(error, ClientResponseError):
        return error.status == 429 or error.status >= 500
    return isinstance(error, aiohttp.ClientError | asyncio.TimeoutError)


class RetryingCallbackOutput(CallbackOutput):
    """`CallbackOutput` whose posts are retried on transient failures (module docstring)."""

    delays: tuple[float, ...] = RETRY_DELAYS

    async def _persist_message(self, message: dict[str, Any]) -> None:
        # The collecting parent keeps the message for the REST answer, as Rasa's own does.
        await CollectingOutputChannel._persist_message(self, message)
        recipient = message.get("recipient_id")
        for attempt in range(len(self.delays) + 1):
            try:
                await asyncio.wait_for(
                    self.callback_endpoint.request(
                        "post", content_type="application/json", json=message
                    ),
                    ATTEMPT_TIMEOUT_SECONDS,
                )
                if attempt:
                    logger.info("callback for %s delivered on try %d", recipient, attempt + 1)
                return
            except Exception as error:  # classified just below
                status = getattr(error, "status", type(error).__name__)
                if not worth_retrying(error):
                    logger.error("callback for %s refused (%s); not retried", recipient, status)
                    return
                if attempt == len(self.delays):
                    logger.error(
                        "callback for %s failed %d times (%s); bot message not delivered",
                        recipient,
                        attempt + 1,
                        status,
                    )
                    return
                await asyncio.sleep(self.delays[attempt])
