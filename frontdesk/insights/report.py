"""The insights page's tables and charts, built once from `Figures` for HTML and CSV alike."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass

from frontdesk.conversations.models import Channel
from frontdesk.insights.charts import Series, bar_chart
from frontdesk.insights.figures import Figures, Table
from frontdesk.insights.value import Estimate

CHANNEL_LABELS = {Channel.WEBCHAT.value: "Web chat", Channel.SMS.value: "SMS"}


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}" if whole else ""


def _minutes(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


@dataclass(frozen=True)
class Report:
    """Everything the page shows: tables by key, charts (SVG), the value estimate."""

    figures: Figures
    estimate: Estimate
    tables: dict[str, Table]
    charts: dict[str, str]


def build_report(figures: Figures, estimate: Estimate) -> Report:
    """Tables and charts of one window (from figures computed with every part)."""
    tables = {key: build_table(key, figures, estimate) for key in TABLE_PARTS}
    return Report(figures, estimate, tables, _charts(figures))


def build_table(key: str, figures: Figures, estimate: Estimate) -> Table:
    """One table; `figures` needs only the parts TABLE_PARTS names for it."""
    if key == "value":
        return _value(estimate)
    return _TABLES[key](figures)


def _conversations(f: Figures) -> Table:
    rows: list[tuple[object, ...]] = []
    channels = [f.channel.value] if f.channel else list(CHANNEL_LABELS)
    for index, label in enumerate(f.window.labels()):
        for channel in channels:
            counts = f.by_channel[channel]
            total, contained = counts["conversations"][index], counts["contained"][index]
            rows.append(
                (
                    label,
                    CHANNEL_LABELS[channel],
                    total,
                    contained,
                    counts["escalated"][index],
                    _percent(contained, total),
                )
            )
    return Table(
        "conversations",
        "Conversations: contained by the bot or escalated to staff",
        ("Period", "Channel", "Conversations", "Contained", "Escalated", "Contained %"),
        rows,
        "By the day a conversation started; contained means it never reached staff.",
    )


def _reasons(f: Figures) -> Table:
    rows: list[tuple[object, ...]] = [
        (label, reason, counts[index])
        for index, label in enumerate(f.window.labels())
        for reason, counts in f.reasons.items()
        if counts[index]
    ]
    return Table(
        "escalations",
        "Escalations by reason",
        ("Period", "Reason", "Escalations"),
        rows,
        "By the time of the (latest) escalation; periods with none are left out.",
    )


def _by_period(f: Figures, names: tuple[str, ...]) -> list[tuple[object, ...]]:
    return [
        (label, *(f.series[name][index] for name in names))
        for index, label in enumerate(f.window.labels())
    ]


def _bot_actions(f: Figures) -> Table:
    return Table(
        "bot_actions",
        "Appointments handled by the bot",
        ("Period", "Bookings", "Reschedules", "Cancellations", "Confirmations"),
        _by_period(f, ("bookings", "reschedules", "cancellations", "confirmations")),
        "Each done end to end by the virtual assistant, without staff.",
    )


def _reminders(f: Figures) -> Table:
    return Table(
        "reminders",
        "Reminders and what patients did after them",
        ("Period", "Sent", "Confirmed", "Rescheduled", "Cancelled", "Opted out"),
        _by_period(
            f,
            (
                "reminders_sent",
                "reminded_confirmed",
                "reminded_rescheduled",
                "reminded_cancelled",
                "opted_out",
            ),
        ),
        "SMS only. A reply counts when it came after a reminder was sent for that visit.",
    )


def _no_shows(f: Figures) -> Table:
    rows: list[tuple[object, ...]] = [
        (label, total, marked, total - marked)
        for label, total, marked in zip(
            f.window.labels(), f.series["no_shows"], f.series["no_shows_marked"], strict=True
        )
    ]
    return Table(
        "no_shows",
        "No-shows",
        ("Period", "No-shows", "Marked by staff", "From the EHR"),
        rows,
        "By visit time, all channels. From the EHR's appointment status where the practice's "
        "EHR is connected, otherwise marked by staff in the console.",
    )


def _waitlist(f: Figures) -> Table:
    rows: list[tuple[object, ...]] = [
        (label, sent, filled, _minutes(median))
        for label, sent, filled, median in zip(
            f.window.labels(),
            f.series["offers_sent"],
            f.series["slots_filled"],
            f.medians["freed_to_filled"],
            strict=True,
        )
    ]
    return Table(
        "waitlist",
        "Waitlist: freed time offered and filled",
        ("Period", "Offers sent", "Slots filled", "Median minutes freed to filled"),
        rows,
        "All channels. Freed to filled runs from the first offer of the time to its booking.",
    )


def _first_response(f: Figures) -> Table:
    rows: list[tuple[object, ...]] = [
        (label, answered, _minutes(median))
        for label, answered, median in zip(
            f.window.labels(),
            f.series["answered_escalations"],
            f.medians["first_response"],
            strict=True,
        )
    ]
    return Table(
        "first_response",
        "Staff first response on escalations",
        ("Period", "Escalations answered", "Median minutes to first staff reply"),
        rows,
        "From the escalation to the first staff reply; unanswered escalations are not included.",
    )


def _knowledge(f: Figures) -> Table:
    rows: list[tuple[object, ...]] = [
        (label, answered, abstained, _percent(answered, answered + abstained))
        for label, answered, abstained in zip(
            f.window.labels(), f.series["answered"], f.series["abstained"], strict=True
        )
    ]
    return Table(
        "knowledge",
        "Practice questions",
        ("Period", "Answered", "Abstained", "Answered %"),
        rows,
        "Abstained: no confident answer in the practice's documents, so a person was offered.",
    )


def _value(estimate: Estimate) -> Table:
    rows: list[tuple[object, ...]] = [
        ("Staff time", line.label, line.count, line.factor, f"{line.amount:.0f} min")
        for line in estimate.time_lines
    ]
    rows += [
        ("Revenue", line.label, line.count, line.factor, f"${line.amount:,.2f}")
        for line in estimate.revenue_lines
    ]
    return Table(
        "value",
        "Estimated value",
        ("Kind", "Item", "Count", "Assumption", "Amount"),
        rows,
        "Count × the practice's own assumption; edit the assumptions below.",
    )


def _charts(f: Figures) -> dict[str, str]:
    labels = f.window.labels()
    return {
        "conversations": bar_chart(
            title="Conversations",
            labels=labels,
            series=[
                Series("Contained", f.series["contained"], "good"),
                Series("Escalated", f.series["escalated"], "warn"),
            ],
            stacked=True,
        ),
        "bot_actions": bar_chart(
            title="Done by the bot",
            labels=labels,
            series=[
                Series("Bookings", f.series["bookings"], "a"),
                Series("Reschedules", f.series["reschedules"], "b"),
                Series("Cancellations", f.series["cancellations"], "c"),
                Series("Confirmations", f.series["confirmations"], "d"),
            ],
        ),
        "reminders": bar_chart(
            title="Reminders",
            labels=labels,
            series=[
                Series("Sent", f.series["reminders_sent"], "a"),
                Series("Confirmed", f.series["reminded_confirmed"], "good"),
                Series("Cancelled", f.series["reminded_cancelled"], "warn"),
            ],
        ),
        "no_shows": bar_chart(
            title="No-shows",
            labels=labels,
            series=[Series("No-shows", f.series["no_shows"], "warn")],
        ),
    }


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def table_csv(table: Table) -> str:
    """A table as CSV (header row first); text cells that look like formulas are quoted."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(
            f"'{cell}" if isinstance(cell, str) and cell.startswith(_FORMULA_START) else cell
            for cell in row
        )
    return out.getvalue()


_TABLES: dict[str, Callable[[Figures], Table]] = {
    "conversations": _conversations,
    "escalations": _reasons,
    "bot_actions": _bot_actions,
    "reminders": _reminders,
    "no_shows": _no_shows,
    "waitlist": _waitlist,
    "first_response": _first_response,
    "knowledge": _knowledge,
}
# Which parts of the figures (frontdesk.insights.figures.PARTS) each table is made from.
TABLE_PARTS: dict[str, tuple[str, ...]] = {
    "conversations": ("conversations",),
    "escalations": ("escalations",),
    "bot_actions": ("insight_events",),
    "reminders": ("reminders",),
    "no_shows": ("no_shows",),
    "waitlist": ("waitlist",),
    "first_response": ("first_response",),
    "knowledge": ("insight_events",),
    "value": ("insight_events", "waitlist"),
}
