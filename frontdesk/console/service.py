"""What the staff console reads: the escalation queue, a transcript, the patient beside it.

Every query is scoped to the signed-in staff member's practice; a conversation id from
another practice reads as "not found". Callers audit what they show (see routes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.auth.models import StaffAccount
from frontdesk.conversations.models import (
    Channel,
    Conversation,
    ConversationNote,
    ConversationStatus,
    EscalationReason,
    Message,
    Role,
)
from frontdesk.conversations.service import reply_language
from frontdesk.ehr.models import OutboxStatus
from frontdesk.ehr.outbox import sync_state_for
from frontdesk.insights.no_shows import markable_visits
from frontdesk.language import Language
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Practice
from frontdesk.scheduling.booking import upcoming_appointments
from frontdesk.sms.consent import is_opted_out
from frontdesk.sms.models import SmsThread

REASON_LABELS = {
    EscalationReason.PATIENT_REQUEST: "Asked for a person",
    EscalationReason.MISUNDERSTOOD: "Bot misunderstood twice",
    EscalationReason.EMERGENCY: "Emergency words",
    EscalationReason.REFILL: "Refill request",
    EscalationReason.BILLING_DISPUTE: "Billing dispute",
    EscalationReason.IDENTITY_FAILED: "Identity check failed",
    EscalationReason.LOW_CONFIDENCE_ANSWER: "No confident answer",
    EscalationReason.BOT_UNANSWERED: "The assistant did not answer",
}
CHANNEL_LABELS = {Channel.WEBCHAT: "Web chat", Channel.SMS: "SMS"}
SYNC_LABELS = {
    OutboxStatus.PENDING: "Waiting to sync",
    OutboxStatus.IN_FLIGHT: "Syncing",
    OutboxStatus.DONE: "In the EHR",
    OutboxStatus.DEAD: "Sync failed: needs staff",
}
TRANSCRIPT_LIMIT = 300


def reason_label(reason: EscalationReason | None) -> str:
    """Staff wording for an escalation reason."""
    return REASON_LABELS.get(reason, "Escalated") if reason else "Escalated"


def waiting_text(seconds: int | None) -> str:
    """`just now`, `4 min`, `2 h 05 min`, `3 days`; `answered` when nobody is waiting."""
    if seconds is None:
        return "answered"
    if seconds < 60:
        return "just now"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} days"


@dataclass(frozen=True)
class QueueItem:
    """One escalated conversation in the queue. Holds no patient details."""

    conversation_id: str
    reason: str
    reason_code: str
    urgent: bool
    channel: str
    language: str
    escalated_at: datetime | None
    waiting_seconds: int | None
    waiting: str
    assignee_id: int | None
    assignee_name: str | None
    identified: bool

    def as_json(self) -> dict[str, object]:
        """The JSON the console script renders rows from."""
        return {
            "conversation_id": self.conversation_id,
            "reason": self.reason,
            "reason_code": self.reason_code,
            "urgent": self.urgent,
            "channel": self.channel,
            "language": self.language,
            "escalated_at": self.escalated_at.isoformat() if self.escalated_at else None,
            "waiting_seconds": self.waiting_seconds,
            "waiting": self.waiting,
            "assignee_id": self.assignee_id,
            "assignee_name": self.assignee_name,
            "identified": self.identified,
        }


LANGUAGE_LABELS = {Language.EN: "English", Language.ES: "Spanish"}


def language_label(*, session: Session, conversation: Conversation) -> str:
    """What staff see: the language the bot answers this patient in ("Spanish")."""
    return LANGUAGE_LABELS[reply_language(session=session, conversation=conversation)]


def queue(*, session: Session, practice_id: int, now: datetime) -> list[QueueItem]:
    """Open escalations: emergencies first, then the longest wait; answered ones last."""
    rows = session.execute(
        select(Conversation, StaffAccount.display_name)
        .outerjoin(StaffAccount, StaffAccount.id == Conversation.assignee_staff_id)
        .where(
            Conversation.practice_id == practice_id,
            Conversation.status == ConversationStatus.OPEN,
        )
    ).all()
    items = []
    for conversation, assignee_name in rows:
        waited = (
            max(0, int((now - conversation.waiting_since).total_seconds()))
            if conversation.waiting_since
            else None
        )
        reason = conversation.escalation_reason
        items.append(
            QueueItem(
                conversation_id=conversation.public_id,
                reason=reason_label(reason),
                reason_code=reason.value if reason else "",
                urgent=reason is EscalationReason.EMERGENCY,
                channel=CHANNEL_LABELS[conversation.channel],
                language=language_label(session=session, conversation=conversation),
                escalated_at=conversation.escalated_at,
                waiting_seconds=waited,
                waiting=waiting_text(waited),
                assignee_id=conversation.assignee_staff_id,
                assignee_name=assignee_name,
                identified=conversation.patient_id is not None,
            )
        )
    items.sort(key=lambda i: (not i.urgent, i.waiting_seconds is None, -(i.waiting_seconds or 0)))
    return items


def find_conversation(*, session: Session, practice_id: int, public_id: str) -> Conversation | None:
    """A conversation of this practice by its opaque id (None for other practices' ids)."""
    return session.scalar(
        select(Conversation).where(
            Conversation.practice_id == practice_id, Conversation.public_id == public_id
        )
    )


@dataclass(frozen=True)
class TranscriptEntry:
    """A message or an internal note, in time order. `text` is untrusted patient input."""

    kind: str  # "patient", "bot", "staff" or "note"
    id: int
    text: str
    author: str | None
    at: datetime

    def as_json(self) -> dict[str, object]:
        """The JSON the console script appends (as text, never as HTML)."""
        return {
            "kind": self.kind,
            "id": self.id,
            "text": self.text,
            "author": self.author,
            "at": self.at.isoformat(),
        }


def transcript(
    *, session: Session, conversation: Conversation, after_message_id: int = 0
) -> list[TranscriptEntry]:
    """The conversation's latest messages (after `after_message_id`) and all its notes."""
    messages = list(
        session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation.id, Message.id > after_message_id)
            .order_by(Message.id.desc())
            .limit(TRANSCRIPT_LIMIT)
        )
    )
    entries = [
        TranscriptEntry(
            kind=m.role.value,
            id=m.id,
            text=_message_text(m),
            author=m.sender_name if m.role is Role.STAFF else None,
            at=m.created_at,
        )
        for m in reversed(messages)
        if m.text or (m.payload or {}).get("buttons")
    ]
    if after_message_id:
        return entries
    notes = session.execute(
        select(ConversationNote, StaffAccount.display_name)
        .join(StaffAccount, StaffAccount.id == ConversationNote.author_staff_id)
        .where(ConversationNote.conversation_id == conversation.id)
    ).all()
    entries += [
        TranscriptEntry(kind="note", id=note.id, text=note.text, author=name, at=note.created_at)
        for note, name in notes
    ]
    return sorted(entries, key=lambda e: e.at)


def _message_text(message: Message) -> str:
    text = message.text or ""
    buttons = (message.payload or {}).get("buttons") or []
    if buttons:  # staff see what the patient was offered
        choices = " · ".join(str(b.get("title", "")) for b in buttons)
        text = f"{text}\n[Buttons: {choices}]".strip()
    return text


@dataclass(frozen=True)
class AppointmentLine:
    """An upcoming appointment with its EHR write-back state."""

    when: str
    provider: str
    visit_type: str
    sync: str
    sync_failed: bool


@dataclass(frozen=True)
class PatientContext:
    """What staff see beside the transcript. PHI: viewing it is audited."""

    patient_id: int
    name: str
    date_of_birth: str
    phone: str | None
    verified_at: datetime | None
    appointments: list[AppointmentLine]
    texts: str  # opt-out state in words
    # Visits of the last days that started and are still booked: staff may mark a no-show.
    recent_visits: list[RecentVisit] = field(default_factory=list)


@dataclass(frozen=True)
class RecentVisit:
    """A visit that has started and that staff may mark as a no-show."""

    appointment_id: int
    when: str
    provider: str
    visit_type: str


def patient_context(
    *, session: Session, conversation: Conversation, now: datetime
) -> PatientContext | None:
    """The linked patient's details, upcoming visits and SMS consent; None if unidentified."""
    if conversation.patient_id is None:
        return None
    patient = session.get_one(Patient, conversation.patient_id)
    practice = session.get_one(Practice, conversation.practice_id)
    zone = ZoneInfo(practice.timezone)
    visits = upcoming_appointments(session=session, patient_id=patient.id, now=now)
    states = sync_state_for(session=session, appointment_ids=[a.id for a in visits])
    lines = []
    for visit in visits:
        state = states.get(visit.id)
        local = visit.start_at.astimezone(zone)
        lines.append(
            AppointmentLine(
                when=_when(local),
                provider=visit.provider.display_name,
                visit_type=visit.visit_type.name if visit.visit_type else "Visit",
                sync=SYNC_LABELS[state.status] if state else "No EHR sync",
                sync_failed=bool(state and state.status is OutboxStatus.DEAD),
            )
        )
    phone = _texting_number(session, conversation) or patient.phone
    if phone is None:
        texts = "No mobile number on file"
    elif is_opted_out(session=session, practice_id=conversation.practice_id, phone=phone):
        texts = "Opted out of texts"
    else:
        texts = "Texts allowed"
    return PatientContext(
        patient_id=patient.id,
        name=patient.full_name,
        date_of_birth=patient.date_of_birth.isoformat(),
        phone=patient.phone,
        verified_at=conversation.identity_verified_at,
        appointments=lines,
        texts=texts,
        recent_visits=[
            RecentVisit(
                appointment_id=visit.appointment_id,
                when=_when(visit.start_at.astimezone(zone)),
                provider=visit.provider,
                visit_type=visit.visit_type,
            )
            for visit in markable_visits(session=session, patient_id=patient.id, now=now)
        ],
    )


def _when(local: datetime) -> str:
    return f"{local:%a %b} {local.day}, {local:%I:%M %p}".replace(" 0", " ")


def _texting_number(session: Session, conversation: Conversation) -> str | None:
    if conversation.channel is not Channel.SMS:
        return None
    return session.scalar(
        select(SmsThread.phone).where(SmsThread.conversation_id == conversation.id)
    )
