"""An experiment's outcome as the insights page, its CSV and the CLI show it.

One table per experiment (a row per arm), one sentence per compared arm, and an SVG of each
arm's no-show rate with its interval. The sentence says "not yet significant" whenever the
difference's 95 % interval contains 0: a practice should not switch wording on noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from sqlalchemy.orm import Session

from frontdesk.experiments.outcomes import ArmOutcome, ExperimentOutcome, experiments_of, measure
from frontdesk.experiments.stats import Interval
from frontdesk.insights.figures import Table

COLUMNS = (
    "Arm",
    "Visits",
    "Attended",
    "No-shows",
    "Pending",
    "No-show %",
    "No-show % low",
    "No-show % high",
    "Difference vs control (points)",
    "Difference low",
    "Difference high",
    "Cancelled ahead",
    "Cancelled ahead %",
    "Cancellation difference (points)",
    "Cancellation difference low",
    "Cancellation difference high",
)


def _points(value: float) -> str:
    return f"{100 * value:.1f}"


def _span(interval: Interval | None) -> str:
    return "" if interval is None else f"{_points(interval.low)} to {_points(interval.high)}"


def _cells(interval: Interval | None) -> tuple[object, object, object]:
    """Estimate, low and high in percent (numbers, so a CSV reader gets numbers)."""
    if interval is None:
        return "", "", ""
    return (
        round(100 * interval.estimate, 1),
        round(100 * interval.low, 1),
        round(100 * interval.high, 1),
    )


def _label(outcome: ArmOutcome) -> str:
    return f"{outcome.arm.name} (control)" if outcome.arm.control else outcome.arm.name


def experiment_table(outcome: ExperimentOutcome) -> Table:
    """A row per arm, control first; rates, differences and 95 % bounds in percent."""
    rows: list[tuple[object, ...]] = [
        (
            _label(arm),
            arm.visits,
            arm.attended,
            arm.no_shows,
            arm.pending,
            *_cells(arm.no_show_rate),
            *_cells(arm.no_show_difference),
            arm.cancelled_ahead,
            _cells(arm.cancellation_rate)[0],
            *_cells(arm.cancellation_difference),
        )
        for arm in outcome.arms
    ]
    experiment = outcome.experiment
    until = experiment.ends_on.isoformat() if experiment.ends_on else "open-ended"
    return Table(
        f"experiment-{experiment.key}",
        f"Reminder experiment: {experiment.name}",
        COLUMNS,
        rows,
        f"Visits from {experiment.starts_on.isoformat()} to {until}. No-show % is of visits "
        "that ended (attended or no-show); cancelled ahead % is of those plus visits cancelled "
        "before they started. Differences are this arm minus the control; low and high are "
        "the 95 % bounds (Wilson for a rate, Newcombe for a difference).",
    )


def sentences(outcome: ExperimentOutcome) -> list[str]:
    """What the data says about each arm against the control, in plain words."""
    control = outcome.control()
    lines = []
    for arm in outcome.arms:
        if arm.arm.control:
            continue
        difference = arm.no_show_difference
        if difference is None:
            lines.append(
                f"{arm.arm.name} vs {control.arm.name}: no finished visits in both arms yet."
            )
            continue
        verdict = (
            "not yet significant (the interval contains 0)"
            if difference.contains_zero()
            else "significant at the 95 % level"
        )
        direction = "lower" if difference.estimate < 0 else "higher"
        lines.append(
            f"{arm.arm.name} vs {control.arm.name}: no-show rate "
            f"{_points(abs(difference.estimate))} points {direction} "
            f"(95 % CI {_span(difference)}), {verdict}."
        )
    return lines


WIDTH, ROW, LEFT, RIGHT = 720, 34, 170, 24


def interval_chart(outcome: ExperimentOutcome) -> str:
    """Each arm's no-show rate as a dot with its 95 % interval as a bar (server-side SVG)."""
    rates = [a.no_show_rate for a in outcome.arms]
    top = max((r.high for r in rates if r is not None), default=0.0)
    scale_top = max(0.1, min(1.0, (int(top * 10) + 1) / 10))
    height = ROW * len(outcome.arms) + 40
    plot = WIDTH - LEFT - RIGHT
    title = f"No-show rate by arm: {outcome.experiment.name}"
    ident = "ci-" + "".join(c if c.isalnum() else "-" for c in outcome.experiment.key)

    def x(value: float) -> float:
        return LEFT + plot * value / scale_top

    parts = [
        f'<svg class="chart ci-chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-t">{escape(title)}</title>',
        f'<desc id="{ident}-d">'
        + escape(
            "; ".join(
                f"{_label(a)}: {_points(a.no_show_rate.estimate)} % ({_span(a.no_show_rate)})"
                if a.no_show_rate
                else f"{_label(a)}: no finished visits"
                for a in outcome.arms
            )
        )
        + "</desc>",
    ]
    for tick in range(6):
        value = scale_top * tick / 5
        parts.append(
            f'<line class="grid" x1="{x(value):.1f}" x2="{x(value):.1f}" y1="8" '
            f'y2="{height - 28}"/><text class="axis" x="{x(value):.1f}" y="{height - 12}" '
            f'text-anchor="middle">{_points(value).removesuffix(".0")} %</text>'
        )
    for index, arm in enumerate(outcome.arms):
        y = 8 + ROW * index + ROW / 2
        parts.append(
            f'<text class="legend" x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_label(arm))}</text>"
        )
        rate = arm.no_show_rate
        if rate is None:
            continue
        css = "s-b" if arm.arm.control else "s-a"
        parts.append(
            f'<line class="ci {css}" x1="{x(rate.low):.1f}" x2="{x(rate.high):.1f}" '
            f'y1="{y:.1f}" y2="{y:.1f}" stroke-width="6"/>'
            f'<circle class="{css}" cx="{x(rate.estimate):.1f}" cy="{y:.1f}" r="6">'
            f"<title>{escape(_label(arm))}: {_points(rate.estimate)} % "
            f"({_span(rate)})</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class ExperimentSection:
    """One experiment on the insights page: its table, verdicts and interval chart."""

    key: str
    table: Table
    verdicts: list[str]
    chart: str


def experiment_sections(
    *, session: Session, practice_id: int, now: datetime
) -> list[ExperimentSection]:
    """Every experiment of the practice, newest first, as the page shows it."""
    sections = []
    for experiment in experiments_of(session=session, practice_id=practice_id):
        outcome = measure(session=session, experiment=experiment, now=now)
        sections.append(
            ExperimentSection(
                experiment.key,
                experiment_table(outcome),
                sentences(outcome),
                interval_chart(outcome),
            )
        )
    return sections
