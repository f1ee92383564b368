"""The outgoing-message port: a stored message reaches its channel's deliverer, if it has one."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from frontdesk.conversations import outgoing
from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Channel, Conversation, Message, Role
from frontdesk.models import Practice
from frontdesk.sms.models import OutboundSms
from frontdesk.sms.threads import sms_thread
from tests import factories


@pytest.fixture
def practice(session: Session) -> Practice:
    """A practice of its own: delivery needs no providers, patients or texting number."""
    return factories.practice(session)


def test_a_channel_with_no_deliverer_only_stores(
    session: Session, practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(outgoing._deliverers, Channel.WEBCHAT, raising=False)
    conversation, _ = conversations.start_conversation(
        session=session, practice=practice, channel=Channel.WEBCHAT
    )
    message = conversations.record_outgoing_message(
        session=session, conversation=conversation, role=Role.BOT, text="hello"
    )
    assert session.get(Message, message.id) is not None
    assert session.scalar(select(func.count()).select_from(OutboundSms)) == 0


def test_the_registered_deliverer_gets_the_stored_message_in_the_same_session(
    session: Session, practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered: list[tuple[Session, str, int]] = []

    def record(*, session: Session, conversation: Conversation, message: Message) -> None:
        delivered.append((session, conversation.public_id, message.id))

    monkeypatch.setitem(outgoing._deliverers, Channel.WEBCHAT, record)
    conversation, _ = conversations.start_conversation(
        session=session, practice=practice, channel=Channel.WEBCHAT
    )
    message = conversations.record_outgoing_message(
        session=session, conversation=conversation, role=Role.STAFF, text="on my way"
    )
    assert delivered == [(session, conversation.public_id, message.id)]


def test_sms_messages_reach_the_outbox_once_the_ports_are_connected(
    session: Session, practice: Practice
) -> None:
    thread = sms_thread(session=session, practice_id=practice.id, phone="+15555550101")
    assert thread is not None
    conversation = session.get_one(Conversation, thread.conversation_id)
    message = conversations.record_outgoing_message(
        session=session, conversation=conversation, role=Role.BOT, text="See you Tuesday."
    )
    [queued] = session.scalars(select(OutboundSms).where(OutboundSms.message_id == message.id))
    assert (queued.to_phone, queued.kind) == ("+15555550101", "bot")
    assert queued.body == "See you Tuesday."
