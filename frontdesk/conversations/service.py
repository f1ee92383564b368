"""Conversation bookkeeping: opaque ids, resume tokens, stored messages."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from frontdesk.conversations.models import Channel, Conversation, Message, Role
from frontdesk.conversations.outgoing import deliver
from frontdesk.db import clock_of
from frontdesk.language import DEFAULT_LANGUAGE, Language, language_after
from frontdesk.patients.models import Patient
from frontdesk.patients.service import find_or_register_patient
from frontdesk.practices.models import Practice


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_public_id() -> str:
    """An opaque conversation id: random, never derived from a phone number or name."""
    return "c_" + secrets.token_urlsafe(18)


@dataclass(frozen=True)
class StoredMessage:
    """What the web chat needs to show a message again (history, live delivery)."""

    id: int
    role: Role
    text: str | None
    buttons: list[dict[str, str]]
    sender_name: str | None
    at: datetime
    client_id: str | None = None

    @classmethod
    def of(cls, message: Message) -> StoredMessage:
        """Build from a row."""
        payload = message.payload or {}
        buttons = payload.get("buttons") or []
        return cls(
            id=message.id,
            role=message.role,
            text=message.text,
            buttons=[{"title": b["title"], "payload": b["payload"]} for b in buttons],
            sender_name=message.sender_name,
            at=message.created_at,
            client_id=message.client_id,
        )

    def as_frame(self) -> dict[str, Any]:
        """The web chat wire format for this message (`id` lets clients drop duplicates)."""
        frame: dict[str, Any] = {
            "id": self.id,
            "role": self.role.value,
            "text": self.text,
            "buttons": self.buttons,
            "sender_name": self.sender_name,
            "at": self.at.isoformat(),
        }
        if self.client_id:
            frame["client_id"] = self.client_id
        return frame


def get_practice(*, session: Session, slug: str) -> Practice | None:
    """A practice by its public slug."""
    return session.scalar(select(Practice).where(Practice.slug == slug))


def start_conversation(
    *, session: Session, practice: Practice, channel: Channel
) -> tuple[Conversation, str]:
    """Open a conversation; returns it with a resume token shown once to the client."""
    token = secrets.token_urlsafe(32)
    conversation = Conversation(
        practice_id=practice.id,
        public_id=new_public_id(),
        channel=channel,
        resume_token_hash=_hash_token(token),
    )
    session.add(conversation)
    session.flush()
    return conversation, token


def resume_conversation(
    *, session: Session, practice: Practice, resume_token: str
) -> Conversation | None:
    """The conversation a resume token belongs to, within this practice."""
    return session.scalar(
        select(Conversation).where(
            Conversation.practice_id == practice.id,
            Conversation.resume_token_hash == _hash_token(resume_token),
        )
    )


def rotate_resume_token(*, session: Session, conversation: Conversation) -> str:
    """Replace the conversation's resume token; returns the new one (shown once)."""
    token = secrets.token_urlsafe(32)
    conversation.resume_token_hash = _hash_token(token)
    session.flush()
    return token


def revoke_resume_token(*, session: Session, conversation: Conversation) -> None:
    """No token resumes this conversation any more."""
    conversation.resume_token_hash = None
    session.flush()


def get_conversation(*, session: Session, public_id: str) -> Conversation | None:
    """A conversation by its opaque id."""
    return session.scalar(select(Conversation).where(Conversation.public_id == public_id))


def record_patient_message(
    *,
    session: Session,
    conversation: Conversation,
    text: str,
    payload: str | None,
    client_id: str | None,
    in_patients_words: bool = True,
) -> tuple[Message, bool]:
    """Store an inbound message once per client id; returns (message, created).

    Only the patient's own words decide the conversation's language: a button's title is in
    our language, and a stand-in the service writes in the patient's place
    (`in_patients_words=False`, e.g. for a date of birth kept out of the transcript) is ours.
    """
    if client_id:
        existing = session.scalar(
            select(Message).where(
                Message.conversation_id == conversation.id, Message.client_id == client_id
            )
        )
        if existing is not None:
            return existing, False
    message = Message(
        practice_id=conversation.practice_id,
        conversation_id=conversation.id,
        role=Role.PATIENT,
        text=text,
        payload={"payload": payload} if payload else None,
        client_id=client_id,
    )
    try:
        with session.begin_nested():
            session.add(message)
            session.flush()
    except IntegrityError:
        # The same client id arrived twice at once; the other copy won.
        existing = session.scalar(
            select(Message).where(
                Message.conversation_id == conversation.id, Message.client_id == client_id
            )
        )
        if existing is None:
            raise
        return existing, False
    conversation.last_activity_at = clock_of(session)()
    if in_patients_words and not payload:
        note_language(session=session, conversation=conversation, text=text)
    return message, True


def note_language(*, session: Session, conversation: Conversation, text: str) -> None:
    """Let a patient's message decide or switch the conversation's language.

    A decided language is remembered on the linked patient for their next conversation.
    """
    current = Language(conversation.language) if conversation.language else None
    language = language_after(current, text)
    if language is None or language == current:
        return
    conversation.language = language.value
    if conversation.patient_id is not None:
        patient = session.get(Patient, conversation.patient_id)
        if patient is not None:
            patient.preferred_language = language.value


def reply_language(*, session: Session, conversation: Conversation) -> Language:
    """The language to answer in: the conversation's, else the patient's remembered one."""
    if conversation.language in {language.value for language in Language}:
        return Language(conversation.language)
    if conversation.patient_id is not None:
        patient = session.get(Patient, conversation.patient_id)
        remembered = (patient.preferred_language or "").strip().lower()[:2] if patient else ""
        if remembered in {language.value for language in Language}:
            return Language(remembered)
    return DEFAULT_LANGUAGE


def record_outgoing_message(
    *,
    session: Session,
    conversation: Conversation,
    role: Role,
    text: str | None,
    buttons: list[dict[str, str]] | None = None,
    custom: dict[str, Any] | None = None,
    sender_name: str | None = None,
) -> Message:
    """Store a bot or staff message and hand it to its channel (same transaction).

    What the channel does with it is registered in `frontdesk.conversations.outgoing`: SMS
    queues it in its outbox; the web chat, which registers nothing, delivers it live after
    the caller commits.
    """
    payload: dict[str, Any] = {}
    if buttons:
        payload["buttons"] = buttons
    if custom:
        payload["custom"] = custom
    message = Message(
        practice_id=conversation.practice_id,
        conversation_id=conversation.id,
        role=role,
        text=text,
        payload=payload or None,
        sender_name=sender_name,
    )
    session.add(message)
    conversation.last_activity_at = clock_of(session)()
    session.flush()
    deliver(session=session, conversation=conversation, message=message)
    return message


def history(*, session: Session, conversation: Conversation, limit: int = 200) -> list[Message]:
    """The latest `limit` messages, oldest first."""
    rows = session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation.id)
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))


def link_patient(
    *,
    session: Session,
    conversation: Conversation,
    patient_id: int,
    verified_at: datetime | None,
) -> None:
    """Record who the patient in this conversation is (verified at `verified_at`, if ever)."""
    conversation.patient_id = patient_id
    conversation.identity_verified_at = verified_at
    session.flush()


def identify_patient(
    *,
    session: Session,
    conversation: Conversation,
    full_name: str,
    date_of_birth: date,
    now: datetime,
) -> bool:
    """Link the conversation to the patient with these details, registering a new one if none.

    Returns True when the patient was already on file. Raises `InvalidIdentityError` for
    impossible details.
    """
    patient, created = find_or_register_patient(
        session=session,
        practice_id=conversation.practice_id,
        full_name=full_name,
        date_of_birth=date_of_birth,
        today=now.date(),
    )
    link_patient(session=session, conversation=conversation, patient_id=patient.id, verified_at=now)
    return not created


def offered_payloads(*, session: Session, conversation: Conversation) -> set[str]:
    """Button payloads the bot offered since the patient's previous message.

    These are the only payloads a patient may send back; anything else is treated as text.
    """
    recent = session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation.id)
        .order_by(Message.id.desc())
        .limit(20)
    )
    offered: set[str] = set()
    seen_bot = False
    for message in recent:
        if message.role is Role.PATIENT:
            if seen_bot:
                break
            continue  # the message being handled right now
        seen_bot = True
        if message.role is Role.BOT and message.payload:
            offered |= {str(b.get("payload")) for b in message.payload.get("buttons") or []}
    return offered
