"""Identity verification before the bot reveals or changes an appointment.

Two levels, both recorded on the conversation:
- *identified* (`Conversation.patient_id` set): name and date of birth matched a record, or a new
  patient registered. Enough to book a new visit, never enough to see or change existing ones.
- *verified* (`identity_verified_at` set as well): on web chat, name and date of birth plus a
  one-time code sent to the phone on file; on SMS, the sending number is on file and the
  patient's date of birth matches. `is_verified` is what actions check before showing PHI.

Guessing is limited per conversation: three failed identity checks within an hour, or five
wrong codes for one code, lock verification for the hour (the bot then escalates to staff).
Codes are 6 digits, live 10 minutes, are stored only as a salted SHA-256 and compared in
constant time. No function here logs identity details.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from frontdesk.conversations.models import Conversation
from frontdesk.conversations.service import link_patient
from frontdesk.patients.models import Patient, VerificationAttempt, VerificationCode
from frontdesk.patients.service import check_identity, find_or_register_patient, find_patient
from frontdesk.sms.outbox import queue_sms

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
MAX_WRONG_CODES = 5
MAX_FAILED_ATTEMPTS = 3
ATTEMPT_WINDOW = timedelta(hours=1)
# Codes one conversation may have sent per window: stops a stranger who knows a patient's
# name and birthday from flooding that patient's phone.
MAX_CODES_PER_WINDOW = 3
# Codes one patient may be sent per window over all conversations: a new chat costs nothing,
# so the per-conversation cap alone does not stop the flooding (nor code guessing).
MAX_CODES_PER_PATIENT_PER_WINDOW = 5
# How long a verification lets the bot show appointments before it asks again.
VERIFIED_FOR = timedelta(hours=2)

ChallengeStatus = Literal["code_sent", "no_phone", "not_found", "locked"]
ResultStatus = Literal["verified", "wrong_code", "expired", "locked", "mismatch", "unreadable"]

_MESSAGES: dict[str, str] = {
    "wrong_code": "That code isn't right. Please check the text message and try again.",
    "expired": "That code has expired. Please enter your details again to get a new one.",
    "locked": (
        "We couldn't confirm your identity, so we've stopped trying for now. "
        "A member of our staff will help you."
    ),
    "mismatch": "Sorry, that doesn't match our records for this number.",
    "unreadable": "Please reply with your date of birth, like 04/12/1985.",
    "verified": "Thanks, you're verified.",
}


class CodeNotDeliverableError(Exception):
    """The code cannot reach the phone on file (for example, the number opted out of texts)."""


class CodeSender(Protocol):
    """Delivers a one-time code to a patient's phone (an outside system: SMS)."""

    def send_code(self, *, session: Session, practice_id: int, phone: str, code: str) -> None:
        """Queue the code for delivery inside the caller's transaction.

        Raises `CodeNotDeliverableError` when it cannot reach that phone.
        """


def code_message(code: str) -> str:
    """The text that carries a code: the code and the practice context, nothing clinical."""
    return f"Your verification code is {code}. It expires in 10 minutes. Don't share it."


class SmsCodeSender:
    """Sends codes through the SMS outbox (`queue_sms`, kind "otp").

    Without Twilio configured the outbox uses the local sandbox transport, so the demo works.
    """

    def send_code(self, *, session: Session, practice_id: int, phone: str, code: str) -> None:
        """Queue the code as an SMS in the caller's transaction."""
        queued = queue_sms(
            session=session, practice_id=practice_id, to=phone, body=code_message(code), kind="otp"
        )
        if queued is None:
            raise CodeNotDeliverableError("the number opted out of texts")


@dataclass(frozen=True)
class WebChallenge:
    """Outcome of name + date of birth on web chat; a code was sent when `code_sent`."""

    status: ChallengeStatus
    masked_phone: str | None = None
    attempts_left: int = MAX_FAILED_ATTEMPTS


@dataclass(frozen=True)
class VerificationResult:
    """Outcome of a code (web chat) or a date of birth (SMS)."""

    status: ResultStatus
    attempts_left: int

    @property
    def message(self) -> str:
        """Patient-facing wording, with the tries left when that helps."""
        text = _MESSAGES[self.status]
        if self.status in ("wrong_code", "mismatch") and self.attempts_left > 0:
            plural = "try" if self.attempts_left == 1 else "tries"
            text += f" ({self.attempts_left} {plural} left)"
        return text


def mask_phone(phone: str) -> str:
    """Only the last two digits: `(•••) •••-••01`, enough to recognise one's own phone."""
    digits = re.sub(r"\D", "", phone)
    return f"(•••) •••-••{digits[-2:]}" if len(digits) >= 2 else "your phone"


def _hash_code(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def _failures(session: Session, conversation: Conversation, now: datetime) -> tuple[int, bool]:
    """(failed identity checks, whether a code was locked) within the window."""
    rows = session.execute(
        select(VerificationAttempt.kind, func.count())
        .where(
            VerificationAttempt.conversation_id == conversation.id,
            VerificationAttempt.at > now - ATTEMPT_WINDOW,
        )
        .group_by(VerificationAttempt.kind)
    ).all()
    counts = {kind: int(n) for kind, n in rows}
    code_locked = counts.pop("code_locked", 0) > 0
    return sum(counts.values()), code_locked


def is_locked(*, session: Session, conversation: Conversation, now: datetime) -> bool:
    """Whether verification is locked for this conversation right now."""
    failed, code_locked = _failures(session, conversation, now)
    return code_locked or failed >= MAX_FAILED_ATTEMPTS


def _attempts_left(session: Session, conversation: Conversation, now: datetime) -> int:
    failed, code_locked = _failures(session, conversation, now)
    return 0 if code_locked else max(0, MAX_FAILED_ATTEMPTS - failed)


def _record_failure(session: Session, conversation: Conversation, kind: str, now: datetime) -> None:
    session.add(
        VerificationAttempt(
            practice_id=conversation.practice_id, conversation_id=conversation.id, kind=kind, at=now
        )
    )
    session.flush()


def is_verified(*, session: Session, conversation: Conversation, now: datetime) -> bool:
    """Whether the patient in this conversation may see and change their appointments."""
    verified_at = conversation.identity_verified_at
    return (
        conversation.patient_id is not None
        and verified_at is not None
        and now - verified_at <= VERIFIED_FOR
    )


def identify_for_booking(
    *,
    session: Session,
    conversation: Conversation,
    full_name: str,
    date_of_birth: date,
    now: datetime,
) -> bool:
    """Link the conversation to the patient with these details, registering a new one if none.

    Identifies without verifying: booking a new visit reveals nothing on file. A patient who
    registers here is verified for their fresh record (it holds only what they just typed).
    Returns True when a new patient was registered. Raises `InvalidIdentityError` (or its
    subclass `AmbiguousIdentityError`) for details that cannot be used.
    """
    patient, created = find_or_register_patient(
        session=session,
        practice_id=conversation.practice_id,
        full_name=full_name,
        date_of_birth=date_of_birth,
        today=now.date(),
    )
    if conversation.patient_id != patient.id:
        conversation.identity_verified_at = None  # a verification was for someone else
    conversation.patient_id = patient.id
    if created:
        conversation.identity_verified_at = now
    session.flush()
    return created


def start_web_verification(
    *,
    session: Session,
    conversation: Conversation,
    full_name: str,
    date_of_birth: date,
    now: datetime,
    sender: CodeSender,
) -> WebChallenge:
    """Check name and date of birth; on a match, send a one-time code to the phone on file.

    Raises `InvalidIdentityError` for impossible details (not counted as a failed attempt) and
    `AmbiguousIdentityError` when several records match (staff must tell them apart).
    """
    if is_locked(session=session, conversation=conversation, now=now):
        return WebChallenge("locked", attempts_left=0)
    check_identity(full_name, date_of_birth, today=now.date())
    patient = find_patient(
        session=session,
        practice_id=conversation.practice_id,
        full_name=full_name,
        date_of_birth=date_of_birth,
    )
    if patient is None:
        _record_failure(session, conversation, "web_identity", now)
        left = _attempts_left(session, conversation, now)
        return WebChallenge("locked" if left == 0 else "not_found", attempts_left=left)
    if not patient.phone:
        return WebChallenge("no_phone")
    recent_codes = session.scalar(
        select(func.count()).where(
            VerificationCode.conversation_id == conversation.id,
            VerificationCode.created_at > now - ATTEMPT_WINDOW,
        )
    )
    if (recent_codes or 0) >= MAX_CODES_PER_WINDOW:
        return WebChallenge("locked", attempts_left=0)
    codes_to_patient = session.scalar(
        select(func.count()).where(
            VerificationCode.patient_id == patient.id,
            VerificationCode.created_at > now - ATTEMPT_WINDOW,
        )
    )
    if (codes_to_patient or 0) >= MAX_CODES_PER_PATIENT_PER_WINDOW:
        return WebChallenge("locked", attempts_left=0)
    _close_open_codes(session, conversation, now)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    salt = secrets.token_hex(16)
    session.add(
        VerificationCode(
            practice_id=conversation.practice_id,
            conversation_id=conversation.id,
            patient_id=patient.id,
            code_salt=salt,
            code_hash=_hash_code(salt, code),
            created_at=now,
            expires_at=now + CODE_LIFETIME,
            wrong_attempts=0,
        )
    )
    session.flush()
    try:
        sender.send_code(
            session=session, practice_id=conversation.practice_id, phone=patient.phone, code=code
        )
    except CodeNotDeliverableError:
        _close_open_codes(session, conversation, now)
        return WebChallenge("no_phone")
    return WebChallenge(
        "code_sent",
        masked_phone=mask_phone(patient.phone),
        attempts_left=_attempts_left(session, conversation, now),
    )


def _close_open_codes(session: Session, conversation: Conversation, now: datetime) -> None:
    for open_code in session.scalars(
        select(VerificationCode).where(
            VerificationCode.conversation_id == conversation.id,
            VerificationCode.closed_at.is_(None),
        )
    ):
        open_code.closed_at = now


def check_web_code(
    *, session: Session, conversation: Conversation, code: str, now: datetime
) -> VerificationResult:
    """Check a one-time code; on success the conversation is linked and verified."""
    if is_locked(session=session, conversation=conversation, now=now):
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
    if hmac.compare_digest(_hash_code(challenge.code_salt, typed), challenge.code_hash):
        challenge.closed_at = now
        link_patient(
            session=session,
            conversation=conversation,
            patient_id=challenge.patient_id,
            verified_at=now,
        )
        return VerificationResult("verified", MAX_WRONG_CODES - challenge.wrong_attempts)
    challenge.wrong_attempts += 1
    left = MAX_WRONG_CODES - challenge.wrong_attempts
    if left <= 0:
        challenge.closed_at = now
        _record_failure(session, conversation, "code_locked", now)
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


def verify_sms_identity(
    *,
    session: Session,
    conversation: Conversation,
    from_number: str,
    date_of_birth_text: str,
    now: datetime,
) -> VerificationResult:
    """SMS verification: the sending number is on file and the date of birth matches.

    A reply with no readable date is not counted as a failed attempt; a date that matches no
    patient with this number is.
    """
    if is_locked(session=session, conversation=conversation, now=now):
        return VerificationResult("locked", 0)
    born = parse_date_of_birth(date_of_birth_text, today=now.date())
    if born is None:
        return VerificationResult("unreadable", _attempts_left(session, conversation, now))
    number = re.sub(r"[^\d+]", "", from_number)
    matches = list(
        session.scalars(
            select(Patient.id).where(
                Patient.practice_id == conversation.practice_id,
                Patient.phone == number,
                Patient.date_of_birth == born,
            )
        )
    )
    if len(matches) == 1:
        link_patient(
            session=session, conversation=conversation, patient_id=matches[0], verified_at=now
        )
        return VerificationResult("verified", _attempts_left(session, conversation, now))
    # Two records with the same number and birthday (twins on a parent's phone) cannot be
    # told apart by SMS: that counts as a failure, and staff sort it out after the lock.
    _record_failure(session, conversation, "sms_identity", now)
    left = _attempts_left(session, conversation, now)
    return VerificationResult("locked" if left == 0 else "mismatch", left)
