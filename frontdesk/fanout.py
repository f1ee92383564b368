"""Live fan-out across service processes through Redis pub/sub.

With several replicas behind a load balancer, the patient's socket and the staff console may
sit on other processes than the one handling a staff reply or a bot callback. `RedisChatHub`
and `RedisEventBus` implement the same interfaces as the in-process ones (`frontdesk.hub`,
`frontdesk.events`): each delivers to the sockets and subscribers of its own process at once,
and hands the frame or event to Redis, from where every *other* process delivers it to its own.

Both share one `RedisFanout` per process: one publisher task draining a bounded buffer (a
patient's turn never waits on Redis), one subscriber connection for both channels that
reconnects with backoff. Live delivery is best effort by design: every message is stored
before it is published, so a frame lost while Redis is away shows in the history when the
widget reconnects, and the console reloads its queue. Pub/sub keeps nothing: frames (which do
carry message text, as the socket does) only pass through Redis in transit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from frontdesk.events import Event, InProcessEventBus
from frontdesk.hub import ChatSocket, InProcessChatHub

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
# What a lost or refused Redis connection raises (redis-py wraps most, not all, OS errors).
_REDIS_DOWN = (RedisError, OSError)
RECONNECT_MAX_SECONDS = 10.0
# A frame that could not be published for this long is dropped: it is stored, and showing it
# live much later (after a Redis outage) would only reorder what the widget already reloaded.
MAX_FRAME_AGE_SECONDS = 10.0


@dataclass
class FanoutStats:
    """Counters for metrics and the health page (numbers only, never payloads)."""

    published: int = 0
    received: int = 0
    dropped: int = 0
    reconnects: int = 0


class RedisFanout:
    """One process's link to the Redis channels `<prefix>:chat` and `<prefix>:events`.

    Args:
        url: Redis URL (`redis://` or `rediss://`, with the password if it needs one).
        prefix: Channel prefix; deployments sharing a Redis must use different ones.
        buffer_size: Frames waiting for Redis beyond this are dropped, oldest first.
        client: An existing client (tests); by default one is made from `url`.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "frontdesk",
        buffer_size: int = 1000,
        client: aioredis.Redis | None = None,
    ) -> None:
        self.origin = uuid.uuid4().hex  # our own messages come back to us; we skip them
        self.chat_channel = f"{prefix}:chat"
        self.events_channel = f"{prefix}:events"
        self.stats = FanoutStats()
        # Named, so an operator (or a test) can find this process's connections in CLIENT LIST.
        self.client_name = f"frontdesk-fanout-{self.origin[:12]}"
        self._client = client or aioredis.from_url(
            url,
            socket_connect_timeout=3.0,
            socket_timeout=5.0,
            health_check_interval=15,
            client_name=self.client_name,
        )
        self._handlers: dict[str, Handler] = {}
        self._buffer: deque[tuple[float, str, bytes]] = deque(maxlen=buffer_size)
        self._wake = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def connected(self) -> bool:
        """Whether the subscriber is connected: frames from other processes reach us."""
        return self._subscribed.is_set()

    def on(self, channel: str, handler: Handler) -> None:
        """Call `handler` with each payload another process publishes on `channel`."""
        self._handlers[channel] = handler

    def send(self, channel: str, payload: dict[str, Any]) -> None:
        """Queue a payload for the other processes; returns at once (call from the loop)."""
        data = json.dumps({"o": self.origin, "p": payload}, separators=(",", ":")).encode()
        if len(self._buffer) == self._buffer.maxlen:
            self.stats.dropped += 1  # deque drops the oldest itself
        self._buffer.append((time.monotonic(), channel, data))
        self._wake.set()

    async def start(self, *, wait_seconds: float = 5.0) -> None:
        """Start publishing and listening; wait up to `wait_seconds` for the subscription.

        A Redis that is down at start-up does not stop the service: the subscriber keeps
        retrying (logged), and until then this process serves its own sockets only.
        """
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._publish_loop(), name="fanout-publisher"),
            asyncio.create_task(self._subscribe_loop(), name="fanout-subscriber"),
        ]
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout=wait_seconds)
        except TimeoutError:
            logger.error("fan-out: Redis not reachable yet; live updates stay in this process")

    async def stop(self) -> None:
        """Stop both tasks and close the connections."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._subscribed.clear()
        await self._client.aclose()

    async def ping(self) -> bool:
        """Whether Redis answers now (for readiness)."""
        try:
            return bool(await self._client.ping())
        except _REDIS_DOWN:
            return False

    async def _publish_loop(self) -> None:
        delay = 0.2
        while True:
            if not self._buffer:
                self._wake.clear()
                await self._wake.wait()
                continue
            queued_at, channel, data = self._buffer[0]
            if time.monotonic() - queued_at > MAX_FRAME_AGE_SECONDS:
                self._buffer.popleft()
                self.stats.dropped += 1
                continue
            try:
                await self._client.publish(channel, data)
            except _REDIS_DOWN as exc:
                logger.warning("fan-out: publish failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            delay = 0.2
            if self._buffer and self._buffer[0][2] is data:
                self._buffer.popleft()
            self.stats.published += 1

    async def _subscribe_loop(self) -> None:
        delay = 0.5
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.chat_channel, self.events_channel)
                self._subscribed.set()
                delay = 0.5
                async for message in pubsub.listen():
                    await self._dispatch(message)
            except _REDIS_DOWN as exc:
                self._subscribed.clear()
                self.stats.reconnects += 1
                logger.warning(
                    "fan-out: subscription lost (%s); reconnecting in %.1f s",
                    type(exc).__name__,
                    delay,
                )
            finally:
                self._subscribed.clear()
                with contextlib.suppress(*_REDIS_DOWN):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        try:
            envelope = json.loads(message["data"])
            if envelope.get("o") == self.origin:
                return
            payload = envelope["p"]
        except (ValueError, TypeError, KeyError):
            logger.warning("fan-out: unreadable message on %s ignored", channel)
            return
        handler = self._handlers.get(channel)
        if handler is None:
            return
        self.stats.received += 1
        try:
            await handler(payload)
        except Exception:  # one bad frame must not end the subscription
            logger.exception("fan-out: delivering a message from %s failed", channel)


class RedisChatHub:
    """A `ChatHub` whose frames reach the conversation's sockets in every process."""

    def __init__(self, fanout: RedisFanout) -> None:
        """Serve this process's sockets and listen for frames published elsewhere."""
        self._fanout = fanout
        self._local = InProcessChatHub()
        fanout.on(fanout.chat_channel, self._from_elsewhere)

    def attach(self, conversation_id: str, socket: ChatSocket) -> None:
        """Register a socket this process holds."""
        self._local.attach(conversation_id, socket)

    def detach(self, conversation_id: str, socket: ChatSocket) -> None:
        """Forget a socket."""
        self._local.detach(conversation_id, socket)

    async def publish(self, conversation_id: str, frame: dict[str, Any]) -> int:
        """Deliver to this process's sockets now and to the others' through Redis.

        Returns the local count, as `ChatHub.publish` documents.
        """
        delivered = await self._local.publish(conversation_id, frame)
        self._fanout.send(self._fanout.chat_channel, {"c": conversation_id, "f": frame})
        return delivered

    async def _from_elsewhere(self, payload: dict[str, Any]) -> None:
        await self._local.publish(str(payload["c"]), dict(payload["f"]))


class RedisEventBus:
    """An `EventBus` whose events reach subscribers in every process."""

    def __init__(self, fanout: RedisFanout, *, queue_size: int = 256) -> None:
        """Serve this process's subscribers and listen for events published elsewhere."""
        self._fanout = fanout
        self._local = InProcessEventBus(queue_size=queue_size)
        fanout.on(fanout.events_channel, self._from_elsewhere)

    def publish(self, event: Event) -> None:
        """Deliver to this process's subscribers now and to the others' through Redis."""
        self._local.publish(event)
        self._fanout.send(
            self._fanout.events_channel,
            {"k": event.kind, "p": event.practice_id, "d": event.data},
        )

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue of every event, whichever process published it."""
        async with self._local.subscribe() as queue:
            yield queue

    async def _from_elsewhere(self, payload: dict[str, Any]) -> None:
        self._local.publish(Event(str(payload["k"]), int(payload["p"]), dict(payload["d"])))


@dataclass
class LiveChannels:
    """The hub and event bus a process uses, and the Redis link behind them, if any."""

    hub: InProcessChatHub | RedisChatHub
    events: InProcessEventBus | RedisEventBus
    fanout: RedisFanout | None = None

    async def close(self) -> None:
        """Stop the Redis link (nothing to do in-process)."""
        if self.fanout is not None:
            await self.fanout.stop()


async def open_live_channels(redis_url: str, *, prefix: str) -> LiveChannels:
    """In-process hub and bus with no Redis URL (the embedded default), else Redis fan-out."""
    if not redis_url:
        return LiveChannels(hub=InProcessChatHub(), events=InProcessEventBus())
    fanout = RedisFanout(redis_url, prefix=prefix)
    channels = LiveChannels(hub=RedisChatHub(fanout), events=RedisEventBus(fanout), fanout=fanout)
    await fanout.start()
    return channels
