"""Start-up wiring: connects ports whose two sides must not import each other."""

from __future__ import annotations

from frontdesk.conversations.models import Channel
from frontdesk.conversations.outgoing import register_deliverer
from frontdesk.scheduling.freed_time import subscribe_to_freed_time
from frontdesk.scheduling.waitlist import offer_to_waitlist
from frontdesk.sms.delivery import deliver_outgoing_message


def connect_ports() -> None:
    """Subscribe every listener (idempotent; the app, the CLIs and the tests call it)."""
    # Bot and staff messages of SMS conversations go out through the SMS outbox.
    register_deliverer(Channel.SMS, deliver_outgoing_message)
    subscribe_to_freed_time(offer_to_waitlist)
