"""The last check before outreach leaves: quiet hours and the TCPA caps, at send time.

A reminder or a waitlist offer is checked when it is queued, but it can sit in the outbox
(Twilio down, retries, a backlog, a restart) until quiet hours begin, and two senders can
queue for one patient at once. So the outbox worker asks `outreach_gate` again while it
claims the rows, in the claim's transaction: claims are serialised (BEGIN IMMEDIATE on
SQLite, an advisory lock on PostgreSQL) and a claimed row is `sending` at once, so the counts
include every concurrent claim, not only committed hand-overs. Counting is per practice and
number (the patient's phone), by outreach message, over the last 24 hours and 7 days.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from frontdesk.practices.models import Practice
from frontdesk.reminders.models import ReminderStatus, ScheduledReminder
from frontdesk.reminders.policy import (
    OutreachPolicy,
    ReminderDefaults,
    next_window_time,
    policy_for,
)
from frontdesk.sms.models import OutboundSms, OutboundStatus

# Outbox kinds that are outreach (we text first): quiet hours and caps apply to these.
OUTREACH_KINDS = frozenset({"reminder", "no_show", "post_visit", "waitlist_offer"})
# Statuses that mean "handed over, or being handed over now": what the caps count.
_COUNTED = (
    OutboundStatus.SENDING,
    OutboundStatus.QUEUED,
    OutboundStatus.SENT,
    OutboundStatus.DELIVERED,
    OutboundStatus.UNDELIVERED,
    OutboundStatus.FAILED,
)


class Verdict(enum.StrEnum):
    """What the gate decided for one claimed outreach message."""

    SEND = "send"
    LATER = "later"  # quiet hours: wait for the window to open
    TOO_LATE = "too_late"  # past its `not_after` (or the window opens after it)
    CAPPED = "capped"  # the patient's daily or weekly cap is used up


@dataclass(frozen=True)
class Claimed:
    """A row the outbox just claimed, as much of it as the gate needs."""

    id: int
    practice_id: int
    to: str
    kind: str
    message_id: int | None
    not_after: datetime | None


@dataclass(frozen=True)
class Decision:
    """The verdict, and for LATER when to try again."""

    verdict: Verdict
    retry_at: datetime | None = None


def outreach_gate(
    *, session: Session, rows: list[Claimed], now: datetime, defaults: ReminderDefaults
) -> dict[int, Decision]:
    """Decide, in id order, which claimed outreach rows may leave now.

    Rows that are not outreach are not in the result. Rows of this claim that pass count
    toward the caps of the ones after them. Reminders whose text is held back for good are
    marked skipped with the reason, so their record says what happened.
    """
    outreach = sorted((r for r in rows if r.kind in OUTREACH_KINDS), key=lambda r: r.id)
    if not outreach:
        return {}
    policies = {
        pid: policy_for(session=session, practice_id=pid, defaults=defaults)
        for pid in {r.practice_id for r in outreach}
    }
    zones = {
        p.id: ZoneInfo(p.timezone)
        for p in session.scalars(select(Practice).where(Practice.id.in_(policies)))
    }
    day, week = _counts(session, outreach, now, exclude={r.id for r in rows})
    decisions: dict[int, Decision] = {}
    for row in outreach:
        decision = _decide(row, policies[row.practice_id], zones[row.practice_id], now, day, week)
        if decision.verdict is Verdict.SEND:
            day[(row.practice_id, row.to)] += 1
            week[(row.practice_id, row.to)] += 1
        decisions[row.id] = decision
    _mark_reminders(session, decisions)
    return decisions


def _decide(
    row: Claimed,
    policy: OutreachPolicy,
    tz: ZoneInfo,
    now: datetime,
    day: Counter[tuple[int, str]],
    week: Counter[tuple[int, str]],
) -> Decision:
    if row.not_after is not None and now > row.not_after:
        return Decision(Verdict.TOO_LATE)
    window = next_window_time(now, tz=tz, policy=policy)
    if window != now:
        if row.not_after is not None and window > row.not_after:
            return Decision(Verdict.TOO_LATE)
        return Decision(Verdict.LATER, window)
    key = (row.practice_id, row.to)
    if day[key] >= policy.daily_cap or week[key] >= policy.weekly_cap:
        return Decision(Verdict.CAPPED)
    return Decision(Verdict.SEND)


def _counts(
    session: Session, rows: list[Claimed], now: datetime, *, exclude: set[int]
) -> tuple[Counter[tuple[int, str]], Counter[tuple[int, str]]]:
    """Outreach messages per (practice, number) handed over in the last day and week.

    A message split in parts counts once (by its conversation message).
    """
    day: Counter[tuple[int, str]] = Counter()
    week: Counter[tuple[int, str]] = Counter()
    found = session.execute(
        select(
            OutboundSms.practice_id,
            OutboundSms.to_phone,
            func.coalesce(OutboundSms.message_id, -OutboundSms.id),
            func.max(OutboundSms.sent_at),
            func.max(case((OutboundSms.status == OutboundStatus.SENDING, 1), else_=0)),
        )
        .where(
            OutboundSms.to_phone.in_({r.to for r in rows}),
            OutboundSms.kind.in_(OUTREACH_KINDS),
            OutboundSms.status.in_(_COUNTED),
            or_(
                OutboundSms.status == OutboundStatus.SENDING,
                OutboundSms.sent_at > now - timedelta(days=7),
            ),
            OutboundSms.id.not_in(exclude),
        )
        .group_by(
            OutboundSms.practice_id,
            OutboundSms.to_phone,
            func.coalesce(OutboundSms.message_id, -OutboundSms.id),
        )
    )
    for practice_id, phone, _message, sent_at, in_flight in found:
        key = (practice_id, phone)
        week[key] += 1
        if in_flight or (sent_at is not None and _aware(sent_at) > now - timedelta(hours=24)):
            day[key] += 1
    return day, week


def _aware(moment: datetime) -> datetime:
    """Stored times are UTC; SQLite may hand an aggregate back naive."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _mark_reminders(session: Session, decisions: dict[int, Decision]) -> None:
    for verdict, reason in ((Verdict.TOO_LATE, "too_late_at_send"), (Verdict.CAPPED, "capped")):
        ids = [i for i, d in decisions.items() if d.verdict is verdict]
        if ids:
            session.execute(
                update(ScheduledReminder)
                .where(ScheduledReminder.outbound_sms_id.in_(ids))
                .values(status=ReminderStatus.SKIPPED, skip_reason=reason, sent_at=None)
                .execution_options(synchronize_session=False)
            )
