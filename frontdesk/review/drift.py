"""Drift of the live NLU: the last day's fallback rate, confidence and intent mix against the
serving model's first week.

"The model" is the one Rasa stamped on the turns (`NluTurn.model_id`, from the tracker): its
first week is the seven days from its first recorded turn. An alert is raised when the last
24 hours fell back more often than that week by more than `FRONTDESK_DRIFT_FALLBACK_MARGIN`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from frontdesk.practices.models import Practice
from frontdesk.review.models import NluTurn

WEEK = timedelta(days=7)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Window:
    """Turns of one period: how many, how often the NLU fell back, how sure it was, of what."""

    turns: int
    fallback_rate: float
    mean_confidence: float
    intent_mix: dict[str, float]  # share of turns per intent


@dataclass(frozen=True)
class Drift:
    """The last day against the model's first week."""

    model_id: str | None
    baseline: Window
    recent: Window
    margin: float

    @property
    def fallback_rise(self) -> float:
        """How much more often the last day fell back than the first week did."""
        return self.recent.fallback_rate - self.baseline.fallback_rate

    @property
    def alert(self) -> bool:
        """Both periods have turns and the rise exceeds the margin."""
        return bool(self.baseline.turns and self.recent.turns) and self.fallback_rise > self.margin

    @property
    def mix_shift(self) -> float:
        """Total variation distance between the two intent mixes (0 same, 1 disjoint)."""
        names = set(self.baseline.intent_mix) | set(self.recent.intent_mix)
        return 0.5 * sum(
            abs(self.baseline.intent_mix.get(n, 0.0) - self.recent.intent_mix.get(n, 0.0))
            for n in names
        )


def _window(
    session: Session, practice_id: int, model_id: str | None, *when: ColumnElement[bool]
) -> Window:
    rows = session.execute(
        select(NluTurn.intent, NluTurn.fallback, NluTurn.confidence).where(
            NluTurn.practice_id == practice_id,
            NluTurn.model_id == model_id if model_id is not None else NluTurn.model_id.is_(None),
            *when,
        )
    ).all()
    if not rows:
        return Window(0, 0.0, 0.0, {})
    counts = Counter(intent or "none" for intent, _, _ in rows)
    return Window(
        turns=len(rows),
        fallback_rate=sum(1 for _, fell_back, _ in rows if fell_back) / len(rows),
        mean_confidence=sum(confidence for _, _, confidence in rows) / len(rows),
        intent_mix={name: count / len(rows) for name, count in counts.items()},
    )


def drift(*, session: Session, practice_id: int, now: datetime, margin: float) -> Drift | None:
    """The practice's drift for the model of its latest turn; None before any turn."""
    latest = session.scalar(
        select(NluTurn).where(NluTurn.practice_id == practice_id).order_by(NluTurn.id.desc())
    )
    if latest is None:
        return None
    model_id = latest.model_id
    first = session.scalar(
        select(func.min(NluTurn.at)).where(
            NluTurn.practice_id == practice_id,
            NluTurn.model_id == model_id if model_id is not None else NluTurn.model_id.is_(None),
        )
    )
    assert first is not None  # the latest turn itself qualifies
    recent_start = now - DAY
    baseline_end = min(first + WEEK, recent_start)  # the last day is never its own baseline
    return Drift(
        model_id=model_id,
        baseline=_window(
            session, practice_id, model_id, NluTurn.at >= first, NluTurn.at <= baseline_end
        ),
        recent=_window(
            session, practice_id, model_id, NluTurn.at > recent_start, NluTurn.at <= now
        ),
        margin=margin,
    )


def drift_metrics(*, session: Session, now: datetime, margin: float) -> Iterator[Metric]:
    """Per-practice gauges for Prometheus (practice slugs as labels: no patient data)."""
    rate = GaugeMetricFamily(
        "frontdesk_nlu_fallback_rate",
        "Share of patient turns the NLU fell back on: last 24 h, and the model's first week",
        labels=["practice", "window"],
    )
    alert = GaugeMetricFamily(
        "frontdesk_nlu_drift_alert",
        "1 when the last day's fallback rate exceeds the model's first week by the margin",
        labels=["practice"],
    )
    for practice_id, slug in session.execute(select(Practice.id, Practice.slug)).all():
        found = drift(session=session, practice_id=practice_id, now=now, margin=margin)
        if found is None:
            continue
        rate.add_metric([slug, "day"], found.recent.fallback_rate)
        rate.add_metric([slug, "first_week"], found.baseline.fallback_rate)
        alert.add_metric([slug], 1.0 if found.alert else 0.0)
    yield from (rate, alert)
