"""Who may be texted: a practice's numbers, opt-out and opt-in records, the keyword answers.

Carriers require the HELP answer and a single opt-out confirmation; their texts live here with
the consent records they go with. Everything runs inside the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk import texts
from frontdesk.practices.models import Practice
from frontdesk.sms.models import PracticeSmsNumber, SmsConsent


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


def help_text(practice: Practice, language: str = "en") -> str:
    """The HELP answer carriers require: who we are, how to stop, frequency, rates, contact."""
    contact = practice.phone or texts.text("consent.the_office", language)
    return texts.for_sms(
        texts.text("consent.help", language, practice=practice.name, contact=contact)
    )


def opt_out_text(practice: Practice, language: str = "en") -> str:
    """The single confirmation an opt-out gets, in the language the patient used."""
    return texts.for_sms(texts.text("consent.opted_out", language, practice=practice.name))


def opt_in_text(practice: Practice, language: str = "en") -> str:
    """The confirmation a re-subscription gets, in the language the patient used."""
    return texts.for_sms(texts.text("consent.opted_in", language, practice=practice.name))
