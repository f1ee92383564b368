"""Handoff state: escalation, claiming (race-safe), replies, notes, hand-back, resolution,
and the office hours that decide what the patient is told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from frontdesk import texts
from frontdesk.auth.models import StaffRole
from frontdesk.auth.service import create_staff_account
from frontdesk.conversations import handoff
from frontdesk.conversations import service as conversations
from frontdesk.conversations.handoff import EscalationReason, HandoffError
from frontdesk.conversations.models import (
    Channel,
    Conversation,
    ConversationNote,
    ConversationStatus,
    Message,
    Owner,
    Role,
)
from frontdesk.models import Practice
from frontdesk.practices.models import Provider
from frontdesk.scheduling.models import WeeklyHours
from tests import factories
from tests.conftest import NOW

NY = ZoneInfo("America/New_York")
PASSWORD = "correct horse battery staple"


def _staff(session: Session, practice: Practice, email: str, role: StaffRole) -> int:
    account = create_staff_account(
        session=session,
        practice_id=practice.id,
        email=email,
        display_name=email.split("@")[0].title(),
        role=role,
        password=PASSWORD,
        now=NOW,
    )
    return account.id


@pytest.fixture
def desk(session: Session, practice: Practice) -> int:
    return _staff(session, practice, "morgan@riverside.example", StaffRole.FRONT_DESK)


@pytest.fixture
def other_desk(session: Session, practice: Practice) -> int:
    return _staff(session, practice, "riley@riverside.example", StaffRole.FRONT_DESK)


@pytest.fixture
def conversation(session: Session, practice: Practice) -> Conversation:
    convo, _ = conversations.start_conversation(
        session=session, practice=practice, channel=Channel.WEBCHAT
    )
    return convo


@pytest.fixture
def escalated(session: Session, conversation: Conversation) -> Conversation:
    assert handoff.escalate(
        session=session,
        conversation=conversation,
        reason=EscalationReason.REFILL,
        now=NOW,
        detail="asked for lisinopril",
    )
    return conversation


def test_a_new_conversation_belongs_to_the_bot(conversation: Conversation) -> None:
    assert conversation.owner is Owner.BOT
    assert conversation.status is ConversationStatus.PENDING
    assert conversation.assignee_staff_id is None


def test_escalation_hands_the_conversation_to_staff_once(
    session: Session, escalated: Conversation
) -> None:
    session.expire_all()
    convo = session.get_one(Conversation, escalated.id)
    assert convo.owner is Owner.STAFF
    assert convo.status is ConversationStatus.OPEN
    assert convo.escalation_reason is EscalationReason.REFILL
    assert convo.escalated_at == NOW
    assert convo.waiting_since == NOW
    # A second escalation (e.g. another rule firing) keeps the first reason and clock.
    later = NOW + timedelta(minutes=5)
    assert not handoff.escalate(
        session=session, conversation=convo, reason=EscalationReason.EMERGENCY, now=later
    )
    assert convo.escalation_reason is EscalationReason.REFILL
    assert convo.waiting_since == NOW


def test_claim_needs_an_escalated_conversation(
    session: Session, conversation: Conversation, desk: int
) -> None:
    with pytest.raises(HandoffError) as raised:
        handoff.claim(session=session, conversation=conversation, staff_id=desk, now=NOW)
    assert raised.value.code == "not_escalated"


def test_only_one_staff_member_wins_a_claim(
    session: Session, escalated: Conversation, desk: int, other_desk: int
) -> None:
    handoff.claim(session=session, conversation=escalated, staff_id=desk, now=NOW)
    handoff.claim(session=session, conversation=escalated, staff_id=desk, now=NOW)  # idempotent
    with pytest.raises(HandoffError) as raised:
        handoff.claim(session=session, conversation=escalated, staff_id=other_desk, now=NOW)
    assert raised.value.code == "already_claimed"
    assert escalated.assignee_staff_id == desk
    assert escalated.claimed_at == NOW


def test_a_stale_copy_cannot_overwrite_a_claim(
    session: Session, escalated: Conversation, desk: int, other_desk: int
) -> None:
    # Another request claimed it after this one loaded the row: the database decides.
    session.execute(
        update(Conversation)
        .where(Conversation.id == escalated.id)
        .values(assignee_staff_id=other_desk)
        .execution_options(synchronize_session=False)
    )
    assert escalated.assignee_staff_id is None  # the in-memory copy is stale
    with pytest.raises(HandoffError):
        handoff.claim(session=session, conversation=escalated, staff_id=desk, now=NOW)
    assert escalated.assignee_staff_id == other_desk


def test_only_the_assignee_replies_and_the_first_reply_is_timed(
    session: Session, escalated: Conversation, desk: int, other_desk: int
) -> None:
    with pytest.raises(HandoffError) as raised:
        handoff.reply_as_staff(
            session=session,
            conversation=escalated,
            staff_id=desk,
            sender_name="Morgan",
            text="Hi",
            now=NOW,
        )
    assert raised.value.code == "not_assignee"
    handoff.claim(session=session, conversation=escalated, staff_id=desk, now=NOW)
    first = NOW + timedelta(minutes=3)
    message = handoff.reply_as_staff(
        session=session,
        conversation=escalated,
        staff_id=desk,
        sender_name="Morgan",
        text="  Hi, I can help with the refill.  ",
        now=first,
    )
    assert (message.role, message.sender_name, message.text) == (
        Role.STAFF,
        "Morgan",
        "Hi, I can help with the refill.",
    )
    assert escalated.first_reply_at == first
    assert escalated.waiting_since is None
    handoff.reply_as_staff(
        session=session,
        conversation=escalated,
        staff_id=desk,
        sender_name="Morgan",
        text="Anything else?",
        now=first + timedelta(minutes=1),
    )
    assert escalated.first_reply_at == first
    with pytest.raises(HandoffError):
        handoff.reply_as_staff(
            session=session,
            conversation=escalated,
            staff_id=other_desk,
            sender_name="Riley",
            text="Me too",
            now=first,
        )


@pytest.mark.parametrize(
    ("text", "code"), [("   ", "empty"), ("x" * (handoff.MAX_REPLY_CHARS + 1), "too_long")]
)
def test_bad_replies_are_refused_and_nothing_is_stored(
    session: Session, escalated: Conversation, desk: int, text: str, code: str
) -> None:
    handoff.claim(session=session, conversation=escalated, staff_id=desk, now=NOW)
    with pytest.raises(HandoffError) as raised:
        handoff.reply_as_staff(
            session=session,
            conversation=escalated,
            staff_id=desk,
            sender_name="Morgan",
            text=text,
            now=NOW,
        )
    assert raised.value.code == code
    assert session.scalars(select(Message).where(Message.role == Role.STAFF)).all() == []


def test_a_patient_message_after_a_staff_reply_restarts_the_waiting_clock(
    session: Session, escalated: Conversation, desk: int
) -> None:
    handoff.claim(session=session, conversation=escalated, staff_id=desk, now=NOW)
    handoff.reply_as_staff(
        session=session,
        conversation=escalated,
        staff_id=desk,
        sender_name="Morgan",
        text="Which pharmacy?",
        now=NOW,
    )
    assert escalated.waiting_since is None
    conversations.record_patient_message(
        session=session, conversation=escalated, text="CVS on Main 😊", payload=None, client_id="m1"
    )
    assert escalated.waiting_since is not None


def test_a_patient_message_to_the_bot_starts_no_clock(
    session: Session, conversation: Conversation
) -> None:
    conversations.record_patient_message(
        session=session, conversation=conversation, text="hello", payload=None, client_id=None
    )
    assert conversation.waiting_since is None


def test_notes_are_internal_and_checked(
    session: Session, escalated: Conversation, other_desk: int
) -> None:
    note = handoff.add_note(
        session=session,
        conversation=escalated,
        staff_id=other_desk,
        text="Called pharmacy",
        now=NOW,
    )
    assert session.get_one(ConversationNote, note.id).text == "Called pharmacy"
    assert (
        session.scalars(select(Message).where(Message.conversation_id == escalated.id)).all() == []
    )
    with pytest.raises(HandoffError):
        handoff.add_note(
            session=session,
            conversation=escalated,
            staff_id=other_desk,
            text="n" * (handoff.MAX_NOTE_CHARS + 1),
            now=NOW,
        )


def test_hand_back_returns_the_conversation_to_the_bot_and_tells_the_patient(
    session: Session, escalated: Conversation, desk: int
) -> None:
    handoff.claim(session=session, conversation=escalated, staff_id=desk, now=NOW)
    message = handoff.hand_back_to_bot(
        session=session, conversation=escalated, staff_id=desk, admin=False
    )
    assert (escalated.owner, escalated.status) == (Owner.BOT, ConversationStatus.PENDING)
    assert escalated.assignee_staff_id is None
    assert (message.role, message.text) == (Role.BOT, texts.text(handoff.HAND_BACK_TEXT, "en"))
    with pytest.raises(HandoffError) as raised:
        handoff.hand_back_to_bot(
            session=session, conversation=escalated, staff_id=desk, admin=False
        )
    assert raised.value.code == "not_escalated"


def test_someone_elses_conversation_is_released_only_by_an_admin(
    session: Session, practice: Practice, escalated: Conversation, desk: int, other_desk: int
) -> None:
    handoff.claim(session=session, conversation=escalated, staff_id=desk, now=NOW)
    with pytest.raises(HandoffError) as raised:
        handoff.resolve(
            session=session, conversation=escalated, staff_id=other_desk, now=NOW, admin=False
        )
    assert raised.value.code == "not_assignee"
    admin = _staff(session, practice, "avery@riverside.example", StaffRole.ADMIN)
    later = NOW + timedelta(hours=1)
    handoff.resolve(session=session, conversation=escalated, staff_id=admin, now=later, admin=True)
    assert (escalated.owner, escalated.status) == (Owner.BOT, ConversationStatus.RESOLVED)
    assert escalated.resolved_at == later


def test_an_unclaimed_escalation_may_be_resolved_by_anyone(
    session: Session, escalated: Conversation, other_desk: int
) -> None:
    handoff.resolve(
        session=session, conversation=escalated, staff_id=other_desk, now=NOW, admin=False
    )
    assert escalated.status is ConversationStatus.RESOLVED


def _ny(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NY).astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "open_now", "phrase"),
    [
        # Saturday 28 Nov 2026 10:00: Dr. Nguyen sees patients 9-12 on Saturdays.
        (_ny(2026, 11, 28, 10, 0), True, "soon"),
        # Saturday 13:00: closed until Monday, when Dr. Patel starts at 8:30.
        (_ny(2026, 11, 28, 13, 0), False, "Monday at 8:30 AM"),
        # Sunday evening: tomorrow.
        (_ny(2026, 11, 29, 20, 0), False, "tomorrow at 8:30 AM"),
        # Monday 7:00: later today. Lunch breaks do not close the front desk.
        (_ny(2026, 11, 30, 7, 0), False, "today at 8:30 AM"),
        (_ny(2026, 11, 30, 12, 30), True, "soon"),
        # Tuesday 19:30: Dr. Nguyen's day ends at 19:00; Wednesday opens at 8:30.
        (_ny(2026, 12, 1, 19, 30), False, "tomorrow at 8:30 AM"),
    ],
)
def test_office_hours_follow_the_providers_weekly_hours(
    session: Session, practice: Practice, now: datetime, open_now: bool, phrase: str
) -> None:
    hours = handoff.office_hours(session=session, practice=practice, now=now)
    assert hours.open_now is open_now
    assert hours.opens_phrase(now) == phrase


def test_a_practice_without_hours_is_closed_with_no_opening_time(
    session: Session, practice: Practice
) -> None:
    session.execute(delete(WeeklyHours).where(WeeklyHours.practice_id == practice.id))
    hours = handoff.office_hours(session=session, practice=practice, now=NOW)
    assert (hours.open_now, hours.opens_at) == (False, None)


def test_practice_closures_move_the_next_opening(session: Session, practice: Practice) -> None:
    # Monday 30 November is a practice holiday; Tuesday 10:00-14:00 the office is closed too.
    factories.schedule_exception(
        session,
        practice=practice,
        start=_ny(2026, 11, 30, 0, 0),
        end=_ny(2026, 12, 1, 0, 0),
        reason="Holiday",
    )
    factories.schedule_exception(
        session,
        practice=practice,
        start=_ny(2026, 12, 1, 10, 0),
        end=_ny(2026, 12, 1, 14, 0),
        reason="Training",
    )
    saturday = _ny(2026, 11, 28, 13, 0)
    hours = handoff.office_hours(session=session, practice=practice, now=saturday)
    assert hours.opens_phrase(saturday) == "Tuesday at 8:30 AM"
    tuesday = _ny(2026, 12, 1, 11, 0)
    hours = handoff.office_hours(session=session, practice=practice, now=tuesday)
    assert (hours.open_now, hours.opens_phrase(tuesday)) == (False, "today at 2:00 PM")
    # A provider's own time off does not close the front desk.
    factories.schedule_exception(
        session,
        practice=practice,
        provider=session.scalars(
            select(Provider).where(Provider.practice_id == practice.id)
        ).first(),
        start=_ny(2026, 12, 2, 0, 0),
        end=_ny(2026, 12, 3, 0, 0),
        reason="Time off",
    )
    wednesday = _ny(2026, 12, 2, 11, 0)
    assert handoff.office_hours(session=session, practice=practice, now=wednesday).open_now
