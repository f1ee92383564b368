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

from frontdesk.conversations.models import Conversation, Message, Role
from frontdesk.conversations.service import link_patient
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

CODE_SENT = "Thanks. We've texted you a 6-digit code: please reply with it to continue."
ASK_FOR_CODE = "Please reply with the 6-digit code we texted you."
ASK_AGAIN = " Please reply with your date of birth as MM/DD/YYYY."
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
    """Read one identity text: the code if one is open, else a date of birth."""
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
    typed = _OTP.search(text)
    if typed is None:  # not a code at all: not counted, asked again
        return SmsVerdict("unreadable", ASK_FOR_CODE)
    result = verification.check_web_code(
        session=session, conversation=conversation, code=typed.group(), now=now
    )
    if result.status == "verified":
        return SmsVerdict("verified")
    if result.status == "locked":
        return SmsVerdict("locked")
    if result.status == "expired":
        return SmsVerdict("expired", "That code has expired." + ASK_AGAIN)
    return SmsVerdict("wrong_code", result.message)


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
    born = verification.parse_date_of_birth(text, today=now.date())
    if born is None:
        return SmsVerdict("unreadable", _result("unreadable", session, conversation, now))
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
        return SmsVerdict("mismatch", _result("mismatch", session, conversation, now) + ASK_AGAIN)
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
        return SmsVerdict(
            "code_limit",
            "We've sent as many codes as we can for now. A member of our staff will help you.",
        )
    if issued == "undeliverable":
        return SmsVerdict("locked")
    return SmsVerdict("code_sent", CODE_SENT)


def _result(
    status: Literal["mismatch", "unreadable"],
    session: Session,
    conversation: Conversation,
    now: datetime,
) -> str:
    left = guessing.attempts_left(session, conversation, now)
    return verification.VerificationResult(status, left).message
