"""SMS threads: a patient's number mapped to the opaque conversation Rasa and staff see.

A thread is created on a number's first text (or the first reminder it gets, in bulk), with
its conversation. Everything runs inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from frontdesk.conversations.models import Channel, Conversation, Message, Owner, Role
from frontdesk.conversations.service import new_public_id
from frontdesk.db import clock_of
from frontdesk.language import Language
from frontdesk.patients.models import Patient
from frontdesk.sms.models import SmsThread


def sms_thread(
    *, session: Session, practice_id: int, phone: str, create: bool = True
) -> SmsThread | None:
    """The SMS conversation of a number with a practice, created on first contact."""
    thread = session.scalar(
        select(SmsThread).where(SmsThread.practice_id == practice_id, SmsThread.phone == phone)
    )
    if thread is not None or not create:
        return thread
    conversation = Conversation(
        practice_id=practice_id,
        public_id=new_public_id(),
        channel=Channel.SMS,
        language=number_language(session=session, practice_id=practice_id, phone=phone),
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


def number_language(*, session: Session, practice_id: int, phone: str) -> str | None:
    """The language the patients on file with this number are known to speak, if they agree.

    A new SMS conversation starts in it, so that a Spanish-speaking patient's first short text
    ("cuanto debo?", too short to tell) is answered in Spanish, the date-of-birth question
    included. Only a language is inferred from the number, nothing that identifies anyone;
    the patient's own words can still switch it (`frontdesk.language`).
    """
    remembered = {
        (language or "").strip().lower()[:2]
        for language in session.scalars(
            select(Patient.preferred_language).where(
                Patient.practice_id == practice_id, Patient.phone == phone
            )
        )
    } - {""}
    if len(remembered) == 1 and (only := remembered.pop()) in {lang.value for lang in Language}:
        return only
    return None


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


# --- many at once (reminders: hundreds of numbers per transaction) ------------------------


@dataclass(frozen=True)
class ThreadInfo:
    """An SMS thread's conversation, as outreach needs it."""

    conversation_id: int
    public_id: str
    bot_owns: bool


def threads_for(*, session: Session, practice_id: int, phones: set[str]) -> dict[str, ThreadInfo]:
    """The SMS conversations of many numbers, created where missing (a few statements)."""

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
