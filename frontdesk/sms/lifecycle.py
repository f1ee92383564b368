"""The SMS channel's background work, started and stopped with the service.

Two parts run while the service does: the outbox worker (a thread sending what the outbox
holds) and a loop handing on inbound texts that were stored but never reached the bot (the
process stopped in between, or Rasa was down). Reaching the bot is the Rasa side's business,
so the loop is given that step as `retry_pending`; this package never talks to Rasa.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from frontdesk.settings import Settings
from frontdesk.sms.transport import SmsTransport, transport_from_settings
from frontdesk.sms.worker import OutboxWorker, worker_from_settings

logger = logging.getLogger(__name__)
RETRY_PENDING_SECONDS = 15  # how often stored-but-unforwarded texts are handed on again


@dataclass
class SmsChannel:
    """The SMS channel's background parts: the worker other code wakes, and its own tasks."""

    worker: OutboxWorker
    transport: SmsTransport
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def start_sms(
    settings: Settings,
    *,
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime],
    retry_pending: Callable[[], Awaitable[object]],
    transport: SmsTransport | None = None,
) -> SmsChannel:
    """Build the channel; with `sms_worker_enabled`, start the worker and the retry loop.

    Args:
        settings: The service's settings (transport, worker tuning, whether to run).
        sessions: Where the worker claims and records messages.
        clock: The service's clock.
        retry_pending: One pass handing pending inbound texts on to the bot.
        transport: How messages leave; by default Twilio, or the sandbox without an account.
    """
    transport = transport or transport_from_settings(settings)
    worker = worker_from_settings(settings, sessions=sessions, transport=transport, clock=clock)
    channel = SmsChannel(worker=worker, transport=transport)
    if settings.sms_worker_enabled:
        worker.start()
        channel.tasks.append(asyncio.create_task(_retry_loop(retry_pending)))
    return channel


async def stop_sms(channel: SmsChannel) -> None:
    """Stop what `start_sms` started; the worker finishes its current pass first."""
    for task in channel.tasks:
        task.cancel()
    await asyncio.to_thread(channel.worker.stop)


async def _retry_loop(retry_pending: Callable[[], Awaitable[object]]) -> None:
    while True:
        await asyncio.sleep(RETRY_PENDING_SECONDS)
        try:
            await retry_pending()
        except Exception:  # keep retrying; the next pass may find the database back
            logger.exception("retrying pending inbound SMS failed")
