"""Retention for Rasa's SQL tracker store: events older than N days are deleted.

Text reaching Rasa is already tokenised (frontdesk/phi/tokens.py); retention bounds what a
tracker still holds about a conversation (slots, intents, bot replies). Rasa's SQL tracker
store keeps one row per event in the `events` table with a UNIX `timestamp` column.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)


def purge_tracker_events(*, tracker_url: str, days: int, now: datetime) -> int:
    """Delete tracker events older than `days`; returns how many were deleted.

    Args:
        tracker_url: The tracker store's SQLAlchemy URL (Rasa's, e.g. sqlite:////abs/path.db).
        days: Retention period in days (at least 1).
        now: The instant to count back from.
    """
    if days < 1:
        raise ValueError("retention must be at least one day")
    url = make_url(tracker_url)
    if url.drivername.startswith("sqlite") and not Path(url.database or "").is_file():
        return 0  # Rasa has not created its store yet (and connecting would create the file)
    if url.drivername in ("postgresql", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+psycopg")  # Rasa's URL names psycopg2
    engine = create_engine(url, hide_parameters=True)
    try:
        if not inspect(engine).has_table("events"):
            return 0  # Rasa has not created its store yet
        cutoff = (now - timedelta(days=days)).timestamp()  # Rasa stores UNIX times
        with engine.begin() as connection:
            result = connection.execute(
                text("DELETE FROM events WHERE timestamp < :cutoff"), {"cutoff": cutoff}
            )
        deleted = int(result.rowcount or 0)
    finally:
        engine.dispose()
    logger.info("tracker retention: deleted %d events older than %d days", deleted, days)
    return deleted
