"""Identity verification before the bot reveals or changes an appointment.

Two levels, both recorded on the conversation:
- *identified* (`Conversation.patient_id` set): a new patient registered in this chat, or an
  existing one proved who they are. Enough to book a new visit.
- *verified* (`identity_verified_at` set as well): on web chat, name and date of birth plus a
  one-time code sent to the phone on file; on SMS, the sending number is on file, the
  patient's date of birth matches and a code texted to that number came back
  (`frontdesk.patients.sms_verification`). `is_verified` is what actions check before
  showing PHI.
  An existing record is linked to a web chat only once its code was typed back, whatever
  the purpose (booking included): name and birthday alone are often public.

Web chat gives nothing away about who is a patient. Details that match no record get the
same answer as details that do ("if we have a record, we've texted a code"), backed by a
decoy code row that no code can open, and no phone digits are shown. Every identity check
counts, hit or miss, per conversation, per practice and name and per client address
(`frontdesk.patients.guessing`). Codes are capped per patient per hour and per day; a patient who
reaches the cap from an address that already verified as them is told when to try again,
anyone else gets the usual answer and no text. New registrations are limited per address
and per practice. Codes are 6 digits, live 10 minutes, are stored only as a salted SHA-256
and compared in constant time; five wrong codes lock. No function here logs identity details.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk import texts
from frontdesk.conversations.models import Conversation
from frontdesk.conversations.service import link_patient
from frontdesk.language import Language
from frontdesk.patients import guessing
from frontdesk.patients.guessing import Requester as Requester
from frontdesk.patients.models import Patient, VerificationCode
from frontdesk.patients.service import (
    AmbiguousIdentityError,
    check_identity,
    find_or_register_patient,
    find_patient,
)
from frontdesk.sms.outbox import queue_sms

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
MAX_WRONG_CODES = 5
# Codes one patient may be sent over all conversations: a new chat costs nothing, so a
# per-conversation cap alone stops neither flooding their phone nor guessing codes.
MAX_CODES_PER_PATIENT_PER_WINDOW = 5
MAX_CODES_PER_PATIENT_PER_DAY = 8
PATIENT_CODE_LIMITS: guessing.Limits = (
    (MAX_CODES_PER_PATIENT_PER_WINDOW, guessing.ATTEMPT_WINDOW),
    (MAX_CODES_PER_PATIENT_PER_DAY, guessing.DAY),
)
# How long a verification lets the bot show appointments before it asks again.
VERIFIED_FOR = timedelta(hours=2)

ChallengeStatus = Literal["code_sent", "registered", "locked", "code_limit", "registration_limited"]
ResultStatus = Literal["verified", "wrong_code", "expired", "locked", "mismatch", "unreadable"]
Purpose = Literal["verify", "book"]


class CodeNotDeliverableError(Exception):
    """The code cannot reach the phone on file (for example, the number opted out of texts)."""


class CodeSender(Protocol):
    """Delivers a one-time code to a patient's phone (an outside system: SMS)."""

    def send_code(
        self, *, session: Session, practice_id: int, phone: str, code: str, language: Language
    ) -> None:
        """Queue the code for delivery inside the caller's transaction, in `language`.

        Raises `CodeNotDeliverableError` when it cannot reach that phone.
        """


def code_message(code: str, language: Language = Language.EN) -> str:
    """The text that carries a code: the code and the practice context, nothing clinical."""
    return texts.for_sms(texts.text("verification.code_text", language, code=code))


class SmsCodeSender:
    """Sends codes through the SMS outbox (`queue_sms`, kind "otp").

    Without Twilio configured the outbox uses the local sandbox transport, so the demo works.
    """

    def send_code(
        self, *, session: Session, practice_id: int, phone: str, code: str, language: Language
    ) -> None:
        """Queue the code as an SMS in the caller's transaction."""
        queued = queue_sms(
            session=session,
            practice_id=practice_id,
            to=phone,
            body=code_message(code, language),
            kind="otp",
        )
        if queued is None:
            raise CodeNotDeliverableError("the number opted out of texts")


@dataclass(frozen=True)
class WebChallenge:
    """Outcome of name + date of birth on web chat.

    "code_sent" is what a hit *and* a miss get (a miss gets a decoy); "registered": a new
    patient's record was created and linked; "code_limit": this patient was sent as many
    codes as allowed, told only to an address that verified as them (`retry_at` says when);
    "registration_limited": no more new records from here for now; "locked": too many checks.
    """

    status: ChallengeStatus
    retry_at: datetime | None = None


@dataclass(frozen=True)
class VerificationResult:
    """Outcome of a code (web chat) or a date of birth (SMS)."""

    status: ResultStatus
    attempts_left: int

    def message(self, language: Language) -> str:
        """Patient-facing wording in `language`, with the tries left when that helps."""
        wording = texts.text(f"verification.{self.status}", language)
        if self.status in ("wrong_code", "mismatch") and self.attempts_left > 0:
            count = "one" if self.attempts_left == 1 else "other"
            left = texts.text(
                f"verification.tries_left_{count}", language, count=self.attempts_left
            )
            wording = f"{wording} {left}"
        return wording


def mask_phone(phone: str) -> str:
    """Only the last two digits: `(•••) •••-••01`, for staff and verified views only."""
    digits = re.sub(r"\D", "", phone)
    return f"(•••) •••-••{digits[-2:]}" if len(digits) >= 2 else "your phone"


def _hash_code(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def is_verified(*, session: Session, conversation: Conversation, now: datetime) -> bool:
    """Whether the patient in this conversation may see and change their appointments."""
    verified_at = conversation.identity_verified_at
    return (
        conversation.patient_id is not None
        and verified_at is not None
        and now - verified_at <= VERIFIED_FOR
    )


def _code_limit_until(session: Session, patient: Patient, now: datetime) -> datetime | None:
    """When this patient may be sent a code again, or None if they may be sent one now."""
    until: datetime | None = None
    for most, window in PATIENT_CODE_LIMITS:
        sent = list(
            session.scalars(
                select(VerificationCode.created_at)
                .where(
                    VerificationCode.patient_id == patient.id,
                    VerificationCode.created_at > now - window,
                )
                .order_by(VerificationCode.created_at)
            )
        )
        if len(sent) >= most:
            # The cap lifts when enough of these codes have left the window.
            free_at = sent[len(sent) - most] + window
            until = free_at if until is None else max(until, free_at)
    return until


def start_web_verification(
    *,
    session: Session,
    conversation: Conversation,
    full_name: str,
    date_of_birth: date,
    now: datetime,
    sender: CodeSender,
    requester: guessing.Requester,
    purpose: Purpose = "verify",
) -> WebChallenge:
    """Check name and date of birth; text a one-time code to the phone on file if they match.

    Whether they matched is never told: a miss gets a decoy code and the same answer. With
    purpose "book", details that match no record register a new patient instead (limited per
    address and per practice), linked and verified for that fresh record, which holds only
    what they just typed. Raises `InvalidIdentityError` for impossible details (not counted).
    """
    key = requester.identity_key(conversation.practice_id, full_name)
    if guessing.web_checks_locked(session, conversation, requester, key, now):
        return WebChallenge("locked")
    check_identity(full_name, date_of_birth, today=now.date())
    try:
        patient = find_patient(
            session=session,
            practice_id=conversation.practice_id,
            full_name=full_name,
            date_of_birth=date_of_birth,
        )
        ambiguous = False
    except AmbiguousIdentityError:  # staff must tell these apart; say no more than a miss
        patient, ambiguous = None, True
    kind = "web_lookup" if patient is not None or ambiguous else "web_identity"
    guessing.record_attempt(
        session, conversation, kind, now, identity_key=key, client_key=requester.client_key
    )
    if patient is None and purpose == "book" and not ambiguous:
        return _register(session, conversation, requester, full_name, date_of_birth, now)
    close_open_codes(session=session, conversation=conversation, now=now)
    if patient is None or not patient.phone:
        return _decoy(session, conversation, now)
    issued = text_code(
        session=session, conversation=conversation, patient=patient, now=now, sender=sender
    )
    if isinstance(issued, datetime):
        if guessing.verified_here_before(session, patient, requester, now):
            return WebChallenge("code_limit", retry_at=issued)
        return _decoy(session, conversation, now)
    if issued == "undeliverable":
        return _decoy(session, conversation, now)
    return WebChallenge("code_sent")


def _code_language(conversation: Conversation, patient: Patient) -> Language:
    """The code text follows the chat's language, else the language the patient is known by."""
    if conversation.language:
        return texts.remembered_language(conversation.language)
    return texts.remembered_language(patient.preferred_language)


def text_code(
    *,
    session: Session,
    conversation: Conversation,
    patient: Patient,
    now: datetime,
    sender: CodeSender,
) -> Literal["sent", "undeliverable"] | datetime:
    """Text a fresh code for this conversation to the patient's phone on file.

    Returns "sent"; "undeliverable" when the phone cannot get it (none on file, opted out);
    or, at the patient's code cap, the time a code may be sent again (nothing is sent).
    """
    if not patient.phone:
        return "undeliverable"
    retry_at = _code_limit_until(session, patient, now)
    if retry_at is not None:
        return retry_at
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    row = _new_code(session, conversation, now, patient_id=patient.id, code=code)
    try:
        sender.send_code(
            session=session,
            practice_id=conversation.practice_id,
            phone=patient.phone,
            code=code,
            language=_code_language(conversation, patient),
        )
    except CodeNotDeliverableError:
        row.closed_at = now
        return "undeliverable"
    return "sent"


def identify_for_booking(
    *,
    session: Session,
    conversation: Conversation,
    full_name: str,
    date_of_birth: date,
    now: datetime,
    sender: CodeSender,
    requester: guessing.Requester,
) -> WebChallenge:
    """Identity for a new booking: a new patient registers; an existing one gets a code."""
    return start_web_verification(
        session=session,
        conversation=conversation,
        full_name=full_name,
        date_of_birth=date_of_birth,
        now=now,
        sender=sender,
        requester=requester,
        purpose="book",
    )


def _register(
    session: Session,
    conversation: Conversation,
    requester: guessing.Requester,
    full_name: str,
    date_of_birth: date,
    now: datetime,
) -> WebChallenge:
    if guessing.registration_limited(session, conversation, requester, now):
        return WebChallenge("registration_limited")
    patient, _created = find_or_register_patient(
        session=session,
        practice_id=conversation.practice_id,
        full_name=full_name,
        date_of_birth=date_of_birth,
        today=now.date(),
    )
    guessing.record_attempt(
        session, conversation, "registration", now, client_key=requester.client_key
    )
    link_patient(session=session, conversation=conversation, patient_id=patient.id, verified_at=now)
    return WebChallenge("registered")


def _new_code(
    session: Session,
    conversation: Conversation,
    now: datetime,
    *,
    patient_id: int | None,
    code: str | None,
) -> VerificationCode:
    salt = secrets.token_hex(16)
    row = VerificationCode(
        practice_id=conversation.practice_id,
        conversation_id=conversation.id,
        patient_id=patient_id,
        code_salt=salt,
        # A decoy's hash is empty: no hex digest equals it, so no code opens it.
        code_hash=_hash_code(salt, code) if code is not None else "",
        created_at=now,
        expires_at=now + CODE_LIFETIME,
        wrong_attempts=0,
    )
    session.add(row)
    session.flush()
    return row


def _decoy(session: Session, conversation: Conversation, now: datetime) -> WebChallenge:
    """The answer a hit gets, for a miss (or a hit we cannot text): a code nobody was sent."""
    _new_code(session, conversation, now, patient_id=None, code=None)
    return WebChallenge("code_sent")


def close_open_codes(*, session: Session, conversation: Conversation, now: datetime) -> None:
    """Give up the conversation's open codes (a new one replaces them, or the chat resumed)."""
    for open_code in session.scalars(
        select(VerificationCode).where(
            VerificationCode.conversation_id == conversation.id,
            VerificationCode.closed_at.is_(None),
        )
    ):
        open_code.closed_at = now


def check_web_code(
    *,
    session: Session,
    conversation: Conversation,
    code: str,
    now: datetime,
    requester: guessing.Requester | None = None,
) -> VerificationResult:
    """Check a one-time code; on success the conversation is linked and verified.

    A decoy takes wrong codes and locks exactly as a real one does.
    """
    if guessing.is_locked(session=session, conversation=conversation, now=now):
        return VerificationResult("locked", 0)
    challenge = session.scalar(
        select(VerificationCode)
        .where(
            VerificationCode.conversation_id == conversation.id,
            VerificationCode.closed_at.is_(None),
        )
        .order_by(VerificationCode.id.desc())
        .limit(1)
        # Guesses at the same moment (several sockets on one conversation) take turns, so
        # each wrong one is counted rather than overwritten (PostgreSQL; SQLite serialises).
        .with_for_update()
    )
    if challenge is None:
        return VerificationResult("expired", 0)
    if now >= challenge.expires_at:
        challenge.closed_at = now
        session.flush()
        return VerificationResult("expired", 0)
    typed = re.sub(r"\s", "", code)
    right = hmac.compare_digest(_hash_code(challenge.code_salt, typed), challenge.code_hash)
    if right and challenge.patient_id is not None:
        challenge.closed_at = now
        link_patient(
            session=session,
            conversation=conversation,
            patient_id=challenge.patient_id,
            verified_at=now,
        )
        if requester is not None:
            patient = session.get_one(Patient, challenge.patient_id)
            guessing.record_attempt(
                session,
                conversation,
                "web_verified",
                now,
                identity_key=requester.identity_key(conversation.practice_id, patient.match_key),
                client_key=requester.client_key,
            )
        return VerificationResult("verified", MAX_WRONG_CODES - challenge.wrong_attempts)
    challenge.wrong_attempts += 1
    left = MAX_WRONG_CODES - challenge.wrong_attempts
    if left <= 0:
        challenge.closed_at = now
        guessing.record_attempt(session, conversation, "code_locked", now)
        return VerificationResult("locked", 0)
    session.flush()
    return VerificationResult("wrong_code", left)


_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for m in names
}  # fmt: skip
_NUMERIC = re.compile(r"\b(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{2,4})\b")
_WORDY = re.compile(r"\b([a-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b")
_WORDY_DAY_FIRST = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]{3,9})\.?,?\s+(\d{4})\b")


def parse_date_of_birth(text: str, *, today: date) -> date | None:
    """A date of birth from a patient's reply: 04/12/1985, 4-12-85, 1985-04-12, April 12 1985.

    Numeric dates are read month first (US). A two-digit year is the latest year not in the
    future. Returns None when no plausible date is found.
    """
    lowered = text.lower()
    candidates: list[tuple[int, int, int]] = []
    if match := _NUMERIC.search(lowered):
        a, b, c = match.groups()
        if len(a) == 4:
            candidates.append((int(a), int(b), int(c)))
        else:
            year = int(c)
            if len(c) == 2:
                year += 2000 if 2000 + year <= today.year else 1900
            candidates.append((year, int(a), int(b)))
    if match := _WORDY.search(lowered):
        month = _MONTHS.get(match.group(1))
        if month:
            candidates.append((int(match.group(3)), month, int(match.group(2))))
    if match := _WORDY_DAY_FIRST.search(lowered):
        month = _MONTHS.get(match.group(2))
        if month:
            candidates.append((int(match.group(3)), month, int(match.group(1))))
    for year, month, day in candidates:
        try:
            born = date(year, month, day)
        except ValueError:
            continue
        if today.year - 125 <= born.year and born <= today:
            return born
    return None
