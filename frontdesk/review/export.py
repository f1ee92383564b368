"""Writing labelled review items as Rasa NLU training data (`bot/data/nlu/reviewed.yml`).

The file is rewritten whole from every labelled item, so it is the same whoever exports and
however often. With nothing labelled it is not written at all: an absent file leaves the
`bot/` content hash, and so the cached model, as it was. "New topic" labels are not exported
(no intent exists for them yet); they are for whoever extends the domain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.review.models import NEW_TOPIC, NluTurn, ReviewItem, ReviewStatus

HEADER = (
    "# Written by `frontdesk nlu export-reviewed` from the console's review queue: turns the\n"
    "# bot misunderstood, PHI-scrubbed, labelled by staff. Each example's metadata names its\n"
    "# review item. Do not edit by hand; label or dismiss in /console/review and export again.\n"
)


def reviewed_examples(*, session: Session) -> dict[str, list[dict[str, Any]]]:
    """Labelled examples by intent, each with metadata naming its source."""
    rows = session.execute(
        select(ReviewItem, NluTurn.text)
        .join(NluTurn, NluTurn.id == ReviewItem.nlu_turn_id)
        .where(ReviewItem.status == ReviewStatus.LABELLED, ReviewItem.label != NEW_TOPIC)
        .order_by(ReviewItem.label, ReviewItem.id)
    ).all()
    by_intent: dict[str, list[dict[str, Any]]] = {}
    seen: set[tuple[str, str]] = set()
    for item, text in rows:
        label = str(item.label)
        if (label, text) in seen or not text.strip():
            continue  # Rasa refuses duplicate examples
        seen.add((label, text))
        source = f"review_item:{item.id} practice:{item.practice_id} reason:{item.reason.value}"
        by_intent.setdefault(label, []).append({"text": text, "metadata": {"source": source}})
    return by_intent


def export_reviewed(*, session: Session, target: Path) -> int:
    """Write the reviewed NLU file; the number of examples written (0: no file written)."""
    by_intent = reviewed_examples(session=session)
    count = sum(len(examples) for examples in by_intent.values())
    if count == 0:
        return 0
    document = {
        "version": "3.1",
        "nlu": [{"intent": intent, "examples": examples} for intent, examples in by_intent.items()],
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000)
    target.write_text(HEADER + body)
    return count
