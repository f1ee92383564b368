"""Open web chat sockets per client address, counted over every replica in Redis.

With one process the count lives in memory (`limits.SocketCounter`); with
`FRONTDESK_REDIS_URL` set, replicas behind a load balancer would each allow the limit, so
the count is a Redis sorted set per client key (`<prefix>:sockets:<client_key>`, a keyed
hash, never the address), one member per open socket. Each member is a lease that its
process renews while the socket is open, so the sockets of a replica that died are no
longer counted once their lease runs out. Lease times come from the Redis server's clock,
the same for every replica. If Redis cannot be reached, this process counts its own
sockets, as a single process does: the chat stays up with the per-process limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from itertools import count

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from connectors.webchat import limits
from connectors.webchat.limits import SocketCounter

logger = logging.getLogger(__name__)

LEASE_SECONDS = 60.0  # a dead replica's sockets stop counting after this long
# Drop expired leases, then count; add this socket only below the limit (one atomic step).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""


class RedisSocketCounter:
    """`SocketCounter`'s interface, shared by every process using the same Redis and prefix.

    Args:
        url: Redis URL (`redis://` or `rediss://`).
        prefix: Key prefix; deployments sharing a Redis use different ones.
        limit: Sockets per client key open at once, over all replicas.
        lease_seconds: How long a socket counts without its process renewing it.
        client: An existing client (tests); by default one is made from `url`.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        limit: int,
        lease_seconds: float = LEASE_SECONDS,
        client: aioredis.Redis | None = None,
    ) -> None:
        self.limit = limit
        self._prefix = prefix
        self._lease_ms = int(lease_seconds * 1000)
        self._renew_every = lease_seconds / 3
        self._client = client or aioredis.from_url(
            url, socket_connect_timeout=3.0, socket_timeout=5.0
        )
        self._acquire = self._client.register_script(_ACQUIRE)
        self._renew = self._client.register_script(_RENEW)
        self._origin = uuid.uuid4().hex[:12]
        self._numbers = count(1)
        self._held: dict[str, list[str]] = {}  # client key -> this process's members
        self._local = SocketCounter(limit)  # used while Redis is unreachable
        self._local_held: dict[str, int] = {}
        self._renewer: asyncio.Task[None] | None = None

    def _key(self, client_key: str) -> str:
        return f"{self._prefix}:sockets:{client_key}"

    async def acquire(self, key: str | None) -> bool:
        """Count one more socket for `key` everywhere; False (and not counted) at the limit."""
        if key is None:
            return True
        member = f"{self._origin}:{next(self._numbers)}"
        try:
            added = await self._acquire(
                keys=[self._key(key)], args=[self.limit, self._lease_ms, member]
            )
        except RedisError as exc:
            logger.warning("socket count in Redis failed (%s); counting here", type(exc).__name__)
            if not await self._local.acquire(key):
                return False
            self._local_held[key] = self._local_held.get(key, 0) + 1
            return True
        if not added:
            return False
        self._held.setdefault(key, []).append(member)
        return True

    async def release(self, key: str | None) -> None:
        """A socket counted by `acquire` closed."""
        if key is None:
            return
        if self._local_held.get(key):
            self._local_held[key] -= 1
            await self._local.release(key)
            return
        members = self._held.get(key)
        if not members:
            return
        member = members.pop()
        if not members:
            del self._held[key]
        try:
            await self._client.zrem(self._key(key), member)
        except RedisError as exc:  # its lease runs out on its own
            logger.warning("socket release in Redis failed (%s)", type(exc).__name__)

    async def start(self) -> None:
        """Begin renewing this process's leases."""
        self._renewer = asyncio.create_task(self._renew_forever(), name="webchat-socket-leases")

    async def close(self) -> None:
        """Stop renewing, and give back every lease this process still holds."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        with contextlib.suppress(RedisError):
            for key, members in self._held.items():
                await self._client.zrem(self._key(key), *members)
        self._held.clear()
        await self._client.aclose()

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._renew_every)
            try:
                await self.renew()
            except RedisError as exc:
                logger.warning("socket lease renewal failed (%s)", type(exc).__name__)

    async def renew(self) -> None:
        """Extend the lease of every socket this process holds open."""
        for key, members in list(self._held.items()):
            for member in list(members):
                await self._renew(keys=[self._key(key)], args=[self._lease_ms, member])


async def open_socket_counter(redis_url: str, *, prefix: str) -> SocketCounter | RedisSocketCounter:
    """This process's count of open sockets: in memory without Redis, else shared."""
    if not redis_url:
        return SocketCounter(limits.MAX_SOCKETS_PER_CLIENT)
    counter = RedisSocketCounter(redis_url, prefix=prefix, limit=limits.MAX_SOCKETS_PER_CLIENT)
    await counter.start()
    return counter
