"""What the assistant's work is worth, from the practice's own, editable assumptions.

The estimate is deliberately simple arithmetic a manager can redo by hand: each act the bot
did times the minutes the same act takes staff by phone, and each visit kept or refilled
times the value of a visit. The page shows every factor beside the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from frontdesk.insights.figures import Figures
from frontdesk.insights.models import InsightAssumptions

# (attribute, label, lowest, highest): the fields a manager may edit, with sane bounds.
FIELDS: tuple[tuple[str, str, int, int], ...] = (
    ("minutes_per_booking", "Staff minutes per phone booking", 0, 120),
    ("minutes_per_reschedule", "Staff minutes per phone reschedule", 0, 120),
    ("minutes_per_cancellation", "Staff minutes per phone cancellation", 0, 120),
    ("minutes_per_confirmation", "Staff minutes per confirmation call", 0, 120),
    ("minutes_per_question", "Staff minutes per question answered by phone", 0, 120),
    ("visit_value_cents", "Value of a visit (cents)", 0, 10_000_000),
    ("refill_credit_percent", "Waitlist refills that would have stayed empty (%)", 0, 100),
    ("reschedule_credit_percent", "Bot reschedules that would have been lost visits (%)", 0, 100),
)


class AssumptionError(ValueError):
    """An assumption is missing, not a whole number, or out of its range."""


def assumptions_for(*, session: Session, practice_id: int) -> InsightAssumptions:
    """The practice's assumptions; the defaults (unsaved) when it never set any."""
    found = session.scalar(
        select(InsightAssumptions).where(InsightAssumptions.practice_id == practice_id)
    )
    if found is not None:
        return found
    defaults = InsightAssumptions(practice_id=practice_id)
    for column in inspect(InsightAssumptions).columns:
        value = getattr(column.default, "arg", None)  # the model's Python-side default
        if isinstance(value, int) and column.key:
            setattr(defaults, column.key, value)
    return defaults


def parse_assumptions(form: dict[str, str]) -> dict[str, int]:
    """Whole numbers within each field's range; the visit value is given in dollars.

    Raises:
        AssumptionError: Naming the first field that is wrong.
    """
    values: dict[str, int] = {}
    for key, label, lowest, highest in FIELDS:
        raw = (form.get("visit_value" if key == "visit_value_cents" else key) or "").strip()
        try:
            number = round(float(raw) * 100) if key == "visit_value_cents" else int(raw)
        except ValueError as exc:
            raise AssumptionError(f"{label}: give a number") from exc
        if not lowest <= number <= highest:
            raise AssumptionError(f"{label}: between {lowest} and {highest}")
        values[key] = number
    return values


def save_assumptions(
    *, session: Session, practice_id: int, values: dict[str, int], staff_id: int, now: datetime
) -> InsightAssumptions:
    """Store the practice's assumptions (one row per practice)."""
    row = session.scalar(
        select(InsightAssumptions).where(InsightAssumptions.practice_id == practice_id)
    )
    if row is None:
        row = InsightAssumptions(practice_id=practice_id)
        session.add(row)
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = now
    row.updated_by = staff_id
    session.flush()
    return row


@dataclass(frozen=True)
class Line:
    """One term of an estimate: `count` acts × `factor` = `amount`."""

    label: str
    count: int
    factor: str
    amount: float


@dataclass(frozen=True)
class Estimate:
    """Staff time saved (minutes) and revenue protected (dollars), with their terms."""

    time_lines: list[Line]
    revenue_lines: list[Line]

    @property
    def minutes_saved(self) -> float:
        """Total staff minutes."""
        return sum(line.amount for line in self.time_lines)

    @property
    def hours_saved(self) -> float:
        """Total staff hours, one decimal."""
        return round(self.minutes_saved / 60, 1)

    @property
    def revenue_protected(self) -> float:
        """Total dollars."""
        return round(sum(line.amount for line in self.revenue_lines), 2)


def estimate(figures: Figures, assumptions: InsightAssumptions) -> Estimate:
    """The value of the window's figures under the practice's assumptions."""
    time_terms = (
        ("Bookings by the bot", "bookings", assumptions.minutes_per_booking),
        ("Reschedules by the bot", "reschedules", assumptions.minutes_per_reschedule),
        ("Cancellations by the bot", "cancellations", assumptions.minutes_per_cancellation),
        ("Confirmations by the bot", "confirmations", assumptions.minutes_per_confirmation),
        (
            "Questions answered from the knowledge base",
            "answered",
            assumptions.minutes_per_question,
        ),
    )
    time_lines = [
        Line(label, figures.total(name), f"{minutes} min", figures.total(name) * minutes)
        for label, name, minutes in time_terms
    ]
    visit = assumptions.visit_value_cents / 100
    revenue_terms = (
        (
            "Freed slots refilled from the waitlist",
            "slots_filled",
            assumptions.refill_credit_percent,
        ),
        (
            "Visits rescheduled instead of lost",
            "reschedules",
            assumptions.reschedule_credit_percent,
        ),
    )
    revenue_lines = [
        Line(
            label,
            figures.total(name),
            f"${visit:,.2f} × {percent}%",
            round(figures.total(name) * visit * percent / 100, 2),
        )
        for label, name, percent in revenue_terms
    ]
    return Estimate(time_lines=time_lines, revenue_lines=revenue_lines)
