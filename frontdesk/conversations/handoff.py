"""Who answers the patient: escalation to staff, claiming, replies, hand-back and resolution.

A conversation is owned by the bot or by staff, never both (`Conversation.owner`), and its
`status` follows Chatwoot's model: `pending` while the bot handles it, `open` once escalated
(in the staff queue, unassigned until one named staff member claims it), `resolved` when
staff close it. Only this module changes those fields, so they always move together:

    pending --escalate--> open --claim--> open + assignee --reply/note-->
        --hand_back_to_bot--> pending        --resolve--> resolved

While staff own a conversation the service forwards nothing to the bot and drops anything
the bot sends; Rasa's tracker is paused (the escalating action returns `ConversationPaused`)
and resumed with `action_listen` on hand-back or resolution, so the bot continues sensibly.

Claiming is a conditional UPDATE, so two staff members clicking "Claim" at the same moment
cannot both win: the database decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from frontdesk import texts
from frontdesk.conversations.models import (
    Conversation,
    ConversationNote,
    ConversationStatus,
    EscalationReason,
    Message,
    Owner,
    Role,
)
from frontdesk.conversations.service import record_outgoing_message, reply_language
from frontdesk.practices.models import Practice, Provider
from frontdesk.scheduling.models import ScheduleException, WeeklyHours

__all__ = [
    "HAND_BACK_TEXT",
    "MAX_NOTE_CHARS",
    "MAX_REPLY_CHARS",
    "NOTICE_MARKER",
    "EscalationReason",
    "HandoffError",
    "OfficeHours",
    "add_note",
    "check_may_release",
    "claim",
    "escalate",
    "hand_back_to_bot",
    "office_hours",
    "reply_as_staff",
    "resolve",
]

# Custom bot message `{"type": NOTICE_MARKER, "message_id": N}`: action_escalate stored
# message N for the patient; the web chat pushes it (see actions/handoff.py).
NOTICE_MARKER = "handoff_notice"
MAX_REPLY_CHARS = 1600  # ten SMS segments; a staff reply longer than that belongs in a call
MAX_NOTE_CHARS = 4000
LOOKAHEAD_DAYS = 14  # how far ahead to look for the next opening (holidays may chain)
# Keys of `Practice.office_hours` (as the practice file writes them), Monday first.
WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
HAND_BACK_TEXT = "handoff.hand_back"  # catalogue key (frontdesk.texts)


class HandoffError(Exception):
    """A handoff step that cannot happen now; `message` is safe to show to staff."""

    def __init__(self, code: str, message: str) -> None:
        """Create the error with a machine code and a staff-facing explanation."""
        super().__init__(message)
        self.code = code
        self.message = message


def escalate(
    *,
    session: Session,
    conversation: Conversation,
    reason: EscalationReason,
    now: datetime,
    detail: str | None = None,
) -> bool:
    """Hand a conversation to staff; returns False when staff already own it.

    Args:
        session: the caller's unit of work.
        conversation: the conversation to escalate.
        reason: why the bot gives up (shown in the staff queue).
        now: the current time.
        detail: a short staff-facing note from the code that escalates; never patient text.
    """
    if conversation.owner is Owner.STAFF:
        return False
    conversation.owner = Owner.STAFF
    conversation.status = ConversationStatus.OPEN
    conversation.escalation_reason = reason
    conversation.escalation_detail = detail[:200] if detail else None
    conversation.escalated_at = now
    conversation.waiting_since = now
    conversation.assignee_staff_id = None
    conversation.claimed_at = None
    conversation.first_reply_at = None
    conversation.resolved_at = None
    session.flush()
    return True


def claim(*, session: Session, conversation: Conversation, staff_id: int, now: datetime) -> None:
    """Make one staff member the conversation's assignee.

    Claiming again by the same person is a no-op. Raises `HandoffError` ("not_escalated",
    "already_claimed") otherwise.
    """
    if conversation.owner is not Owner.STAFF:
        raise HandoffError("not_escalated", "The bot is handling this conversation.")
    if conversation.assignee_staff_id == staff_id:
        return
    won = session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation.id,
            Conversation.owner == Owner.STAFF,
            Conversation.assignee_staff_id.is_(None),
        )
        .values(assignee_staff_id=staff_id, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(conversation)
    if won.rowcount != 1:  # type: ignore[attr-defined]
        raise HandoffError("already_claimed", "Someone else has already claimed this.")


def reply_as_staff(
    *,
    session: Session,
    conversation: Conversation,
    staff_id: int,
    sender_name: str,
    text: str,
    now: datetime,
) -> Message:
    """Store a staff reply for delivery over the patient's channel.

    Only the assignee may reply. The message is stored with `record_outgoing_message`, so an
    SMS patient gets it through the SMS outbox; the caller pushes it to open web chat sockets.
    Raises `HandoffError` ("not_assignee", "empty", "too_long").
    """
    _require_assignee(conversation, staff_id)
    text = _clean(text, limit=MAX_REPLY_CHARS, what="reply")
    message = record_outgoing_message(
        session=session,
        conversation=conversation,
        role=Role.STAFF,
        text=text,
        sender_name=sender_name,
    )
    if conversation.first_reply_at is None:
        conversation.first_reply_at = now
    conversation.waiting_since = None
    session.flush()
    return message


def add_note(
    *, session: Session, conversation: Conversation, staff_id: int, text: str, now: datetime
) -> ConversationNote:
    """Add an internal note; it is never sent to the patient. Any staff member may add one."""
    note = ConversationNote(
        practice_id=conversation.practice_id,
        conversation_id=conversation.id,
        author_staff_id=staff_id,
        text=_clean(text, limit=MAX_NOTE_CHARS, what="note"),
        created_at=now,
    )
    session.add(note)
    session.flush()
    return note


def hand_back_to_bot(
    *, session: Session, conversation: Conversation, staff_id: int, admin: bool
) -> Message:
    """Give the conversation back to the bot and tell the patient so.

    The assignee may hand back; so may anyone while nobody has claimed it, and an admin
    always. The caller resumes Rasa's tracker *before* committing, so the bot is never
    given a conversation it would ignore. Raises `HandoffError`.
    """
    _release(conversation, staff_id, admin=admin)
    conversation.status = ConversationStatus.PENDING
    language = reply_language(session=session, conversation=conversation)
    return record_outgoing_message(
        session=session,
        conversation=conversation,
        role=Role.BOT,
        text=texts.text(HAND_BACK_TEXT, language),
    )


def resolve(
    *, session: Session, conversation: Conversation, staff_id: int, now: datetime, admin: bool
) -> None:
    """Close the conversation: it leaves the queue, and the bot answers any later message.

    Same permissions as `hand_back_to_bot`. Raises `HandoffError`.
    """
    _release(conversation, staff_id, admin=admin)
    conversation.status = ConversationStatus.RESOLVED
    conversation.resolved_at = now
    session.flush()


def check_may_release(*, conversation: Conversation, staff_id: int, admin: bool) -> None:
    """Raise `HandoffError` unless this staff member may hand back or resolve now."""
    if conversation.owner is not Owner.STAFF:
        raise HandoffError("not_escalated", "The bot is already handling this conversation.")
    if conversation.assignee_staff_id not in (None, staff_id) and not admin:
        raise HandoffError("not_assignee", "Only the staff member who claimed this can do that.")


def _release(conversation: Conversation, staff_id: int, *, admin: bool) -> None:
    check_may_release(conversation=conversation, staff_id=staff_id, admin=admin)
    conversation.owner = Owner.BOT
    conversation.assignee_staff_id = None
    conversation.waiting_since = None


def _require_assignee(conversation: Conversation, staff_id: int) -> None:
    if conversation.owner is not Owner.STAFF:
        raise HandoffError("not_escalated", "The bot is handling this conversation.")
    if conversation.assignee_staff_id != staff_id:
        raise HandoffError("not_assignee", "Claim the conversation before replying.")


def _clean(text: str, *, limit: int, what: str) -> str:
    text = text.replace("\x00", "").strip()
    if not text:
        raise HandoffError("empty", f"The {what} is empty.")
    if len(text) > limit:
        raise HandoffError(
            "too_long", f"The {what} is {len(text)} characters; please keep it under {limit}."
        )
    return text


@dataclass(frozen=True)
class OfficeHours:
    """Whether the office is staffed at a moment, and if not, when it next opens."""

    open_now: bool
    opens_at: datetime | None  # local time of the next opening; None if open or unknown
    zone: ZoneInfo

    def opens_phrase(self, now: datetime) -> str:
        """`today at 1:00 PM`, `tomorrow at 8:30 AM`, `Monday at 8:30 AM` or a dated phrase."""
        if self.opens_at is None:
            return "soon"
        today = now.astimezone(self.zone).date()
        day = self.opens_at.date()
        clock = self.opens_at.strftime("%I:%M %p").lstrip("0")
        if day == today:
            return f"today at {clock}"
        if day == today + timedelta(days=1):
            return f"tomorrow at {clock}"
        if day < today + timedelta(days=7):
            return f"{self.opens_at:%A} at {clock}"
        return f"{self.opens_at:%A, %B} {day.day} at {clock}"


def office_hours(*, session: Session, practice: Practice, now: datetime) -> OfficeHours:
    """When a person can answer: the practice's office hours, else the providers' span.

    With `office_hours` set (the practice file), those spans are staffed. Without, the front
    desk is staffed from the earliest weekly-hours start of any active provider to the
    latest end on that weekday (lunch breaks included). Days with no hours are closed,
    and so is time the whole practice is closed (a `ScheduleException` without a provider,
    e.g. a holiday). Wall-clock hours are read in the practice's zone, so 8:00 stays 8:00
    across daylight saving changes.
    """
    zone = ZoneInfo(practice.timezone)
    spans = _staffed_spans(session=session, practice=practice)
    horizon = now + timedelta(days=LOOKAHEAD_DAYS + 1)
    closures = session.execute(
        select(ScheduleException.start_at, ScheduleException.end_at).where(
            ScheduleException.practice_id == practice.id,
            ScheduleException.provider_id.is_(None),
            ScheduleException.end_at > now,
            ScheduleException.start_at < horizon,
        )
    ).all()
    local = now.astimezone(zone)
    for offset in range(LOOKAHEAD_DAYS + 1):
        day: date = local.date() + timedelta(days=offset)
        for begins, ends in spans.get(day.weekday(), []):
            opens = datetime.combine(day, begins, tzinfo=zone)
            closes = datetime.combine(day, ends, tzinfo=zone)
            start = max(opens, local)
            moved = True
            while moved:  # step past closures that cover the start (they may chain)
                moved = False
                for closed_from, closed_until in closures:
                    if closed_from <= start < closed_until:
                        start, moved = closed_until.astimezone(zone), True
            if start >= closes:
                continue
            if start <= local:
                return OfficeHours(open_now=True, opens_at=None, zone=zone)
            return OfficeHours(open_now=False, opens_at=start, zone=zone)
    return OfficeHours(open_now=False, opens_at=None, zone=zone)


def _staffed_spans(*, session: Session, practice: Practice) -> dict[int, list[tuple[time, time]]]:
    """Per weekday, the local spans staff answer in.

    The practice's own office hours when its practice file sets them (lunch closed if it
    says so); otherwise one span per day from the providers' weekly hours.
    """
    if practice.office_hours:
        return {
            weekday: sorted(_span(text) for text in practice.office_hours.get(name, []))
            for weekday, name in enumerate(WEEKDAY_NAMES)
            if practice.office_hours.get(name)
        }
    spans: dict[int, tuple[time, time]] = {}
    rows = session.execute(
        select(WeeklyHours.weekday, WeeklyHours.start_time, WeeklyHours.end_time)
        .join(Provider, Provider.id == WeeklyHours.provider_id)
        .where(WeeklyHours.practice_id == practice.id, Provider.active.is_(True))
    )
    for weekday, begins, ends in rows:
        earliest, latest = spans.get(weekday, (begins, ends))
        spans[weekday] = (min(earliest, begins), max(latest, ends))
    return {weekday: [span] for weekday, span in spans.items()}


def _span(text: str) -> tuple[time, time]:
    start, end = text.split("-")
    return time.fromisoformat(start), time.fromisoformat(end)
