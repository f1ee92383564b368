"""How a stored bot or staff message reaches its channel: one deliverer per channel.

`record_outgoing_message` stores the message, then calls the deliverer registered for the
conversation's channel in the same transaction (the SMS channel queues the text in its outbox,
so it is sent exactly when the message is committed). A channel with nothing registered only
stores: the web chat delivers live from its connector after commit. Channels register at
start-up (`frontdesk.wiring.connect_ports`), so this package never imports one.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from frontdesk.conversations.models import Channel, Conversation, Message


class Deliverer(Protocol):
    """A channel's side of an outgoing message."""

    def __call__(self, *, session: Session, conversation: Conversation, message: Message) -> None:
        """Hand a message just stored to the channel, inside the caller's transaction."""


_deliverers: dict[Channel, Deliverer] = {}


def register_deliverer(channel: Channel, deliverer: Deliverer) -> None:
    """Deliver `channel`'s outgoing messages with `deliverer` (registering again replaces it)."""
    _deliverers[channel] = deliverer


def deliver(*, session: Session, conversation: Conversation, message: Message) -> None:
    """Hand a stored message to its conversation's channel, if that channel registered one."""
    deliverer = _deliverers.get(conversation.channel)
    if deliverer is not None:
        deliverer(session=session, conversation=conversation, message=message)
