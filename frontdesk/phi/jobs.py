"""Background housekeeping started with the service: tracker retention, knowledge warm-up."""

from __future__ import annotations

import asyncio
import logging

from frontdesk.clock import Clock
from frontdesk.phi.retention import purge_tracker_events
from frontdesk.settings import Settings

logger = logging.getLogger(__name__)
DAY_SECONDS = 86400.0


async def housekeeping(settings: Settings, *, clock: Clock, interval: float = DAY_SECONDS) -> None:
    """Warm the demo knowledge base once, then apply tracker retention every `interval`.

    Both run in threads: neither may hold up the event loop. Failures are logged and retried
    on the next round; they never stop the service.
    """
    # Imported here, not at the top: the knowledge base pulls in chromadb and langchain
    # (about a second), which the app's import should not pay before it serves anything.
    from knowledge.answering import DEMO_PRACTICE, ensure_demo_ingested, shared_knowledge_base

    def warm() -> None:
        kb = shared_knowledge_base(settings)
        ensure_demo_ingested(kb, DEMO_PRACTICE)
        if kb.store.has_collection(DEMO_PRACTICE):
            kb.answer("what are your hours", practice_slug=DEMO_PRACTICE)

    try:
        await asyncio.to_thread(warm)
    except Exception:  # warm-up is an optimisation; the first question pays instead
        logger.exception("knowledge base warm-up failed")
    while True:
        try:
            await asyncio.to_thread(
                purge_tracker_events,
                tracker_url=settings.tracker_store_url,
                days=settings.tracker_retention_days,
                now=clock(),
            )
        except Exception:
            logger.exception("tracker retention failed; retrying on the next round")
        await asyncio.sleep(interval)
