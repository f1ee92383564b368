"""Planning outreach: one `ScheduledReminder` per appointment, kind, offset and time.

`plan_outreach` inserts the rows that are missing (a unique constraint: even two planners at
once insert nothing twice; rows planned on an earlier tick are not offered again),
drops planned reminders of cancelled or moved appointments, and plans follow-ups after
no-shows and visits. Safe to run from several schedulers at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from frontdesk.experiments.lookup import ArmLookup
from frontdesk.practices.models import Practice
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
    fit_to_window,
    next_window_time,
    policy_for,
)
from frontdesk.scheduling.models import Appointment, AppointmentStatus

FOLLOWUP_LOOKBACK = timedelta(days=3)


POST_VISIT_DELAY = timedelta(hours=2)


PLANNING_LEAD = timedelta(days=14)  # plan this far beyond the longest offset (visible early)


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


def _planned_keys(session: Session, appointment_ids: set[int]) -> set[tuple[int, int, datetime]]:
    """(appointment, offset, appointment start) of the reminders planned already.

    A tick then writes only what changed (new or moved visits, new offsets) instead of
    offering the database every future reminder again, inside the write transaction.
    """
    keys: set[tuple[int, int, datetime]] = set()
    listed = sorted(appointment_ids)
    for start in range(0, len(listed), 500):
        keys.update(
            (appointment_id, offset, moment)
            for appointment_id, offset, moment in session.execute(
                select(
                    ScheduledReminder.appointment_id,
                    ScheduledReminder.offset_minutes,
                    ScheduledReminder.appointment_start,
                ).where(
                    ScheduledReminder.kind == ReminderKind.REMINDER,
                    ScheduledReminder.appointment_id.in_(listed[start : start + 500]),
                )
            )
        )
    return keys


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
    *, session: Session, now: datetime, defaults: ReminderDefaults = DEFAULT_REMINDERS
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
    arms = ArmLookup(session=session, practices=practices.values())
    longest = max(
        (max(p.offsets_minutes, default=0) for p in policies.values()),
        default=0,
    )
    longest = max(longest, arms.longest_offset())
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
    planned = _planned_keys(session, {row[0] for row in upcoming})
    rows: list[dict[str, object]] = []
    for appt_id, practice_id, patient_id, start, created in upcoming:
        policy = policies[practice_id]
        tz = ZoneInfo(practices[practice_id].timezone)
        arm = arms.arm_for(practice_id=practice_id, patient_id=patient_id, start=start)
        offsets = arm.offsets_minutes if arm and arm.offsets_minutes else policy.offsets_minutes
        for offset in offsets:
            if (appt_id, offset, start) in planned:
                continue  # planned on an earlier tick: nothing to write
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
