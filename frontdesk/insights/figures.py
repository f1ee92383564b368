"""The insights figures: what the assistant did for one practice over a window, per bucket.

Every figure is a count or a median computed in the database from rows the service keeps
anyway, or from `insight_events` where nothing else records the act. Nothing here reads a
name, a phone number or a message text: the queries select ids, kinds, channels and instants.

Where a figure comes from (each is also said on the page):
- conversations, contained/escalated, reasons, first response: `conversations` (created_at,
  escalated_at, escalation_reason, first_reply_at); "contained" means never escalated.
- bookings, reschedules, cancellations, confirmations by the bot; knowledge answered or
  abstained: `insight_events`, written by the bot's actions.
- reminders sent: `scheduled_reminders`; a confirmation, cancellation or reschedule counts as
  following a reminder when it came after one was sent for that visit; opt-outs:
  `sms_consents` now opted out, by when that changed.
- no-shows: `appointments` in status no-show (from the EHR pull or marked by staff, which
  also writes an insight event), by visit start.
- waitlist: `waitlist_offers`; freed-to-filled is from the first offer of the freed time to
  the booking that filled it.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Exists, exists, extract, func, select
from sqlalchemy.orm import Session, aliased

from frontdesk.conversations.models import Channel, Conversation, EscalationReason
from frontdesk.insights.models import InsightEvent, InsightKind
from frontdesk.insights.windows import Window
from frontdesk.reminders.models import ReminderKind, ReminderStatus, ScheduledReminder
from frontdesk.scheduling.models import (
    Appointment,
    AppointmentStatus,
    OfferStatus,
    WaitlistOffer,
)
from frontdesk.sms.models import SmsConsent

REASON_LABELS = {
    EscalationReason.PATIENT_REQUEST: "Asked for a person",
    EscalationReason.MISUNDERSTOOD: "Not understood",
    EscalationReason.EMERGENCY: "Emergency words",
    EscalationReason.REFILL: "Prescription refill",
    EscalationReason.BILLING_DISPUTE: "Billing dispute",
    EscalationReason.IDENTITY_FAILED: "Identity check failed",
    EscalationReason.LOW_CONFIDENCE_ANSWER: "No confident answer",
    EscalationReason.BOT_UNANSWERED: "The assistant did not answer",
}
BOT_ACTS = {
    InsightKind.BOT_BOOKED: "bookings",
    InsightKind.BOT_RESCHEDULED: "reschedules",
    InsightKind.BOT_CANCELLED: "cancellations",
    InsightKind.BOT_CONFIRMED: "confirmations",
    InsightKind.KB_ANSWERED: "answered",
    InsightKind.KB_ABSTAINED: "abstained",
}
# Staff cancellations and the EHR's own are not the patient answering a reminder.
_NOT_PATIENT = ("staff", "ehr")

Counts = dict[str, list[int]]


@dataclass(frozen=True)
class Table:
    """One table of the page, exported as CSV under its `key`."""

    key: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[object, ...]]
    note: str = ""


@dataclass
class Figures:
    """Every series of one window: `series[name][i]` is bucket i's value."""

    window: Window
    channel: Channel | None
    series: Counts = field(default_factory=dict)
    by_channel: dict[str, Counts] = field(default_factory=dict)
    reasons: dict[str, list[int]] = field(default_factory=dict)
    medians: dict[str, list[float | None]] = field(default_factory=dict)
    overall_medians: dict[str, float | None] = field(default_factory=dict)

    def total(self, name: str) -> int:
        """The window's total of a counted series."""
        return sum(self.series.get(name, ()))

    def containment(self) -> float | None:
        """Share of the window's conversations that never reached staff, in percent."""
        total = self.total("conversations")
        return round(100 * self.total("contained") / total, 1) if total else None


def _zeros(window: Window) -> list[int]:
    return [0] * len(window)


def _median_minutes(seconds: Iterable[float]) -> float | None:
    values = list(seconds)
    return round(statistics.median(values) / 60, 1) if values else None


def _count_into(target: list[int], rows: Iterable[Any]) -> None:
    for index, count in rows:
        if index is not None:
            target[index] += count


def compute_figures(
    *,
    session: Session,
    practice_id: int,
    window: Window,
    channel: Channel | None = None,
    parts: Collection[str] | None = None,
) -> Figures:
    """The insights figures of one practice over `window` (all channels when None).

    `parts` names the groups of figures to compute (keys of PARTS; all by default), so that
    exporting one table does not pay for the whole page.
    """
    figures = Figures(window=window, channel=channel)
    for name, compute in PARTS.items():
        if parts is None or name in parts:
            compute(session, practice_id, figures)
    return figures


def _conversations(session: Session, practice_id: int, figures: Figures) -> None:
    window = figures.window
    bucket = window.bucket(Conversation.created_at)
    query = (
        select(bucket, Conversation.channel, func.count(), func.count(Conversation.escalated_at))
        .where(Conversation.practice_id == practice_id, window.within(Conversation.created_at))
        .group_by(bucket, Conversation.channel)
    )
    if figures.channel is not None:
        query = query.where(Conversation.channel == figures.channel)
    for name in ("conversations", "contained", "escalated"):
        figures.series[name] = _zeros(window)
    for channel in Channel:
        figures.by_channel[channel.value] = {
            name: _zeros(window) for name in ("conversations", "contained", "escalated")
        }
    for index, channel, total, escalated in session.execute(query):
        for counts in (figures.series, figures.by_channel[Channel(channel).value]):
            counts["conversations"][index] += total
            counts["escalated"][index] += escalated
            counts["contained"][index] += total - escalated


def _escalations(session: Session, practice_id: int, figures: Figures) -> None:
    window = figures.window
    bucket = window.bucket(Conversation.escalated_at)
    query = (
        select(bucket, Conversation.escalation_reason, func.count())
        .where(Conversation.practice_id == practice_id, window.within(Conversation.escalated_at))
        .group_by(bucket, Conversation.escalation_reason)
    )
    if figures.channel is not None:
        query = query.where(Conversation.channel == figures.channel)
    figures.reasons = {label: _zeros(window) for label in REASON_LABELS.values()}
    for index, reason, count in session.execute(query):
        label = REASON_LABELS.get(reason, "Escalated") if reason else "Escalated"
        figures.reasons.setdefault(label, _zeros(window))[index] += count


def _seconds_between(session: Session, later: Any, earlier: Any) -> ColumnElement[Any]:
    """SQL: seconds from `earlier` to `later`, so a year of rows needs no datetime objects."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return extract("epoch", later - earlier)


def _first_response(session: Session, practice_id: int, figures: Figures) -> None:
    window = figures.window
    seconds = _seconds_between(session, Conversation.first_reply_at, Conversation.escalated_at)
    query = select(window.bucket(Conversation.escalated_at), seconds).where(
        Conversation.practice_id == practice_id,
        window.within(Conversation.escalated_at),
        Conversation.first_reply_at.is_not(None),
        Conversation.first_reply_at >= Conversation.escalated_at,
    )
    if figures.channel is not None:
        query = query.where(Conversation.channel == figures.channel)
    waits: dict[int, list[float]] = defaultdict(list)
    everything: list[float] = []
    for index, wait in session.execute(query):
        waits[index].append(float(wait))
        everything.append(float(wait))
    figures.series["answered_escalations"] = [len(waits[i]) for i in range(len(window))]
    figures.medians["first_response"] = [_median_minutes(waits[i]) for i in range(len(window))]
    figures.overall_medians["first_response"] = _median_minutes(everything)


def _insight_events(session: Session, practice_id: int, figures: Figures) -> None:
    window = figures.window
    bucket = window.bucket(InsightEvent.at)
    query = (
        select(bucket, InsightEvent.kind, func.count())
        .where(
            InsightEvent.practice_id == practice_id,
            window.within(InsightEvent.at),
            InsightEvent.kind.in_(list(BOT_ACTS)),
        )
        .group_by(bucket, InsightEvent.kind)
    )
    if figures.channel is not None:
        query = query.where(InsightEvent.channel == figures.channel.value)
    for name in BOT_ACTS.values():
        figures.series[name] = _zeros(window)
    for index, kind, count in session.execute(query):
        figures.series[BOT_ACTS[InsightKind(kind)]][index] += count


def _sent_reminder_before(appointment_id: Any, instant: Any) -> Exists:
    """SQL: a reminder for this appointment had been sent by `instant`."""
    return exists().where(
        ScheduledReminder.appointment_id == appointment_id,
        ScheduledReminder.kind == ReminderKind.REMINDER,
        ScheduledReminder.status == ReminderStatus.SENT,
        ScheduledReminder.sent_at <= instant,
    )


def _reminders(session: Session, practice_id: int, figures: Figures) -> None:
    window = figures.window
    names = ("reminders_sent", "reminded_confirmed", "reminded_cancelled", "reminded_rescheduled")
    for name in (*names, "opted_out"):
        figures.series[name] = _zeros(window)
    if figures.channel not in (None, Channel.SMS):
        return  # reminders and opt-outs are SMS only
    sent = window.bucket(ScheduledReminder.sent_at)
    _count_into(
        figures.series["reminders_sent"],
        session.execute(
            select(sent, func.count())
            .where(
                ScheduledReminder.practice_id == practice_id,
                ScheduledReminder.kind == ReminderKind.REMINDER,
                ScheduledReminder.status == ReminderStatus.SENT,
                window.within(ScheduledReminder.sent_at),
            )
            .group_by(sent)
        ),
    )
    confirmed = window.bucket(Appointment.confirmed_at)
    _count_into(
        figures.series["reminded_confirmed"],
        session.execute(
            select(confirmed, func.count())
            .where(
                Appointment.practice_id == practice_id,
                window.within(Appointment.confirmed_at),
                _sent_reminder_before(Appointment.id, Appointment.confirmed_at),
            )
            .group_by(confirmed)
        ),
    )
    cancelled = window.bucket(Appointment.cancelled_at)
    _count_into(
        figures.series["reminded_cancelled"],
        session.execute(
            select(cancelled, func.count())
            .where(
                Appointment.practice_id == practice_id,
                Appointment.status == AppointmentStatus.CANCELLED,
                Appointment.cancelled_by.not_in(_NOT_PATIENT),
                window.within(Appointment.cancelled_at),
                _sent_reminder_before(Appointment.id, Appointment.cancelled_at),
            )
            .group_by(cancelled)
        ),
    )
    moved = window.bucket(InsightEvent.at)
    _count_into(
        figures.series["reminded_rescheduled"],
        session.execute(
            select(moved, func.count())
            .where(
                InsightEvent.practice_id == practice_id,
                InsightEvent.kind == InsightKind.BOT_RESCHEDULED,
                window.within(InsightEvent.at),
                _sent_reminder_before(InsightEvent.appointment_id, InsightEvent.at),
            )
            .group_by(moved)
        ),
    )
    changed = window.bucket(SmsConsent.changed_at)
    _count_into(
        figures.series["opted_out"],
        session.execute(
            select(changed, func.count())
            .where(
                SmsConsent.practice_id == practice_id,
                SmsConsent.opted_out.is_(True),
                window.within(SmsConsent.changed_at),
            )
            .group_by(changed)
        ),
    )


def _no_shows(session: Session, practice_id: int, figures: Figures) -> None:
    window = figures.window
    bucket = window.bucket(Appointment.start_at)
    figures.series["no_shows"] = _zeros(window)
    figures.series["no_shows_marked"] = _zeros(window)
    where = (
        Appointment.practice_id == practice_id,
        Appointment.status == AppointmentStatus.NOSHOW,
        window.within(Appointment.start_at),
    )
    _count_into(
        figures.series["no_shows"],
        session.execute(select(bucket, func.count()).where(*where).group_by(bucket)),
    )
    # Few visits are marked by staff: start from their events, not from every no-show.
    marked = (
        select(bucket, func.count(func.distinct(Appointment.id)))
        .select_from(InsightEvent)
        .join(Appointment, Appointment.id == InsightEvent.appointment_id)
        .where(
            InsightEvent.practice_id == practice_id,
            InsightEvent.kind == InsightKind.NO_SHOW_MARKED,
            *where,
        )
        .group_by(bucket)
    )
    _count_into(figures.series["no_shows_marked"], session.execute(marked))


def _waitlist(session: Session, practice_id: int, figures: Figures) -> None:
    window = figures.window
    bucket = window.bucket(WaitlistOffer.created_at)
    figures.series["offers_sent"] = _zeros(window)
    _count_into(
        figures.series["offers_sent"],
        session.execute(
            select(bucket, func.count())
            .where(
                WaitlistOffer.practice_id == practice_id, window.within(WaitlistOffer.created_at)
            )
            .group_by(bucket)
        ),
    )
    first = aliased(WaitlistOffer)
    freed_at = (
        select(func.min(first.created_at))
        .where(
            first.practice_id == WaitlistOffer.practice_id,
            first.provider_id == WaitlistOffer.provider_id,
            first.start_at == WaitlistOffer.start_at,
        )
        .scalar_subquery()
    )
    query = (
        select(Appointment.created_at, freed_at)
        .select_from(WaitlistOffer)
        .join(Appointment, Appointment.id == WaitlistOffer.appointment_id)
        .where(
            WaitlistOffer.practice_id == practice_id,
            WaitlistOffer.status == OfferStatus.ACCEPTED,
            window.within(Appointment.created_at),
        )
    )
    delays: dict[int, list[float]] = defaultdict(list)
    everything: list[float] = []
    for filled_at, first_offer_at in session.execute(query):
        index = window.index_of(filled_at)
        if index is None:
            continue
        seconds = max(0.0, (filled_at - (first_offer_at or filled_at)).total_seconds())
        delays[index].append(seconds)
        everything.append(seconds)
    figures.series["slots_filled"] = [len(delays[i]) for i in range(len(window))]
    figures.medians["freed_to_filled"] = [_median_minutes(delays[i]) for i in range(len(window))]
    figures.overall_medians["freed_to_filled"] = _median_minutes(everything)


PARTS: dict[str, Callable[[Session, int, Figures], None]] = {
    "conversations": _conversations,
    "escalations": _escalations,
    "first_response": _first_response,
    "insight_events": _insight_events,
    "reminders": _reminders,
    "no_shows": _no_shows,
    "waitlist": _waitlist,
}
