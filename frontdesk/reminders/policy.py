"""When outreach may go out: the practice's offsets, quiet hours and caps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.reminders.models import ReminderSettings
from frontdesk.scheduling.models import AppointmentStatus

ACTIVE = (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED)
REMINDER_CUTOFF = timedelta(minutes=30)  # later than this before the visit, a reminder is noise
FOLLOWUP_WINDOW = timedelta(days=2)  # a follow-up that cannot go out within this is dropped
# What a post-visit follow-up says unless the practice wrote its own.
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


DEFAULT_REMINDERS = ReminderDefaults()  # the service-wide defaults, unless settings say otherwise


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
