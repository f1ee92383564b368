"""Planning and sending reminders and follow-ups, within quiet hours and TCPA caps.

Two steps, each safe to run from several schedulers at once:

* `plan_outreach` inserts one `ScheduledReminder` per appointment, kind, offset and
  appointment time (a unique constraint: re-planning inserts nothing twice), drops planned
  reminders of cancelled or moved appointments, and plans follow-ups after no-shows and visits.
* `send_due` claims due rows with a conditional UPDATE (`planned` -> `sent`) and, in the same
  transaction, checks them again (still booked? opted out? over the cap? quiet hours?) and
  queues the SMS in the outbox with the reminder's id as dedupe key. The claim, the checks and
  the outbox row commit together or not at all, so a reminder goes out at most once, whatever
  restarts.

Content is minimal: the practice, the date and time, and how to answer. No visit reason, no
provider, no diagnosis. Quiet hours use the practice's zone (the patient's zone when the
patient record gains one).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from frontdesk.conversations.models import Message, Role
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Practice
from frontdesk.reminders.models import (
    ReminderKind,
    ReminderSettings,
    ReminderStatus,
    ScheduledReminder,
)
from frontdesk.scheduling.models import Appointment, AppointmentStatus
from frontdesk.sms.consent import opted_out_among, practice_number
from frontdesk.sms.delivery import sms_text_for
from frontdesk.sms.outbox import BulkSms, queue_many
from frontdesk.sms.threads import threads_for

ACTIVE = (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED)
REMINDER_CUTOFF = timedelta(minutes=30)  # later than this before the visit, a reminder is noise
FOLLOWUP_WINDOW = timedelta(days=2)  # a follow-up that cannot go out within this is dropped
FOLLOWUP_LOOKBACK = timedelta(days=3)
POST_VISIT_DELAY = timedelta(hours=2)
PLANNING_LEAD = timedelta(days=14)  # plan this far beyond the longest offset (visible early)
DEFAULT_POST_VISIT = (
    "Thanks for visiting {practice}! If your provider asked you to come back, reply 1 to book "
    "your follow-up visit."
)


@dataclass(frozen=True)
class OutreachPolicy:
    """A practice's cadence, window and caps."""

    offsets_minutes: tuple[int, ...]
    quiet_start: time
    quiet_end: time
    daily_cap: int = 1
    weekly_cap: int = 3
    no_show_followup: bool = True
    post_visit_message: str | None = DEFAULT_POST_VISIT


@dataclass(frozen=True)
class ReminderDefaults:
    """Service-wide defaults (from settings) for practices without their own row."""

    offsets_minutes: tuple[int, ...] = (7 * 24 * 60, 2 * 24 * 60, 120)
    quiet_start: str = "08:00"
    quiet_end: str = "21:00"


@dataclass(frozen=True)
class SentOutreach:
    """A reminder that went to the outbox; the caller tells the bot after commit."""

    reminder_id: int
    kind: ReminderKind
    conversation_public_id: str
    appointment_ref: str
    bot_owns_conversation: bool


def appointment_ref(appointment_id: int) -> str:
    """The opaque reference the bot carries in slot `appointment_ref`."""
    return f"a_{appointment_id}"


def parse_appointment_ref(ref: object) -> int | None:
    """Inverse of `appointment_ref` for any slot value; None for anything else ("none")."""
    match = re.fullmatch(r"a_(\d{1,12})", ref.strip()) if isinstance(ref, str) else None
    return int(match.group(1)) if match else None


def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def policy_for(*, session: Session, practice_id: int, defaults: ReminderDefaults) -> OutreachPolicy:
    """The practice's outreach policy, its own settings over the service defaults."""
    row = session.scalar(
        select(ReminderSettings).where(ReminderSettings.practice_id == practice_id)
    )
    if row is None:
        return OutreachPolicy(
            offsets_minutes=tuple(defaults.offsets_minutes),
            quiet_start=_hhmm(defaults.quiet_start),
            quiet_end=_hhmm(defaults.quiet_end),
        )
    return OutreachPolicy(
        offsets_minutes=tuple(row.offsets_minutes or defaults.offsets_minutes),
        quiet_start=_hhmm(row.quiet_start or defaults.quiet_start),
        quiet_end=_hhmm(row.quiet_end or defaults.quiet_end),
        daily_cap=row.daily_cap,
        weekly_cap=row.weekly_cap,
        no_show_followup=row.no_show_followup,
        post_visit_message=row.post_visit_message,
    )


def fit_to_window(
    due: datetime, *, tz: ZoneInfo, policy: OutreachPolicy, latest: datetime
) -> datetime | None:
    """Move a send time out of quiet hours to the nearest edge of the window, or None.

    Before the window opens: the opening, or the previous evening's close when the opening is
    too late. After it closes: the same day's close (earlier, so the message still precedes
    the visit). None when no edge is at or before `latest`.
    """
    local = due.astimezone(tz)
    if policy.quiet_start <= local.time() < policy.quiet_end:
        return due if due <= latest else None
    closing = datetime.combine(local.date(), policy.quiet_end, tzinfo=tz) - timedelta(minutes=1)
    if local.time() >= policy.quiet_end:
        candidates = [closing]
    else:
        opening = datetime.combine(local.date(), policy.quiet_start, tzinfo=tz)
        candidates = [opening, closing - timedelta(days=1)]
    for candidate in candidates:
        if candidate <= latest:
            return candidate.astimezone(due.tzinfo)
    return None


def next_window_time(now: datetime, *, tz: ZoneInfo, policy: OutreachPolicy) -> datetime:
    """`now` if inside the window, else when the window next opens."""
    local = now.astimezone(tz)
    if policy.quiet_start <= local.time() < policy.quiet_end:
        return now
    day = local.date() if local.time() < policy.quiet_start else local.date() + timedelta(days=1)
    return datetime.combine(day, policy.quiet_start, tzinfo=tz).astimezone(now.tzinfo)


# --- planning -----------------------------------------------------------------------------


def _insert_ignore(session: Session, rows: list[dict[str, object]]) -> int:
    """Insert planned rows; ones that exist already (unique constraint) are left alone."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    table = cast(Table, ScheduledReminder.__table__)
    statement = (
        postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    ).on_conflict_do_nothing()
    inserted = 0
    connection = session.connection()
    for start in range(0, len(rows), 500):
        result = connection.execute(statement.returning(table.c.id), rows[start : start + 500])
        inserted += len(result.all())
    return inserted


def drop_stale_reminders(*, session: Session, now: datetime) -> int:
    """Cancel planned reminders whose appointment was cancelled, moved or is no longer booked."""
    stale = exists().where(
        Appointment.id == ScheduledReminder.appointment_id,
        or_(
            Appointment.status.not_in(ACTIVE),
            Appointment.start_at != ScheduledReminder.appointment_start,
        ),
    )
    result = session.execute(
        update(ScheduledReminder)
        .where(
            ScheduledReminder.status == ReminderStatus.PLANNED,
            ScheduledReminder.kind == ReminderKind.REMINDER,
            stale,
        )
        .values(status=ReminderStatus.CANCELLED, skip_reason="appointment_changed")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def plan_outreach(
    *, session: Session, now: datetime, defaults: ReminderDefaults = ReminderDefaults()
) -> int:
    """Plan reminders for upcoming appointments and follow-ups for recent ones.

    Idempotent: running it twice, or from two schedulers at once, plans nothing twice.
    Returns how many rows were planned now.
    """
    drop_stale_reminders(session=session, now=now)
    practices = {p.id: p for p in session.scalars(select(Practice))}
    policies = {
        pid: policy_for(session=session, practice_id=pid, defaults=defaults) for pid in practices
    }
    longest = max((max(p.offsets_minutes, default=0) for p in policies.values()), default=0)
    horizon = now + timedelta(minutes=longest) + PLANNING_LEAD
    upcoming = session.execute(
        select(
            Appointment.id,
            Appointment.practice_id,
            Appointment.patient_id,
            Appointment.start_at,
            Appointment.created_at,
        ).where(
            Appointment.status.in_(ACTIVE),
            Appointment.patient_id.is_not(None),
            Appointment.start_at > now,
            Appointment.start_at <= horizon,
        )
    ).all()
    rows: list[dict[str, object]] = []
    for appt_id, practice_id, patient_id, start, created in upcoming:
        policy = policies[practice_id]
        tz = ZoneInfo(practices[practice_id].timezone)
        for offset in policy.offsets_minutes:
            due = start - timedelta(minutes=offset)
            # A week-out reminder for a visit booked yesterday would only be noise; one that
            # fell due while the scheduler was down still goes (the cutoff decides later).
            if due < created + timedelta(hours=1) or due < now - timedelta(hours=6):
                continue
            fitted = fit_to_window(due, tz=tz, policy=policy, latest=start - REMINDER_CUTOFF)
            rows.append(
                {
                    "practice_id": practice_id,
                    "appointment_id": appt_id,
                    "patient_id": patient_id,
                    "kind": ReminderKind.REMINDER,
                    "offset_minutes": offset,
                    "appointment_start": start,
                    "due_at": fitted or due,
                    "status": ReminderStatus.PLANNED if fitted else ReminderStatus.SKIPPED,
                    "skip_reason": None if fitted else "quiet_hours",
                    "created_at": now,
                }
            )
    rows += _followup_rows(session, now=now, practices=practices, policies=policies)
    return _insert_ignore(session, rows)


def _followup_rows(
    session: Session,
    *,
    now: datetime,
    practices: dict[int, Practice],
    policies: dict[int, OutreachPolicy],
) -> list[dict[str, object]]:
    done = select(ScheduledReminder.id).where(
        ScheduledReminder.appointment_id == Appointment.id,
        ScheduledReminder.kind.in_([ReminderKind.NO_SHOW, ReminderKind.POST_VISIT]),
    )
    recent = session.execute(
        select(
            Appointment.id,
            Appointment.practice_id,
            Appointment.patient_id,
            Appointment.start_at,
            Appointment.end_at,
            Appointment.status,
        ).where(
            Appointment.status.in_([AppointmentStatus.NO_SHOW, AppointmentStatus.COMPLETED]),
            Appointment.patient_id.is_not(None),
            Appointment.end_at > now - FOLLOWUP_LOOKBACK,
            Appointment.end_at <= now,
            ~exists(done),
        )
    ).all()
    rows: list[dict[str, object]] = []
    for appt_id, practice_id, patient_id, start, end, status in recent:
        policy = policies[practice_id]
        if status is AppointmentStatus.NO_SHOW:
            if not policy.no_show_followup:
                continue
            kind, due = ReminderKind.NO_SHOW, max(end, now)
        else:
            if not policy.post_visit_message:
                continue
            kind, due = ReminderKind.POST_VISIT, max(end + POST_VISIT_DELAY, now)
        tz = ZoneInfo(practices[practice_id].timezone)
        fitted = fit_to_window(
            next_window_time(due, tz=tz, policy=policy),
            tz=tz,
            policy=policy,
            latest=due + FOLLOWUP_WINDOW,
        )
        if fitted is None:
            continue
        rows.append(
            {
                "practice_id": practice_id,
                "appointment_id": appt_id,
                "patient_id": patient_id,
                "kind": kind,
                "offset_minutes": 0,
                "appointment_start": start,
                "due_at": fitted,
                "status": ReminderStatus.PLANNED,
                "created_at": now,
            }
        )
    return rows


# --- sending ------------------------------------------------------------------------------


def _when(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return f"{local:%a, %b} {local.day} at {local:%I:%M %p}".replace(" 0", " ")


def reminder_message(
    practice: Practice, start: datetime, ref: str
) -> tuple[str, list[dict[str, str]]]:
    """The reminder's text and its C/R/X answers (each a button payload with the appointment)."""
    tz = ZoneInfo(practice.timezone)
    text = (
        f"{practice.name}: reminder of your appointment {_when(start, tz)}. "
        "Reply C to confirm, R to reschedule, X to cancel."
    )
    entity = json.dumps({"appointment_ref": ref}, separators=(",", ":"))
    buttons = [
        {"title": "Confirm", "payload": f"/confirm_appointment{entity}", "key": "C"},
        {"title": "Reschedule", "payload": f"/reschedule_appointment{entity}", "key": "R"},
        {"title": "Cancel", "payload": f"/cancel_appointment{entity}", "key": "X"},
    ]
    return text, buttons


def followup_message(
    kind: ReminderKind, practice: Practice, start: datetime, policy: OutreachPolicy
) -> tuple[str, list[dict[str, str]]]:
    """A no-show or post-visit follow-up's text and buttons."""
    book = [{"title": "Book a new time", "payload": "/book_appointment"}]
    if kind is ReminderKind.NO_SHOW:
        local = start.astimezone(ZoneInfo(practice.timezone))
        return (
            f"{practice.name}: we missed you at your appointment on {local:%b} {local.day}. "
            "Would you like to book a new time?",
            book,
        )
    template = policy.post_visit_message or DEFAULT_POST_VISIT
    # The default offers to book the follow-up ("reply 1"); a practice's own text goes as is.
    buttons = (
        [{"title": "Book my follow-up", "payload": "/book_appointment", "key": "1"}]
        if template == DEFAULT_POST_VISIT
        else []
    )
    return template.replace("{practice}", practice.name), buttons


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
    defaults: ReminderDefaults = ReminderDefaults(),
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
    to_send: list[_Outgoing] = []
    for reminder in reminders:
        practice = practices[reminder.practice_id]
        patient = patients.get(reminder.patient_id)
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
                    body=sms_text_for(o.text, o.buttons),
                    kind=o.reminder.kind.value,
                    dedupe_key=f"outreach:{o.reminder.id}",
                    conversation_id=threads[o.phone].conversation_id,
                    message_id=message_id,
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
    if is_reminder:
        text, buttons = reminder_message(practice, appointment.start_at, ref)
    else:
        text, buttons = followup_message(reminder.kind, practice, appointment.start_at, policy)
    return _Outgoing(reminder, practice.id, patient.phone, text, buttons, ref)


def reminder_stats(*, session: Session) -> dict[str, int]:
    """Counts by status (benchmarks, health views)."""
    rows = session.execute(
        select(ScheduledReminder.status, func.count()).group_by(ScheduledReminder.status)
    )
    return {status.value: int(count) for status, count in rows}
