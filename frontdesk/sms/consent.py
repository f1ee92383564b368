"""Who may be texted: a practice's numbers, opt-out and opt-in records, the keyword answers.

Carriers require the HELP answer and a single opt-out confirmation; their texts live here with
the consent records they go with. Everything runs inside the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

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
    contact = practice.phone or ("la oficina" if language == "es" else "the office")
    if language == "es":
        return (
            f"{practice.name}: mensajes sobre sus citas y respuestas a sus textos. "
            "La frecuencia de los mensajes varía. Pueden aplicarse tarifas de mensajes y datos. "
            f"Responda ALTO para no recibir más mensajes. Si necesita ayuda, llame al {contact}."
        )
    return (
        f"{practice.name}: appointment messages and replies to your texts. "
        f"Msg frequency varies. Msg & data rates may apply. Reply STOP to opt out. "
        f"Call {contact} for help."
    )


def opt_out_text(practice: Practice, language: str = "en") -> str:
    """The single confirmation an opt-out gets, in the language the patient used."""
    if language == "es":
        return (
            f"{practice.name}: ya no le enviaremos mensajes. "
            "Responda EMPEZAR para volver a recibirlos."
        )
    return (
        f"{practice.name}: you're unsubscribed and will get no more messages. "
        "Reply START to resubscribe."
    )


def opt_in_text(practice: Practice, language: str = "en") -> str:
    """The confirmation a re-subscription gets, in the language the patient used."""
    if language == "es":
        return (
            f"{practice.name}: volverá a recibir nuestros mensajes. "
            "Responda AYUDA si necesita ayuda o ALTO para dejar de recibirlos."
        )
    return f"{practice.name}: you're subscribed again. Reply HELP for help, STOP to opt out."
