"""Reminder planning and sending against a migrated database (SQLite, and PostgreSQL in CI)."""

from __future__ import annotations

import itertools
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from frontdesk.conversations.models import Message
from frontdesk.models import Appointment, AppointmentStatus, Patient, Practice, Provider, VisitType
from frontdesk.reminders.models import (
    ReminderKind,
    ReminderSettings,
    ReminderStatus,
    ScheduledReminder,
)
from frontdesk.reminders.planning import plan_outreach
from frontdesk.reminders.policy import OutreachPolicy, fit_to_window
from frontdesk.reminders.sending import send_due
from frontdesk.sms.consent import record_consent
from frontdesk.sms.models import OutboundSms
from tests import factories
from tests.conftest import NOW

NY = ZoneInfo("America/New_York")
DAY = timedelta(days=1)
_minutes = itertools.count()


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A New York wall time in December 2026, as an aware datetime."""
    return datetime(2026, 12, day, hour, minute, tzinfo=NY)


def book(
    session: Session,
    practice: Practice,
    start: datetime,
    *,
    patient: int = 0,
    status: AppointmentStatus = AppointmentStatus.BOOKED,
    created: datetime = NOW - timedelta(days=30),
) -> Appointment:
    """A 30-minute visit with the practice's first provider for its `patient`-th patient."""
    patients = list(
        session.scalars(
            select(Patient).where(Patient.practice_id == practice.id).order_by(Patient.id)
        )
    )
    provider = session.scalars(select(Provider).where(Provider.practice_id == practice.id)).first()
    visit = session.scalars(select(VisitType).where(VisitType.practice_id == practice.id)).first()
    assert provider is not None and visit is not None
    return factories.appointment(
        session,
        patient=patients[patient],
        provider=provider,
        visit_type=visit,
        start=start,
        end=start + timedelta(minutes=30),
        status=status,
        created_at=created,
    )


def reminders(session: Session, appointment: Appointment) -> list[ScheduledReminder]:
    return list(
        session.scalars(
            select(ScheduledReminder)
            .where(ScheduledReminder.appointment_id == appointment.id)
            .order_by(ScheduledReminder.due_at)
            .execution_options(populate_existing=True)
        )
    )


def outbox(session: Session) -> list[OutboundSms]:
    return list(session.scalars(select(OutboundSms).order_by(OutboundSms.id)))


def test_three_reminders_are_planned_once_at_the_default_offsets(
    session: Session, practice: Practice
) -> None:
    appointment = book(session, practice, local(9, 10, 30))
    assert plan_outreach(session=session, now=NOW) >= 3
    plan_outreach(session=session, now=NOW)  # again: nothing new
    planned = reminders(session, appointment)
    assert [r.offset_minutes for r in planned] == [7 * 24 * 60, 2 * 24 * 60, 120]
    assert [r.due_at.astimezone(NY) for r in planned] == [
        local(2, 10, 30),
        local(7, 10, 30),
        local(9, 8, 30),
    ]
    assert {r.status for r in planned} == {ReminderStatus.PLANNED}


def test_a_reminder_due_in_quiet_hours_moves_to_the_edge_of_the_window() -> None:
    policy = OutreachPolicy(offsets_minutes=(120,), quiet_start=time(8), quiet_end=time(21))
    # 2 h before an 8:30 visit is 6:30: moved to 8:00, still before the visit.
    assert fit_to_window(local(9, 6, 30), tz=NY, policy=policy, latest=local(9, 8)) == local(9, 8)
    # 2 h before a 7:30 visit: 8:00 would be too late, so the previous evening.
    assert fit_to_window(local(9, 5, 30), tz=NY, policy=policy, latest=local(9, 7)) == local(
        8, 20, 59
    )
    # Due at 22:00: the same evening's close, earlier rather than later.
    assert fit_to_window(local(2, 22), tz=NY, policy=policy, latest=local(9, 9)) == local(2, 20, 59)
    # Nothing fits: skipped.
    assert fit_to_window(local(9, 22), tz=NY, policy=policy, latest=local(9, 20)) is None


def test_a_due_reminder_goes_out_once_with_minimal_content_and_crx_answers(
    session: Session, practice: Practice
) -> None:
    appointment = book(session, practice, local(1, 14, 15))
    plan_outreach(session=session, now=NOW)
    due = reminders(session, appointment)[0]
    batch = send_due(session=session, now=due.due_at)
    again = send_due(session=session, now=due.due_at + timedelta(minutes=5))
    assert batch.claimed == 1 and len(batch.sent) == 1 and again.claimed == 0
    [sms] = outbox(session)
    assert sms.body == (
        "Riverside Family Medicine: reminder of your appointment Tue, Dec 1 at 2:15 PM. "
        "Reply C to confirm, R to reschedule, X to cancel."
    )
    assert (sms.kind, sms.segments, sms.encoding) == ("reminder", 1, "GSM-7")
    assert sms.dedupe_key == f"outreach:{due.id}"
    visit = session.get_one(VisitType, appointment.visit_type_id)
    assert visit.name not in sms.body  # no visit reason over SMS
    message = session.get_one(Message, sms.message_id)
    payloads = {b["key"]: b["payload"] for b in message.payload["buttons"]}  # type: ignore[index]
    ref = f'{{"appointment_ref":"a_{appointment.id}"}}'
    assert payloads == {
        "C": f"/confirm_appointment{ref}",
        "R": f"/reschedule_appointment{ref}",
        "X": f"/cancel_appointment{ref}",
    }
    [sent] = batch.sent
    assert sent.appointment_ref == f"a_{appointment.id}" and sent.bot_owns_conversation
    assert reminders(session, appointment)[0].status is ReminderStatus.SENT


def test_cancelled_appointments_drop_and_moved_ones_replan_their_reminders(
    session: Session, practice: Practice
) -> None:
    cancelled = book(session, practice, local(9, 10))
    moved = book(session, practice, local(10, 10), patient=1)
    plan_outreach(session=session, now=NOW)
    cancelled.status = AppointmentStatus.CANCELLED
    moved.start_at, moved.end_at = local(11, 15), local(11, 15, 30)
    session.flush()
    plan_outreach(session=session, now=NOW)
    assert {r.status for r in reminders(session, cancelled)} == {ReminderStatus.CANCELLED}
    rows = reminders(session, moved)
    old = [r for r in rows if r.appointment_start != moved.start_at]
    new = [r for r in rows if r.appointment_start == moved.start_at]
    assert {r.status for r in old} == {ReminderStatus.CANCELLED} and len(old) == 3
    assert {r.status for r in new} == {ReminderStatus.PLANNED} and len(new) == 3


def test_a_cancellation_between_planning_and_sending_is_caught_at_send_time(
    session: Session, practice: Practice
) -> None:
    appointment = book(session, practice, local(9, 10))
    plan_outreach(session=session, now=NOW)
    appointment.status = AppointmentStatus.CANCELLED
    session.flush()
    batch = send_due(session=session, now=local(2, 12))
    assert batch.claimed == 1 and batch.sent == []
    first = reminders(session, appointment)[0]
    assert (first.status, first.skip_reason) == (ReminderStatus.CANCELLED, "appointment_changed")
    assert outbox(session) == []


def test_tcpa_caps_one_a_day_and_three_a_week_per_patient(
    session: Session, practice: Practice
) -> None:
    session.add(
        ReminderSettings(
            practice_id=practice.id, offsets_minutes=[24 * 60], daily_cap=1, weekly_cap=3
        )
    )
    morning = book(session, practice, local(3, 9))
    afternoon = book(session, practice, local(3, 15))
    plan_outreach(session=session, now=NOW)
    send_due(session=session, now=local(2, 16))
    assert reminders(session, morning)[0].status is ReminderStatus.SENT
    capped = reminders(session, afternoon)[0]
    assert (capped.status, capped.skip_reason) == (ReminderStatus.SKIPPED, "capped")
    for day in (4, 5, 6):
        book(session, practice, local(day, 11))
    plan_outreach(session=session, now=NOW)
    for day in (3, 4, 5):
        send_due(session=session, now=local(day, 12))
    skipped = session.scalars(
        select(ScheduledReminder).where(ScheduledReminder.skip_reason == "capped")
    ).all()
    assert len(skipped) == 2  # the fourth in seven days waits out the week: skipped
    assert len(outbox(session)) == 3


def test_opted_out_patients_and_late_schedulers_send_nothing(
    session: Session, practice: Practice
) -> None:
    patient = session.scalars(
        select(Patient).where(Patient.practice_id == practice.id).order_by(Patient.id)
    ).first()
    assert patient is not None and patient.phone
    record_consent(
        session=session,
        practice_id=practice.id,
        phone=patient.phone,
        opted_out=True,
        keyword="STOP",
        now=NOW,
    )
    opted_out = book(session, practice, local(9, 10))
    late = book(session, practice, local(9, 11), patient=1)
    plan_outreach(session=session, now=NOW)
    send_due(session=session, now=local(2, 10, 30))
    first = reminders(session, opted_out)[0]
    assert (first.status, first.skip_reason) == (ReminderStatus.SKIPPED, "opted_out")
    # The scheduler was down from before the 2-hour reminder until 20 minutes before the visit.
    send_due(session=session, now=local(9, 10, 40))
    last = reminders(session, late)[-1]
    assert (last.status, last.skip_reason) == (ReminderStatus.SKIPPED, "too_late")


def test_a_scheduler_waking_in_quiet_hours_waits_for_the_window(
    session: Session, practice: Practice
) -> None:
    appointment = book(session, practice, local(9, 16))
    plan_outreach(session=session, now=NOW)
    week_out = reminders(session, appointment)[0]
    send_due(session=session, now=local(2, 22, 30))  # down all evening, back at 22:30
    week_out = reminders(session, appointment)[0]
    assert week_out.status is ReminderStatus.PLANNED
    assert week_out.due_at.astimezone(NY) == local(3, 8)
    assert outbox(session) == []
    send_due(session=session, now=local(3, 8))
    assert len(outbox(session)) == 1


def test_no_show_and_post_visit_follow_ups(session: Session, practice: Practice) -> None:
    no_show = book(session, practice, NOW - timedelta(hours=5), status=AppointmentStatus.NO_SHOW)
    seen = book(
        session, practice, NOW - timedelta(hours=3), patient=1, status=AppointmentStatus.COMPLETED
    )
    plan_outreach(session=session, now=NOW)
    plan_outreach(session=session, now=NOW)
    [missed] = reminders(session, no_show)
    [visited] = reminders(session, seen)
    assert (missed.kind, visited.kind) == (ReminderKind.NO_SHOW, ReminderKind.POST_VISIT)
    send_due(session=session, now=NOW + timedelta(hours=1))
    bodies = [o.body for o in outbox(session)]
    assert bodies[0].startswith("Riverside Family Medicine: we missed you")
    assert bodies[0].endswith("1) Book a new time\nReply 1")
    assert bodies[1].startswith("Thanks for visiting Riverside Family Medicine!")


def test_post_visit_message_is_configurable_and_can_be_off(
    session: Session, practice: Practice
) -> None:
    settings = ReminderSettings(
        practice_id=practice.id, post_visit_message=None, no_show_followup=False
    )
    session.add(settings)
    book(session, practice, NOW - timedelta(hours=3), status=AppointmentStatus.COMPLETED)
    book(session, practice, NOW - timedelta(hours=4), patient=1, status=AppointmentStatus.NO_SHOW)
    plan_outreach(session=session, now=NOW)
    assert session.scalars(select(ScheduledReminder)).all() == []
    settings.post_visit_message = "How was your visit with {practice}? Reply 1-5."
    settings.no_show_followup = True
    plan_outreach(session=session, now=NOW)
    send_due(session=session, now=NOW + timedelta(hours=3))
    assert any(
        o.body == "How was your visit with Riverside Family Medicine? Reply 1-5."
        for o in outbox(session)
    )


def _values_in(parameters: Any) -> int:
    """How many values a DB-API call binds (a dict, a tuple, or a list of either)."""
    if isinstance(parameters, dict):
        return len(parameters)
    if parameters and isinstance(parameters[0], tuple | list | dict):
        return sum(_values_in(group) for group in parameters)
    return len(parameters)


def test_a_tick_writes_only_what_changed_not_every_future_reminder(
    session: Session, practice: Practice
) -> None:
    moved = book(session, practice, local(9, 10, 30))
    book(session, practice, local(10, 11), patient=1)
    assert plan_outreach(session=session, now=NOW) == 6
    offered: list[int] = []

    def count_offered(
        _conn: object, _cursor: object, statement: str, parameters: Any, _ctx: object, _many: bool
    ) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO SCHEDULED_REMINDERS"):
            # Rows in the statement: its parameters over its columns (multi-row VALUES).
            columns = statement.split("(", 1)[1].split(")", 1)[0].count(",") + 1
            offered.append(_values_in(parameters) // columns)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count_offered)
    try:
        assert plan_outreach(session=session, now=NOW + timedelta(minutes=1)) == 0
        assert sum(offered) == 0  # nothing changed: nothing offered to the database
        moved.start_at += timedelta(hours=1)
        moved.end_at += timedelta(hours=1)
        session.flush()
        assert plan_outreach(session=session, now=NOW + timedelta(minutes=2)) == 3
        assert sum(offered) == 3  # only the moved visit's three reminders
    finally:
        event.remove(engine, "before_cursor_execute", count_offered)
