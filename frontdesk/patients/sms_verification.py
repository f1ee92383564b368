"""Identity by SMS: the sending number and date of birth, then a code for anything but booking.

A text's sending number can be spoofed, and a date of birth is often public, so together
they only *identify* a patient: enough to book a new visit (the bot's identity request with
purpose "book"). Before the bot reveals or changes an appointment or a balance (purpose
"verify", and any request whose purpose we cannot read), a one-time code is texted to the
number on file, and the conversation is *verified* only when that code comes back. Someone
spoofing the number never sees the code: it goes to the patient's phone.

The SMS channel routes the patient's identity texts here, never to Rasa, and keeps only a
placeholder in the transcript. Wrong codes, the lock and the per-patient code caps are
those of web chat (`frontdesk.patients.verification`). No function here logs identity
details.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk import texts
from frontdesk.conversations.models import Conversation, Message, Role
from frontdesk.conversations.service import link_patient, reply_language
from frontdesk.language import Language
from frontdesk.patients import guessing, verification
from frontdesk.patients.models import Patient, VerificationCode

SmsStatus = Literal[
    "identified",  # number + date of birth, for booking: linked, not verified
    "code_sent",  # number + date of birth matched; the code is on its way
    "verified",
    "wrong_code",
    "expired",
    "mismatch",
    "unreadable",
    "code_limit",  # as many codes as allowed were sent to this patient lately
    "locked",
]
# Statuses that end the identity exchange: the next text goes to the bot again.
FINAL: frozenset[SmsStatus] = frozenset({"identified", "verified", "code_limit", "locked"})

_OTP = re.compile(r"(?<!\d)\d{6}(?!\d)")


@dataclass(frozen=True)
class SmsVerdict:
    """What the identity check made of a text, and what to answer the patient (if anything)."""

    status: SmsStatus
    answer: str = ""


def requested_purpose(*, session: Session, conversation: Conversation) -> verification.Purpose:
    """The purpose of the bot's latest identity request, as the service stored it.

    Only an explicit "book" lowers the bar; anything else asks for the code.
    """
    recent = session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.role == Role.BOT)
        .order_by(Message.id.desc())
        .limit(20)
    )
    for message in recent:
        custom = (message.payload or {}).get("custom")
        if isinstance(custom, dict) and custom.get("type") == "identity_request":
            return "book" if custom.get("purpose") == "book" else "verify"
    return "verify"


def check_sms_identity(
    *,
    session: Session,
    conversation: Conversation,
    from_number: str,
    text: str,
    now: datetime,
    sender: verification.CodeSender,
) -> SmsVerdict:
    """Read one identity text: the code if one is open, else a date of birth.

    The answer is in the conversation's language.
    """
    if guessing.is_locked(session=session, conversation=conversation, now=now):
        return SmsVerdict("locked")
    if _open_code(session, conversation) is not None:
        return _check_code(session, conversation, text, now)
    return _check_date_of_birth(session, conversation, from_number, text, now, sender)


def _open_code(session: Session, conversation: Conversation) -> VerificationCode | None:
    return session.scalar(
        select(VerificationCode)
        .where(
            VerificationCode.conversation_id == conversation.id,
            VerificationCode.closed_at.is_(None),
        )
        .limit(1)
    )


def _check_code(
    session: Session, conversation: Conversation, text: str, now: datetime
) -> SmsVerdict:
    language = reply_language(session=session, conversation=conversation)
    typed = _OTP.search(text)
    if typed is None:  # not a code at all: not counted, asked again
        return SmsVerdict("unreadable", texts.text("sms.ask_for_code", language))
    result = verification.check_web_code(
        session=session, conversation=conversation, code=typed.group(), now=now
    )
    if result.status == "verified":
        return SmsVerdict("verified")
    if result.status == "locked":
        return SmsVerdict("locked")
    if result.status == "expired":
        return SmsVerdict("expired", _ask_again("sms.code_expired", language))
    return SmsVerdict("wrong_code", result.message(language))


def _check_date_of_birth(
    session: Session,
    conversation: Conversation,
    from_number: str,
    text: str,
    now: datetime,
    sender: verification.CodeSender,
) -> SmsVerdict:
    """The sending number is on file and the date of birth matches: identified, or a code.

    A reply with no readable date is not counted as a failed attempt; a date that matches
    no patient with this number is.
    """
    language = reply_language(session=session, conversation=conversation)
    born = verification.parse_date_of_birth(text, today=now.date())
    if born is None:
        return SmsVerdict("unreadable", _result("unreadable", session, conversation, now, language))
    number = re.sub(r"[^\d+]", "", from_number)
    matches = list(
        session.scalars(
            select(Patient).where(
                Patient.practice_id == conversation.practice_id,
                Patient.phone == number,
                Patient.date_of_birth == born,
            )
        )
    )
    if len(matches) != 1:
        # Two records with the same number and birthday (twins on a parent's phone) cannot
        # be told apart by SMS: that counts as a failure, and staff sort it out after the lock.
        guessing.record_attempt(session, conversation, "sms_identity", now)
        if guessing.attempts_left(session, conversation, now) == 0:
            return SmsVerdict("locked")
        mismatch = _result("mismatch", session, conversation, now, language)
        return SmsVerdict("mismatch", f"{mismatch} {texts.text('sms.ask_again', language)}")
    [patient] = matches
    if requested_purpose(session=session, conversation=conversation) == "book":
        link_patient(
            session=session, conversation=conversation, patient_id=patient.id, verified_at=None
        )
        return SmsVerdict("identified")
    issued = verification.text_code(
        session=session, conversation=conversation, patient=patient, now=now, sender=sender
    )
    if isinstance(issued, datetime):
        # The answer goes to the number on file, so saying when tells a spoofer nothing.
        return SmsVerdict("code_limit", texts.text("sms.code_limit", language))
    if issued == "undeliverable":
        return SmsVerdict("locked")
    return SmsVerdict("code_sent", texts.text("sms.code_sent", language))


def _result(
    status: Literal["mismatch", "unreadable"],
    session: Session,
    conversation: Conversation,
    now: datetime,
    language: Language,
) -> str:
    left = guessing.attempts_left(session, conversation, now)
    return verification.VerificationResult(status, left).message(language)


def _ask_again(key: str, language: Language) -> str:
    """A short verdict followed by the request for the date of birth."""
    return f"{texts.text(key, language)} {texts.text('sms.ask_again', language)}"
