"""Publish/subscribe for things other parts of the service react to live.

Channels publish (a patient message arrived, the bot escalated, a staff member replied); the
staff console subscribes to push queue updates without reloading. Events carry ids and
metadata, never message text or patient details: subscribers read what they may show from the
database, where access is checked and audited.

`EventBus` is what publishers and subscribers rely on. `InProcessEventBus` serves one process,
the embedded default; a scaled-out deployment plugs in one that fans out through a broker
(Redis pub/sub), so a console held by one process sees an escalation published in another.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Something that happened in one practice: `kind` (e.g. "conversation.escalated") + ids."""

    kind: str
    practice_id: int
    data: dict[str, Any] = field(default_factory=dict)


class EventBus(Protocol):
    """Fan-out of events to every subscriber, wherever it runs."""

    def publish(self, event: Event) -> None:
        """Hand an event to every subscriber without waiting (call from the event loop).

        Publishing never blocks a patient's turn: an implementation backed by a broker queues
        the event for it and returns at once.
        """

    def subscribe(self) -> AbstractAsyncContextManager[asyncio.Queue[Event]]:
        """A queue that receives every event published while the context is open.

        Events are data only (ids, kinds), so they survive a trip through a broker unchanged.
        """


class InProcessEventBus:
    """The event bus of a single process: each subscriber has its own bounded queue."""

    def __init__(self, *, queue_size: int = 256) -> None:
        """Create a bus; a subscriber that falls `queue_size` events behind loses the oldest."""
        self._queue_size = queue_size
        self._subscribers: set[asyncio.Queue[Event]] = set()

    def publish(self, event: Event) -> None:
        """Deliver an event to every subscriber without waiting (call from the event loop)."""
        for queue in list(self._subscribers):
            if queue.full():  # a slow console tab must not hold up a patient's turn
                queue.get_nowait()
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue that receives every event published while the context is open."""
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
