"""Per-address limits on the web chat: open sockets, and new conversations.

An address is counted as a keyed hash (`client_key`), never stored as itself: an IP address
is an identifier. IPv6 clients are counted by their /64 network, since one host can take any
address in it. Open sockets are counted by the process that holds them, or over every replica
in Redis when `FRONTDESK_REDIS_URL` is set (`connectors.webchat.shared_sockets`); new
conversations by the database, over a clock-based window.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from frontdesk.conversations.models import Conversation
from frontdesk.patients.guessing import keyed_hash

MAX_SOCKETS_PER_CLIENT = 10  # open at once (per process, or per deployment with Redis)
MAX_NEW_CONVERSATIONS: tuple[tuple[int, timedelta], ...] = (
    (20, timedelta(hours=1)),
    (60, timedelta(days=1)),
)


def client_key(address: str | None, *, secret: str) -> str | None:
    """The keyed hash an address is counted under; None when the address is unknown."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return keyed_hash(secret, "client", address)
    if ip.version == 6:
        mapped = ip.ipv4_mapped
        network = str(mapped) if mapped else str(ipaddress.ip_network(f"{ip}/64", strict=False))
    else:
        network = str(ip)
    return keyed_hash(secret, "client", network)


class SocketCounter:
    """Open sockets per client key in this process."""

    def __init__(self, limit: int = MAX_SOCKETS_PER_CLIENT) -> None:
        """Create the counter; `limit` sockets per key may be open at once."""
        self.limit = limit
        self._open: Counter[str] = Counter()

    async def acquire(self, key: str | None) -> bool:
        """Count one more socket for `key`; False (and not counted) when at the limit."""
        if key is None:
            return True
        if self._open[key] >= self.limit:
            return False
        self._open[key] += 1
        return True

    async def release(self, key: str | None) -> None:
        """A socket counted by `acquire` closed."""
        if key is None:
            return
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]

    async def close(self) -> None:
        """Nothing to give back: the counts die with the process."""


def may_start_conversation(*, session: Session, client_key: str | None, now: datetime) -> bool:
    """Whether this address may open another new conversation now."""
    if client_key is None:
        return True
    for most, window in MAX_NEW_CONVERSATIONS:
        started = session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.client_key == client_key, Conversation.created_at > now - window)
        )
        if (started or 0) >= most:
            return False
    return True
