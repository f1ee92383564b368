"""Start-up wiring: connects ports whose two sides must not import each other."""

from __future__ import annotations

from frontdesk.scheduling.freed_time import subscribe_to_freed_time
from frontdesk.scheduling.waitlist import offer_to_waitlist


def connect_ports() -> None:
    """Subscribe every listener (idempotent; the app, the CLIs and the tests call it)."""
    subscribe_to_freed_time(offer_to_waitlist)
