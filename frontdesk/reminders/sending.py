"""Sending due outreach, at most once whatever restarts.

`send_due` claims due rows with a conditional UPDATE (`planned` -> `sent`) and, in the same
transaction, checks them again (still booked? opted out? over the cap? quiet hours?) and
queues the SMS in the outbox with the reminder's id as dedupe key. The claim, the checks and
the outbox row commit together or not at all. Quiet hours use the practice's zone (the
patient's zone when the patient record gains one).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from frontdesk.conversations.models import Message, Role
from frontdesk.experiments.lookup import ArmLookup
from frontdesk.language import DEFAULT_LANGUAGE
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Practice
from frontdesk.reminders.messages import appointment_ref, followup_message, reminder_message
from frontdesk.reminders.models import (
    ReminderKind,
    ReminderStatus,
    ScheduledReminder,
)
from frontdesk.reminders.policy import (
    ACTIVE,
    DEFAULT_REMINDERS,
    FOLLOWUP_WINDOW,
    REMINDER_CUTOFF,
    OutreachPolicy,
    ReminderDefaults,
    next_window_time,
    policy_for,
)
from frontdesk.scheduling.models import Appointment
from frontdesk.sms.consent import opted_out_among, practice_number
from frontdesk.sms.delivery import sms_text_for
from frontdesk.sms.outbox import BulkSms, queue_many
from frontdesk.sms.threads import threads_for
from frontdesk.texts import for_sms, remembered_language


@dataclass(frozen=True)
class SentOutreach:
    """A reminder that went to the outbox; the caller tells the bot after commit."""

    reminder_id: int
    kind: ReminderKind
    conversation_public_id: str
    appointment_ref: str
    bot_owns_conversation: bool
    language: str = DEFAULT_LANGUAGE.value  # the patient's, which the bot answers in


@dataclass(frozen=True)
class DueBatch:
    """One `send_due` call: how many rows it claimed, and which went to the outbox."""

    claimed: int
    sent: list[SentOutreach]


def send_due(
    *,
    session: Session,
    now: datetime,
    limit: int = 500,
    defaults: ReminderDefaults = DEFAULT_REMINDERS,
) -> DueBatch:
    """Queue due reminders and follow-ups in the SMS outbox (at most `limit` per call).

    Returns what was claimed and queued; the caller commits, then tells the bot
    (`trigger_intent`). Call again while `claimed` is not 0.
    """
    ids = list(
        session.scalars(
            select(ScheduledReminder.id)
            .where(
                ScheduledReminder.status == ReminderStatus.PLANNED,
                ScheduledReminder.due_at <= now,
            )
            .order_by(ScheduledReminder.due_at, ScheduledReminder.id)
            .limit(limit)
        )
    )
    if not ids:
        return DueBatch(0, [])
    # The claim: a row another scheduler took meanwhile is not ours (conditional UPDATE).
    claimed = list(
        session.scalars(
            update(ScheduledReminder)
            .where(
                ScheduledReminder.id.in_(ids),
                ScheduledReminder.status == ReminderStatus.PLANNED,
            )
            .values(status=ReminderStatus.SENT, sent_at=now)
            .returning(ScheduledReminder.id)
            .execution_options(synchronize_session=False)
        )
    )
    if not claimed:
        return DueBatch(0, [])
    reminders = list(
        session.scalars(
            select(ScheduledReminder)
            .where(ScheduledReminder.id.in_(claimed))
            .order_by(ScheduledReminder.due_at, ScheduledReminder.id)
            .execution_options(populate_existing=True)
        )
    )
    appointments = {
        a.id: a
        for a in session.scalars(
            select(Appointment).where(Appointment.id.in_({r.appointment_id for r in reminders}))
        )
    }
    patients = {
        p.id: p
        for p in session.scalars(
            select(Patient).where(Patient.id.in_({r.patient_id for r in reminders}))
        )
    }
    practices = {p.id: p for p in session.scalars(select(Practice))}
    policies = {
        pid: policy_for(session=session, practice_id=pid, defaults=defaults)
        for pid in {r.practice_id for r in reminders}
    }
    has_number = {
        pid: practice_number(session=session, practice_id=pid) is not None for pid in policies
    }
    opted_out = {
        pid: opted_out_among(
            session=session,
            practice_id=pid,
            phones={
                p.phone for p in patients.values() if p.practice_id == pid and p.phone is not None
            },
        )
        for pid in policies
    }
    day_counts, week_counts = _sent_counts(session, reminders, now, exclude=set(claimed))
    arms = ArmLookup(session=session, practices=[practices[pid] for pid in policies])
    to_send: list[_Outgoing] = []
    for reminder in reminders:
        practice = practices[reminder.practice_id]
        patient = patients.get(reminder.patient_id)
        arm = arms.arm_for(
            practice_id=practice.id,
            patient_id=reminder.patient_id,
            start=reminder.appointment_start,
        )
        outgoing = _decide(
            reminder=reminder,
            appointment=appointments.get(reminder.appointment_id),
            patient=patient,
            practice=practice,
            policy=policies[practice.id],
            now=now,
            capped=day_counts[reminder.patient_id] >= policies[practice.id].daily_cap
            or week_counts[reminder.patient_id] >= policies[practice.id].weekly_cap,
            opted_out=bool(patient and patient.phone in opted_out[practice.id]),
            has_number=has_number[practice.id],
            wording=arm.wording if arm else None,
        )
        if outgoing is not None:
            day_counts[reminder.patient_id] += 1
            week_counts[reminder.patient_id] += 1
            to_send.append(outgoing)
    sent = _queue(session, to_send, now=now)
    session.flush()
    return DueBatch(len(claimed), sent)


@dataclass
class _Outgoing:
    reminder: ScheduledReminder
    practice_id: int
    phone: str
    text: str
    buttons: list[dict[str, str]]
    ref: str
    not_after: datetime
    language: str = DEFAULT_LANGUAGE.value


def _queue(session: Session, outgoing: list[_Outgoing], *, now: datetime) -> list[SentOutreach]:
    """Store each message in its SMS conversation and queue it, a few statements per batch."""
    sent: list[SentOutreach] = []
    for practice_id in sorted({o.practice_id for o in outgoing}):
        batch = [o for o in outgoing if o.practice_id == practice_id]
        threads = threads_for(
            session=session, practice_id=practice_id, phones={o.phone for o in batch}
        )
        message_ids = list(
            session.scalars(
                insert(Message).returning(Message.id, sort_by_parameter_order=True),
                [
                    {
                        "practice_id": practice_id,
                        "conversation_id": threads[o.phone].conversation_id,
                        "role": Role.BOT,
                        "text": o.text,
                        "payload": {"buttons": o.buttons, "outreach": o.reminder.kind.value}
                        if o.buttons
                        else None,
                        "created_at": now,
                    }
                    for o in batch
                ],
            )
        )
        outbox = queue_many(
            session=session,
            practice_id=practice_id,
            messages=[
                BulkSms(
                    to=o.phone,
                    body=for_sms(sms_text_for(o.text, o.buttons)),
                    kind=o.reminder.kind.value,
                    dedupe_key=f"outreach:{o.reminder.id}",
                    conversation_id=threads[o.phone].conversation_id,
                    message_id=message_id,
                    not_after=o.not_after,
                )
                for o, message_id in zip(batch, message_ids, strict=True)
            ],
        )
        for o in batch:
            thread = threads[o.phone]
            o.reminder.outbound_sms_id = outbox.get(f"outreach:{o.reminder.id}")
            sent.append(
                SentOutreach(
                    reminder_id=o.reminder.id,
                    kind=o.reminder.kind,
                    conversation_public_id=thread.public_id,
                    appointment_ref=o.ref,
                    bot_owns_conversation=thread.bot_owns,
                    language=o.language,
                )
            )
    return sent


def _sent_counts(
    session: Session, reminders: list[ScheduledReminder], now: datetime, *, exclude: set[int]
) -> tuple[Counter[int], Counter[int]]:
    """Outreach already sent per patient in the last day and week (TCPA healthcare caps)."""
    patient_ids = {r.patient_id for r in reminders}
    day: Counter[int] = Counter()
    week: Counter[int] = Counter()
    rows = session.execute(
        select(ScheduledReminder.patient_id, ScheduledReminder.sent_at).where(
            ScheduledReminder.patient_id.in_(patient_ids),
            ScheduledReminder.status == ReminderStatus.SENT,
            ScheduledReminder.sent_at > now - timedelta(days=7),
            ScheduledReminder.id.not_in(exclude),
        )
    )
    for patient_id, sent_at in rows:
        week[patient_id] += 1
        if sent_at is not None and sent_at > now - timedelta(hours=24):
            day[patient_id] += 1
    return day, week


def _skip(reminder: ScheduledReminder, status: ReminderStatus, reason: str) -> None:
    reminder.status = status
    reminder.skip_reason = reason
    reminder.sent_at = None


def _decide(
    *,
    reminder: ScheduledReminder,
    appointment: Appointment | None,
    patient: Patient | None,
    practice: Practice,
    policy: OutreachPolicy,
    now: datetime,
    capped: bool,
    opted_out: bool,
    has_number: bool,
    wording: str | None = None,
) -> _Outgoing | None:
    """Check a claimed reminder again; returns what to send, or marks why not."""
    tz = ZoneInfo(practice.timezone)
    is_reminder = reminder.kind is ReminderKind.REMINDER
    if appointment is None:
        _skip(reminder, ReminderStatus.CANCELLED, "appointment_gone")
        return None
    if is_reminder and (
        appointment.status not in ACTIVE or appointment.start_at != reminder.appointment_start
    ):
        _skip(reminder, ReminderStatus.CANCELLED, "appointment_changed")
        return None
    latest = (
        appointment.start_at - REMINDER_CUTOFF if is_reminder else reminder.due_at + FOLLOWUP_WINDOW
    )
    if now > latest:
        _skip(reminder, ReminderStatus.SKIPPED, "too_late")
        return None
    window = next_window_time(now, tz=tz, policy=policy)
    if window != now:  # the scheduler woke in quiet hours (it was down, or ran late)
        if window <= latest:
            reminder.status = ReminderStatus.PLANNED
            reminder.due_at = window
            reminder.sent_at = None
        else:
            _skip(reminder, ReminderStatus.SKIPPED, "quiet_hours")
        return None
    if patient is None or not patient.phone:
        _skip(reminder, ReminderStatus.SKIPPED, "no_phone")
        return None
    if not has_number:
        _skip(reminder, ReminderStatus.SKIPPED, "no_sms_number")
        return None
    if opted_out:
        _skip(reminder, ReminderStatus.SKIPPED, "opted_out")
        return None
    if capped:
        _skip(reminder, ReminderStatus.SKIPPED, "capped")
        return None
    ref = appointment_ref(appointment.id)
    # Outreach may open a new conversation: the patient's remembered language decides.
    language = remembered_language(patient.preferred_language)
    if is_reminder:
        text, buttons = reminder_message(
            practice, appointment.start_at, ref, wording=wording, language=language
        )
    else:
        text, buttons = followup_message(
            reminder.kind, practice, appointment.start_at, policy, language=language
        )
    return _Outgoing(
        reminder, practice.id, patient.phone, text, buttons, ref, latest, language.value
    )


def reminder_stats(*, session: Session) -> dict[str, int]:
    """Counts by status (benchmarks, health views)."""
    rows = session.execute(
        select(ScheduledReminder.status, func.count()).group_by(ScheduledReminder.status)
    )
    return {status.value: int(count) for status, count in rows}
