"""The review queue: list what the bot misunderstood, label it with an intent, or dismiss it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.review.models import NEW_TOPIC, NluTurn, ReviewItem, ReviewReason, ReviewStatus
from frontdesk.settings import PROJECT_ROOT

DOMAIN_DIR = PROJECT_ROOT / "bot" / "domain"
# Intents the service sends itself (payloads after an identity check): never a label.
SERVICE_ONLY_INTENTS = frozenset({"identity_provided", "identity_failed"})


class ReviewError(ValueError):
    """A label or item the queue cannot accept; the message is shown to staff."""


@cache
def domain_intents(domain_dir: Path = DOMAIN_DIR) -> tuple[str, ...]:
    """The intents a reviewer may choose, from the bot's domain files, sorted."""
    names: set[str] = set()
    for path in sorted(domain_dir.glob("*.yml")):
        for entry in (yaml.safe_load(path.read_text()) or {}).get("intents") or []:
            names.add(entry if isinstance(entry, str) else next(iter(entry)))
    return tuple(sorted(names - SERVICE_ONLY_INTENTS))


@dataclass(frozen=True)
class QueueRow:
    """One review item as the console shows it: scrubbed text, the NLU's guess, why."""

    id: int
    text: str
    intent: str | None
    confidence: float
    reason: ReviewReason
    status: ReviewStatus
    label: str | None
    at: datetime


def queue(
    *,
    session: Session,
    practice_id: int,
    status: ReviewStatus = ReviewStatus.OPEN,
    limit: int = 100,
) -> list[QueueRow]:
    """The practice's review items in one status, oldest first."""
    rows = session.execute(
        select(ReviewItem, NluTurn)
        .join(NluTurn, NluTurn.id == ReviewItem.nlu_turn_id)
        .where(ReviewItem.practice_id == practice_id, ReviewItem.status == status)
        .order_by(ReviewItem.id)
        .limit(limit)
    ).all()
    return [
        QueueRow(
            id=item.id,
            text=turn.text,
            intent=turn.intent,
            confidence=turn.confidence,
            reason=item.reason,
            status=item.status,
            label=item.label,
            at=turn.at,
        )
        for item, turn in rows
    ]


def _item(session: Session, practice_id: int, item_id: int) -> ReviewItem:
    item = session.get(ReviewItem, item_id)
    if item is None or item.practice_id != practice_id:
        raise ReviewError("This review item does not exist.")
    return item


def label_item(
    *, session: Session, practice_id: int, item_id: int, label: str, staff_id: int, now: datetime
) -> ReviewItem:
    """Label an item with one of the domain's intents, or `NEW_TOPIC`."""
    if label != NEW_TOPIC and label not in domain_intents():
        raise ReviewError(f"{label!r} is not an intent of the bot.")
    item = _item(session, practice_id, item_id)
    item.status, item.label, item.reviewed_by, item.reviewed_at = (
        ReviewStatus.LABELLED,
        label,
        staff_id,
        now,
    )
    return item


def dismiss_item(
    *, session: Session, practice_id: int, item_id: int, staff_id: int, now: datetime
) -> ReviewItem:
    """Take an item out of the queue without a label (nothing to learn from it)."""
    item = _item(session, practice_id, item_id)
    item.status, item.label, item.reviewed_by, item.reviewed_at = (
        ReviewStatus.DISMISSED,
        None,
        staff_id,
        now,
    )
    return item
