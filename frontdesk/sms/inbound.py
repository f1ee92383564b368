"""An inbound text: stored once, carrier keywords answered, routed to staff, identity or bot.

Everything that must happen before Twilio is answered runs here, in the caller's transaction,
including queueing the bot turn (`frontdesk.conversations.turn_queue`), so an acknowledged text
always reaches the bot; the dispatcher hands it to Rasa. A text stored before the queue existed
stays pending and is queued by the retry pass.
Phone numbers never leave these functions except towards Twilio.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from frontdesk import texts
from frontdesk.conversations.models import Conversation, Message, Owner, Role
from frontdesk.conversations.service import (
    record_outgoing_message,
    record_patient_message,
    reply_language,
)
from frontdesk.conversations.turn_queue import enqueue_turn, has_turn
from frontdesk.conversations.turns import bot_turn_text, safety_line
from frontdesk.language import DEFAULT_LANGUAGE
from frontdesk.phi.tokens import protect_for_bot
from frontdesk.practices.models import Practice
from frontdesk.sms.consent import (
    help_text,
    is_opted_out,
    opt_in_text,
    opt_out_text,
    record_consent,
)
from frontdesk.sms.models import InboundOutcome, InboundSms, PracticeSmsNumber, SmsThread
from frontdesk.sms.outbox import drop_pending, queue_sms
from frontdesk.sms.text import Keyword, choice_payload, classify_keyword, keyword_language
from frontdesk.sms.threads import offered_buttons, sms_thread

logger = logging.getLogger(__name__)

EMPTY_BODY_REPLY = "sms.text_only"  # catalogue key (frontdesk.texts)
IDENTITY_PLACEHOLDER = "(date of birth sent for verification)"


@dataclass(frozen=True)
class InboundResult:
    """What the webhook does after storing an inbound message (all ids, no PHI)."""

    inbound_id: int
    outcome: InboundOutcome
    duplicate: bool = False
    practice_id: int | None = None
    conversation_public_id: str | None = None
    text: str | None = None  # for the bot: the patient's words, cut to the bot's limit
    payload: str | None = None  # the button payload a numbered reply picked


def receive_inbound(
    *,
    session: Session,
    message_sid: str,
    from_phone: str,
    to_phone: str,
    body: str,
    num_media: int,
    now: datetime,
    max_chars: int,
) -> InboundResult:
    """Store one inbound SMS (once per MessageSid) and do everything that must not wait.

    Carrier keywords are answered and the bot turn queued here, in the same transaction as the
    receipt; the caller only wakes the dispatcher after acknowledging Twilio.
    """
    inbound = InboundSms(
        message_sid=message_sid,
        from_phone=from_phone,
        to_phone=to_phone,
        body=body,
        num_media=num_media,
        received_at=now,
    )
    try:
        with session.begin_nested():
            session.add(inbound)
            session.flush()
    except IntegrityError:
        existing = session.scalar(select(InboundSms).where(InboundSms.message_sid == message_sid))
        assert existing is not None
        return InboundResult(existing.id, existing.outcome, duplicate=True)
    return process_inbound(session=session, inbound=inbound, now=now, max_chars=max_chars)


def process_inbound(
    *, session: Session, inbound: InboundSms, now: datetime, max_chars: int
) -> InboundResult:
    """Route a stored inbound message: keywords, opted-out numbers, staff, identity or bot."""
    number = session.scalar(
        select(PracticeSmsNumber).where(PracticeSmsNumber.phone == inbound.to_phone)
    )
    if number is None:
        logger.warning("inbound SMS %s to a number no practice owns", inbound.id)
        return _finish(inbound, InboundOutcome.UNKNOWN_NUMBER, now)
    practice = session.get_one(Practice, number.practice_id)
    inbound.practice_id = practice.id
    phone = inbound.from_phone
    opted_out = is_opted_out(session=session, practice_id=practice.id, phone=phone)
    keyword = classify_keyword(inbound.body, opted_out=opted_out)
    answer_in = keyword_language(inbound.body)  # "ALTO" is confirmed in Spanish
    if keyword is Keyword.OPT_OUT:
        record_consent(
            session=session,
            practice_id=practice.id,
            phone=phone,
            opted_out=True,
            keyword=inbound.body.strip().upper(),
            now=now,
        )
        if not opted_out:  # one confirmation, not one per repeated STOP
            _reply(session, practice, phone, opt_out_text(practice, answer_in))
        drop_pending(session=session, practice_id=practice.id, phone=phone, now=now)
        return _finish(inbound, InboundOutcome.OPT_OUT, now)
    if keyword is Keyword.OPT_IN:
        record_consent(
            session=session,
            practice_id=practice.id,
            phone=phone,
            opted_out=False,
            keyword=inbound.body.strip().upper(),
            now=now,
        )
        _reply(session, practice, phone, opt_in_text(practice, answer_in))
        return _finish(inbound, InboundOutcome.OPT_IN, now)
    if keyword is Keyword.HELP:
        _reply(session, practice, phone, help_text(practice, answer_in))
        return _finish(inbound, InboundOutcome.HELP, now)
    if opted_out:
        return _finish(inbound, InboundOutcome.OPTED_OUT, now)
    text = inbound.body.replace("\x00", "").strip()
    if not text:
        known = sms_thread(session=session, practice_id=practice.id, phone=phone)
        language = (
            reply_language(
                session=session, conversation=session.get_one(Conversation, known.conversation_id)
            )
            if known is not None
            else DEFAULT_LANGUAGE
        )
        body = texts.for_sms(texts.text(EMPTY_BODY_REPLY, language))
        queue_sms(session=session, practice_id=practice.id, to=phone, body=body, kind="bot")
        return _finish(inbound, InboundOutcome.EMPTY, now)
    thread = sms_thread(session=session, practice_id=practice.id, phone=phone)
    assert thread is not None
    conversation = session.get_one(Conversation, thread.conversation_id)
    if thread.awaiting_identity and conversation.owner is Owner.BOT:
        # The date of birth goes to the identity check only: neither the bot nor the transcript
        # gets it. The receipt keeps it until the check has run.
        message, _ = record_patient_message(
            session=session,
            conversation=conversation,
            text=IDENTITY_PLACEHOLDER,
            payload=None,
            client_id=inbound.message_sid,
            in_patients_words=False,  # our English placeholder must not switch the language
        )
        inbound.message_id = message.id
        inbound.outcome = InboundOutcome.IDENTITY
        session.flush()
        return InboundResult(
            inbound.id, InboundOutcome.IDENTITY, False, practice.id, conversation.public_id
        )
    payload = choice_payload(
        text, offered_buttons(session=session, conversation_id=conversation.id)
    )
    message, _ = record_patient_message(
        session=session,
        conversation=conversation,
        text=text,
        payload=payload,
        client_id=inbound.message_sid,
    )
    inbound.message_id = message.id
    # A numbered reply maps only to a payload the bot offered (choice_payload checked it).
    inbound.bot_text = bot_turn_text(text[:max_chars], payload, offered=None)
    if conversation.owner is not Owner.BOT:
        result = _finish(inbound, InboundOutcome.STAFF, now)
        return InboundResult(
            result.inbound_id, result.outcome, False, practice.id, conversation.public_id
        )
    queue_bot_turn(session=session, inbound=inbound, conversation=conversation)
    result = _finish(inbound, InboundOutcome.BOT, now)
    return InboundResult(
        result.inbound_id,
        result.outcome,
        False,
        practice.id,
        conversation.public_id,
        text=text[:max_chars],
        payload=payload,
    )


def queue_bot_turn(*, session: Session, inbound: InboundSms, conversation: Conversation) -> None:
    """Queue the stored text's bot turn (`inbound.bot_text`), in the receipt's transaction.

    Rasa's tracker gets tokens, never raw PHI: the words are protected here; a payload or an
    intent (starting with "/") goes as it is. The 911 line of a weak emergency signal is
    stored (and queued as a text) in the same transaction, so it always leads the answer.
    """
    assert inbound.bot_text is not None and inbound.message_id is not None
    if has_turn(session=session, message_id=inbound.message_id):
        return
    text = inbound.bot_text
    language = reply_language(session=session, conversation=conversation)
    line = safety_line(text, text, language.value)
    if line is not None:  # a weak emergency signal: the 911 line goes out before any answer
        record_outgoing_message(
            session=session, conversation=conversation, role=Role.BOT, text=line
        )
    if not text.startswith("/"):
        text = protect_for_bot(session=session, conversation_id=conversation.id, text=text)
    enqueue_turn(
        session=session, conversation=conversation, text=text, message_id=inbound.message_id
    )


def _reply(session: Session, practice: Practice, phone: str, body: str) -> None:
    queue_sms(session=session, practice_id=practice.id, to=phone, body=body, kind="compliance")


def _finish(inbound: InboundSms, outcome: InboundOutcome, now: datetime) -> InboundResult:
    inbound.outcome = outcome
    inbound.processed_at = now
    return InboundResult(inbound.id, outcome, False, inbound.practice_id)


# --- after the acknowledgement: the bot, the identity check, retries ----------------------


def mark_inbound_done(
    *, session: Session, inbound_id: int, outcome: InboundOutcome, now: datetime
) -> None:
    """Record that an inbound message reached the bot (or the identity check)."""
    inbound = session.get_one(InboundSms, inbound_id)
    inbound.outcome = outcome
    inbound.processed_at = now
    if outcome is InboundOutcome.IDENTITY:
        inbound.body = ""  # the date of birth is not kept once checked
    if inbound.message_id is not None:
        message = session.get(Message, inbound.message_id)
        if message is not None and message.forwarded_at is None:
            message.forwarded_at = now
    session.flush()


def pending_inbound(*, session: Session, older_than: datetime, limit: int = 50) -> list[InboundSms]:
    """Inbound messages stored but never handed on (the process stopped in between)."""
    return list(
        session.scalars(
            select(InboundSms)
            .where(
                InboundSms.processed_at.is_(None),
                or_(
                    InboundSms.outcome == InboundOutcome.PENDING,
                    InboundSms.outcome == InboundOutcome.IDENTITY,
                ),
                InboundSms.received_at < older_than,
            )
            .order_by(InboundSms.id)
            .limit(limit)
        )
    )


def finish_identity(*, session: Session, conversation_id: int) -> None:
    """The identity check has consumed its answer: later texts go to the bot again."""
    thread = session.scalar(select(SmsThread).where(SmsThread.conversation_id == conversation_id))
    if thread is not None:
        thread.awaiting_identity = False
        session.flush()
