"""The SMS channel's rules: consent, the outbox, inbound receipts, threads and delivery status.

Everything here runs inside a caller's transaction (sessions are injected, nobody commits
here). Phone numbers never leave these functions except towards Twilio.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from frontdesk.conversations.models import Channel, Conversation, Message, Owner, Role
from frontdesk.conversations.safety import is_emergency
from frontdesk.db import clock_of
from frontdesk.practices.models import Practice
from frontdesk.sms.models import (
    InboundOutcome,
    InboundSms,
    OutboundSms,
    OutboundStatus,
    PracticeSmsNumber,
    SmsConsent,
    SmsStatusEvent,
    SmsThread,
)
from frontdesk.sms.text import (
    Keyword,
    choice_payload,
    classify_keyword,
    numbered_choices,
    segment_info,
    split_body,
    to_gsm_friendly,
)

logger = logging.getLogger(__name__)

# Kinds that go out even to an opted-out number: the one opt-out confirmation, and answers to
# HELP (carriers require both).
COMPLIANCE_KINDS = frozenset({"compliance"})
IDENTITY_PROMPT = (
    "To keep your information private, please reply with your date of birth (MM/DD/YYYY)."
)
EMPTY_BODY_REPLY = "Sorry, we can only read text. Please type your message."
IDENTITY_PLACEHOLDER = "(date of birth sent for verification)"
MEDICAL_EMERGENCY = "/medical_emergency"


# --- numbers, consent ---------------------------------------------------------------------


def practice_number(*, session: Session, practice_id: int) -> PracticeSmsNumber | None:
    """The number a practice texts from (its first configured one)."""
    return session.scalar(
        select(PracticeSmsNumber)
        .where(PracticeSmsNumber.practice_id == practice_id)
        .order_by(PracticeSmsNumber.id)
        .limit(1)
    )


def add_practice_number(
    *, session: Session, practice_id: int, phone: str, messaging_service_sid: str | None = None
) -> PracticeSmsNumber:
    """Register a Twilio number for a practice (idempotent)."""
    existing = session.scalar(select(PracticeSmsNumber).where(PracticeSmsNumber.phone == phone))
    if existing is not None:
        return existing
    number = PracticeSmsNumber(
        practice_id=practice_id, phone=phone, messaging_service_sid=messaging_service_sid
    )
    session.add(number)
    session.flush()
    return number


def is_opted_out(*, session: Session, practice_id: int, phone: str) -> bool:
    """Whether this number told this practice to stop texting it."""
    return bool(
        session.scalar(
            select(SmsConsent.opted_out).where(
                SmsConsent.practice_id == practice_id, SmsConsent.phone == phone
            )
        )
    )


def record_consent(
    *, session: Session, practice_id: int, phone: str, opted_out: bool, keyword: str, now: datetime
) -> None:
    """Record an opt-out or opt-in; the latest word wins."""
    consent = session.scalar(
        select(SmsConsent).where(SmsConsent.practice_id == practice_id, SmsConsent.phone == phone)
    )
    if consent is None:
        consent = SmsConsent(practice_id=practice_id, phone=phone)
        session.add(consent)
    consent.opted_out = opted_out
    consent.keyword = keyword[:32]
    consent.changed_at = now
    session.flush()


def help_text(practice: Practice) -> str:
    """The HELP answer carriers require: who we are, how to stop, frequency, rates, contact."""
    contact = practice.phone or "the office"
    return (
        f"{practice.name}: appointment messages and replies to your texts. "
        f"Msg frequency varies. Msg & data rates may apply. Reply STOP to opt out. "
        f"Call {contact} for help."
    )


def opt_out_text(practice: Practice) -> str:
    """The single confirmation an opt-out gets."""
    return (
        f"{practice.name}: you're unsubscribed and will get no more messages. "
        "Reply START to resubscribe."
    )


def opt_in_text(practice: Practice) -> str:
    """The confirmation a re-subscription gets."""
    return f"{practice.name}: you're subscribed again. Reply HELP for help, STOP to opt out."


# --- the outbox ---------------------------------------------------------------------------


def queue_sms(
    *,
    session: Session,
    practice_id: int,
    to: str,
    body: str,
    kind: str,
    conversation_id: int | None = None,
    message_id: int | None = None,
    dedupe_key: str | None = None,
) -> OutboundSms | None:
    """Put an SMS in the outbox; the worker sends it after the caller commits.

    Returns None when the number opted out (nothing is queued). With a `dedupe_key`, a second
    call returns the row the first one queued: the database refuses a second copy. A body
    longer than Twilio accepts is queued as several messages; the first is returned.
    """
    if kind not in COMPLIANCE_KINDS and is_opted_out(
        session=session, practice_id=practice_id, phone=to
    ):
        return None
    if dedupe_key is not None:
        existing = session.scalar(select(OutboundSms).where(OutboundSms.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
    number = practice_number(session=session, practice_id=practice_id)
    parts = split_body(to_gsm_friendly(body)) or [""]
    first: OutboundSms | None = None
    for index, part in enumerate(parts):
        info = segment_info(part)
        row = OutboundSms(
            practice_id=practice_id,
            to_phone=to,
            from_phone=number.phone if number else None,
            messaging_service_sid=number.messaging_service_sid if number else None,
            body=part,
            kind=kind,
            conversation_id=conversation_id,
            message_id=message_id,
            dedupe_key=dedupe_key
            if index == 0
            else (f"{dedupe_key}#{index}" if dedupe_key else None),
            segments=info.segments,
            encoding=info.encoding,
            next_attempt_at=clock_of(session)(),
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            # A concurrent caller queued the same key first: theirs is the one.
            existing = session.scalar(
                select(OutboundSms).where(OutboundSms.dedupe_key == row.dedupe_key)
            )
            if existing is None:
                raise
            row = existing
        first = first or row
    return first


def _part_key(dedupe_key: str | None, index: int) -> str | None:
    if dedupe_key is None or index == 0:
        return dedupe_key
    return f"{dedupe_key}#{index}"


def dead_letters(*, session: Session, practice_id: int) -> list[OutboundSms]:
    """Messages the outbox gave up on, newest first (for staff)."""
    return list(
        session.scalars(
            select(OutboundSms)
            .where(
                OutboundSms.practice_id == practice_id,
                OutboundSms.status.in_([OutboundStatus.DEAD, OutboundStatus.FAILED]),
            )
            .order_by(OutboundSms.id.desc())
        )
    )


def retry_dead_letter(*, session: Session, outbound_id: int, now: datetime) -> bool:
    """Put a dead-lettered message back in the outbox (a staff decision); False if not dead."""
    result = session.execute(
        update(OutboundSms)
        .where(OutboundSms.id == outbound_id, OutboundSms.status == OutboundStatus.DEAD)
        .values(status=OutboundStatus.PENDING, attempts=0, next_attempt_at=now, updated_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


_STATUS_RANK = {
    OutboundStatus.QUEUED: 1,
    OutboundStatus.SENT: 2,
    OutboundStatus.DELIVERED: 3,
    OutboundStatus.UNDELIVERED: 3,
    OutboundStatus.FAILED: 3,
}


def record_delivery_status(
    *, session: Session, message_sid: str, status: str, error_code: str | None, now: datetime
) -> bool:
    """Record a Twilio status callback; False for an unknown message or a repeated callback.

    Callbacks can arrive out of order: a later status never goes back to an earlier one.
    """
    outbound = session.scalar(select(OutboundSms).where(OutboundSms.twilio_sid == message_sid))
    event = SmsStatusEvent(
        outbound_id=outbound.id if outbound else None,
        message_sid=message_sid,
        status=status[:16],
        error_code=(error_code or None) and error_code[:16],
        received_at=now,
    )
    try:
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:
        return False
    if outbound is None:
        return False
    try:
        new = OutboundStatus(status)
    except ValueError:
        return True  # a status we do not track (e.g. "accepted", "read"): kept as an event
    if _STATUS_RANK.get(new, 0) > _STATUS_RANK.get(outbound.status, 0):
        outbound.status = new
        outbound.error_code = error_code or None
        outbound.updated_at = now
    session.flush()
    return True


# --- threads and conversations ------------------------------------------------------------


def sms_thread(
    *, session: Session, practice_id: int, phone: str, create: bool = True
) -> SmsThread | None:
    """The SMS conversation of a number with a practice, created on first contact."""
    thread = session.scalar(
        select(SmsThread).where(SmsThread.practice_id == practice_id, SmsThread.phone == phone)
    )
    if thread is not None or not create:
        return thread
    from frontdesk.conversations.service import new_public_id

    conversation = Conversation(
        practice_id=practice_id, public_id=new_public_id(), channel=Channel.SMS
    )
    session.add(conversation)
    session.flush()
    thread = SmsThread(practice_id=practice_id, phone=phone, conversation_id=conversation.id)
    try:
        with session.begin_nested():
            session.add(thread)
            session.flush()
    except IntegrityError:
        # The same number's first two texts arrived together; the other one made the thread.
        session.delete(conversation)
        session.flush()
        thread = session.scalar(
            select(SmsThread).where(SmsThread.practice_id == practice_id, SmsThread.phone == phone)
        )
        assert thread is not None
    return thread


def offered_buttons(*, session: Session, conversation_id: int) -> list[dict[str, str]]:
    """Buttons of the latest bot message since the patient last wrote (what "2" refers to)."""
    recent = session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.id.desc())
        .limit(20)
    )
    for message in recent:
        if message.role is Role.PATIENT:
            return []
        if message.role is Role.BOT and message.payload and message.payload.get("buttons"):
            return [dict(b) for b in message.payload["buttons"]]
    return []


def sms_text_for(text: str | None, buttons: list[dict[str, str]] | None) -> str:
    """What the patient's phone shows for a bot or staff message."""
    return numbered_choices(text, buttons or [])


def on_outgoing_message(*, session: Session, conversation: Conversation, message: Message) -> None:
    """Queue a stored bot or staff message for an SMS conversation (same transaction).

    Called by `conversations.service.record_outgoing_message`. An `identity_request` becomes
    a plain-text question for the date of birth, and the next inbound text is consumed by the
    service's identity check.
    """
    thread = session.scalar(select(SmsThread).where(SmsThread.conversation_id == conversation.id))
    if thread is None:
        logger.warning("SMS conversation %s has no number; message not sent", conversation.id)
        return
    payload = message.payload or {}
    custom = payload.get("custom") if isinstance(payload.get("custom"), dict) else None
    parts: list[str] = []
    if message.text or payload.get("buttons"):
        parts.append(sms_text_for(message.text, payload.get("buttons")))
    if custom is not None and custom.get("type") == "identity_request":
        thread.awaiting_identity = True
        parts.append(IDENTITY_PROMPT)
    body = "\n".join(p for p in parts if p)
    if not body:
        return
    queue_sms(
        session=session,
        practice_id=conversation.practice_id,
        to=thread.phone,
        body=body,
        kind=message.role.value,
        conversation_id=conversation.id,
        message_id=message.id,
    )


# --- inbound ------------------------------------------------------------------------------


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

    Carrier keywords are answered here, in the same transaction as the receipt; the bot turn
    (slow) is left to the caller, which hands over `InboundResult.text`/`payload` after
    acknowledging Twilio.
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
            _reply(session, practice, phone, opt_out_text(practice))
        _drop_pending(session, practice.id, phone, now)
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
        _reply(session, practice, phone, opt_in_text(practice))
        return _finish(inbound, InboundOutcome.OPT_IN, now)
    if keyword is Keyword.HELP:
        _reply(session, practice, phone, help_text(practice))
        return _finish(inbound, InboundOutcome.HELP, now)
    if opted_out:
        return _finish(inbound, InboundOutcome.OPTED_OUT, now)
    text = inbound.body.replace("\x00", "").strip()
    if not text:
        queue_sms(
            session=session, practice_id=practice.id, to=phone, body=EMPTY_BODY_REPLY, kind="bot"
        )
        return _finish(inbound, InboundOutcome.EMPTY, now)
    thread = sms_thread(session=session, practice_id=practice.id, phone=phone)
    assert thread is not None
    conversation = session.get_one(Conversation, thread.conversation_id)
    from frontdesk.conversations.service import record_patient_message

    if thread.awaiting_identity and conversation.owner is Owner.BOT:
        # The date of birth goes to the identity check only: neither the bot nor the transcript
        # gets it. The receipt keeps it until the check has run.
        message, _ = record_patient_message(
            session=session,
            conversation=conversation,
            text=IDENTITY_PLACEHOLDER,
            payload=None,
            client_id=inbound.message_sid,
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
    inbound.bot_text = bot_turn_text(text[:max_chars], payload)
    if conversation.owner is not Owner.BOT:
        result = _finish(inbound, InboundOutcome.STAFF, now)
        return InboundResult(
            result.inbound_id, result.outcome, False, practice.id, conversation.public_id
        )
    session.flush()
    return InboundResult(
        inbound.id,
        InboundOutcome.PENDING,
        False,
        practice.id,
        conversation.public_id,
        text=text[:max_chars],
        payload=payload,
    )


_LEADING_SLASHES = re.compile(r"^[\s/]+")  # "/ /intent" must not become "/intent"


def bot_turn_text(text: str, payload: str | None) -> str:
    """What Rasa receives for an inbound text (the web chat's rule, for SMS).

    A numbered reply's payload (only ever one the bot offered); emergency wording as the
    emergency intent, whatever the NLU would make of it; else the words, never starting with
    "/", so a patient cannot forge intents or entities.
    """
    if payload is not None:
        return payload
    if is_emergency(text):
        return MEDICAL_EMERGENCY
    return _LEADING_SLASHES.sub("", text) or "?"


def _reply(session: Session, practice: Practice, phone: str, body: str) -> None:
    queue_sms(session=session, practice_id=practice.id, to=phone, body=body, kind="compliance")


def _drop_pending(session: Session, practice_id: int, phone: str, now: datetime) -> None:
    # "No further messages of any kind": anything still waiting in the outbox is dropped,
    # except the confirmation just queued.
    session.execute(
        update(OutboundSms)
        .where(
            OutboundSms.practice_id == practice_id,
            OutboundSms.to_phone == phone,
            OutboundSms.status == OutboundStatus.PENDING,
            OutboundSms.kind != "compliance",
        )
        .values(status=OutboundStatus.DEAD, last_error="opted out", updated_at=now)
    )


def _finish(inbound: InboundSms, outcome: InboundOutcome, now: datetime) -> InboundResult:
    inbound.outcome = outcome
    inbound.processed_at = now
    return InboundResult(inbound.id, outcome, False, inbound.practice_id)


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


def conversation_phone(*, session: Session, conversation_id: int) -> str | None:
    """The number of an SMS conversation (identity check only; never logged)."""
    return session.scalar(
        select(SmsThread.phone).where(SmsThread.conversation_id == conversation_id)
    )


def finish_identity(*, session: Session, conversation_id: int) -> None:
    """The identity check has consumed its answer: later texts go to the bot again."""
    thread = session.scalar(select(SmsThread).where(SmsThread.conversation_id == conversation_id))
    if thread is not None:
        thread.awaiting_identity = False
        session.flush()


def sandbox_messages(*, session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """The latest outbound messages, for the development-only page (bodies included)."""
    rows = session.scalars(select(OutboundSms).order_by(OutboundSms.id.desc()).limit(limit))
    return [
        {
            "id": r.id,
            "to": r.to_phone,
            "kind": r.kind,
            "status": r.status.value,
            "segments": r.segments,
            "encoding": r.encoding,
            "body": r.body,
            "at": (r.sent_at or r.created_at).isoformat(),
        }
        for r in rows
    ]


def stale_claims(*, session: Session, now: datetime) -> list[OutboundSms]:
    """Messages a worker claimed and never finished (it died mid-send)."""
    return list(
        session.scalars(
            select(OutboundSms).where(
                OutboundSms.status == OutboundStatus.SENDING, OutboundSms.claimed_until <= now
            )
        )
    )


RETRY_CAP = timedelta(minutes=30)


DEMO_SMS_NUMBER = "+15555550199"  # fictional (555-01xx), the demo practice's texting number


def seed_demo_sms(session: Session, practice: Practice) -> None:
    """Give the demo practice a texting number (sandbox in development)."""
    if practice_number(session=session, practice_id=practice.id) is None:
        add_practice_number(session=session, practice_id=practice.id, phone=DEMO_SMS_NUMBER)


# --- bulk paths (reminders: hundreds of messages per transaction) -------------------------


@dataclass(frozen=True)
class ThreadInfo:
    """An SMS thread's conversation, as outreach needs it."""

    conversation_id: int
    public_id: str
    bot_owns: bool


def threads_for(*, session: Session, practice_id: int, phones: set[str]) -> dict[str, ThreadInfo]:
    """The SMS conversations of many numbers, created where missing (a few statements)."""
    from frontdesk.conversations.service import new_public_id

    def load() -> dict[str, ThreadInfo]:
        found: dict[str, ThreadInfo] = {}
        listed = sorted(phones)
        for start in range(0, len(listed), 500):
            rows = session.execute(
                select(SmsThread.phone, Conversation.id, Conversation.public_id, Conversation.owner)
                .join(Conversation, Conversation.id == SmsThread.conversation_id)
                .where(
                    SmsThread.practice_id == practice_id,
                    SmsThread.phone.in_(listed[start : start + 500]),
                )
            )
            for phone, conversation_id, public_id, owner in rows:
                found[phone] = ThreadInfo(conversation_id, public_id, owner is Owner.BOT)
        return found

    threads = load()
    missing = sorted(phones - threads.keys())
    if missing:
        now = clock_of(session)()
        conversation_ids = list(
            session.scalars(
                insert(Conversation).returning(Conversation.id, sort_by_parameter_order=True),
                [
                    {
                        "practice_id": practice_id,
                        "public_id": new_public_id(),
                        "channel": Channel.SMS,
                        "owner": Owner.BOT,
                        "created_at": now,
                        "last_activity_at": now,
                    }
                    for _ in missing
                ],
            )
        )
        dialect = session.get_bind().dialect.name
        table = cast(Table, SmsThread.__table__)
        statement = (
            postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
        ).on_conflict_do_nothing()
        session.connection().execute(
            statement,
            [
                {
                    "practice_id": practice_id,
                    "phone": phone,
                    "conversation_id": conversation_id,
                    "awaiting_identity": False,
                    "created_at": now,
                }
                for phone, conversation_id in zip(missing, conversation_ids, strict=True)
            ],
        )
        threads = load()
        # A number that texted in meanwhile got its own thread: drop the spare conversations.
        used = {t.conversation_id for t in threads.values()}
        spare = [c for c in conversation_ids if c not in used]
        if spare:
            session.execute(delete(Conversation).where(Conversation.id.in_(spare)))
    return threads


def opted_out_among(*, session: Session, practice_id: int, phones: set[str]) -> set[str]:
    """Which of these numbers opted out (one query per 500 numbers)."""
    listed = sorted(phones)
    out: set[str] = set()
    for start in range(0, len(listed), 500):
        out |= set(
            session.scalars(
                select(SmsConsent.phone).where(
                    SmsConsent.practice_id == practice_id,
                    SmsConsent.opted_out.is_(True),
                    SmsConsent.phone.in_(listed[start : start + 500]),
                )
            )
        )
    return out


@dataclass(frozen=True)
class BulkSms:
    """One message for `queue_many`; the caller has checked consent already."""

    to: str
    body: str
    kind: str
    dedupe_key: str
    conversation_id: int | None = None
    message_id: int | None = None


def queue_many(*, session: Session, practice_id: int, messages: list[BulkSms]) -> dict[str, int]:
    """Queue many single-part messages at once; returns outbox ids by dedupe key.

    Keys already in the outbox are left alone (the database refuses a second copy) and map
    to the existing row.
    """
    if not messages:
        return {}
    number = practice_number(session=session, practice_id=practice_id)
    now = clock_of(session)()
    rows = []
    for message in messages:
        body = to_gsm_friendly(message.body)[:MAX_SINGLE_BODY]
        info = segment_info(body)
        rows.append(
            {
                "practice_id": practice_id,
                "to_phone": message.to,
                "from_phone": number.phone if number else None,
                "messaging_service_sid": number.messaging_service_sid if number else None,
                "body": body,
                "kind": message.kind,
                "conversation_id": message.conversation_id,
                "message_id": message.message_id,
                "dedupe_key": message.dedupe_key,
                "status": OutboundStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "segments": info.segments,
                "encoding": info.encoding,
                "created_at": now,
                "updated_at": now,
            }
        )
    dialect = session.get_bind().dialect.name
    table = cast(Table, OutboundSms.__table__)
    statement = (
        postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    ).on_conflict_do_nothing()
    session.connection().execute(statement, rows)
    keys = [m.dedupe_key for m in messages]
    ids: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        for key, outbound_id in session.execute(
            select(OutboundSms.dedupe_key, OutboundSms.id).where(
                OutboundSms.dedupe_key.in_(keys[start : start + 500])
            )
        ):
            if key is not None:
                ids[key] = outbound_id
    return ids


MAX_SINGLE_BODY = 1600
