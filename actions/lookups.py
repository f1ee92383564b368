"""What a conversation and its slots point at: practice, patient, visit type, slot, appointment.

Shared by the booking, appointment and waitlist actions; each call runs inside the action's
own unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Tracker
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.formatting import slot_label
from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Message, Role
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Practice, Provider
from frontdesk.reminders.messages import parse_appointment_ref
from frontdesk.scheduling.booking import upcoming_appointments
from frontdesk.scheduling.matching import match_visit_type
from frontdesk.scheduling.models import Appointment, VisitType
from frontdesk.scheduling.slots import parse_slot_key


@dataclass(frozen=True)
class Where:
    """The practice behind a conversation, loaded for one action call."""

    practice: Practice
    tz: ZoneInfo
    patient: Patient | None
    # The conversation's reply language ("en" or "es"), for reading and describing times.
    language: str = "en"


def locate(session: Session, sender_id: str) -> Where:
    """The practice, its zone and the linked patient (if any) of a conversation."""
    conversation = conversations.get_conversation(session=session, public_id=sender_id)
    if conversation is None:
        raise LookupError("conversation not found")
    practice = session.get_one(Practice, conversation.practice_id)
    patient = session.get(Patient, conversation.patient_id) if conversation.patient_id else None
    language = conversations.reply_language(session=session, conversation=conversation)
    return Where(
        practice=practice, tz=ZoneInfo(practice.timezone), patient=patient, language=language
    )


def visit_type_named(session: Session, practice_id: int, code: str | None) -> VisitType | None:
    """The visit type a code or the patient's words name, or None."""
    if not code:
        return None
    return match_visit_type(session=session, practice_id=practice_id, text=code)


def visit_type_for(session: Session, where: Where, tracker: Tracker) -> VisitType | None:
    """The visit type being booked, or that of the appointment being rescheduled."""
    found = visit_type_named(session, where.practice.id, tracker.get_slot("visit_type"))
    if found is not None or where.patient is None:
        return found
    appointment_id = parse_appointment_ref(tracker.get_slot("appointment_ref"))
    appointment = session.get(Appointment, appointment_id) if appointment_id else None
    if appointment is None or appointment.patient_id != where.patient.id:
        return None
    return session.get(VisitType, appointment.visit_type_id)


def provider_id_of(value: str | None) -> int | None:
    """The provider id a `provider_preference` value holds (None for "any" and the like)."""
    return int(value) if value and value.isdigit() else None


def title_for_key(session: Session, key: str, tz: ZoneInfo, language: str = "en") -> str:
    """The button title an offered slot was shown with, in the conversation's language."""
    provider_id, start = parse_slot_key(key)
    provider = session.get(Provider, provider_id)
    return slot_label(start, provider.display_name if provider else "", tz, language)


def linked_patient_id(session: Session, sender_id: str) -> int | None:
    """The patient the conversation is linked to (verified or not), or None."""
    conversation = conversations.get_conversation(session=session, public_id=sender_id)
    return conversation.patient_id if conversation else None


def own_upcoming(
    session: Session, patient_id: int | None, ref: Any, now: datetime
) -> Appointment | None:
    """The upcoming appointment `ref` points at, only if it is this patient's."""
    appointment_id = parse_appointment_ref(ref)
    if patient_id is None or appointment_id is None:
        return None
    for appointment in upcoming_appointments(session=session, patient_id=patient_id, now=now):
        if appointment.id == appointment_id:
            return appointment
    return None


def last_bot_message_at(session: Session, sender_id: str) -> datetime | None:
    """When the bot last wrote in this conversation: the question the patient just answered."""
    conversation = conversations.get_conversation(session=session, public_id=sender_id)
    if conversation is None:
        return None
    return session.scalar(
        select(Message.created_at)
        .where(Message.conversation_id == conversation.id, Message.role == Role.BOT)
        .order_by(Message.id.desc())
        .limit(1)
    )
