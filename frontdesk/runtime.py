"""The process-wide collaborators, built once by the application factory and injected."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from frontdesk.bot import BotClient
from frontdesk.db import session_scope
from frontdesk.events import EventBus
from frontdesk.hub import ChatHub
from frontdesk.settings import Settings

if TYPE_CHECKING:
    from frontdesk.review.recording import ReviewRecorder


@dataclass
class Services:
    """Everything a request handler or custom action needs from the outside world.

    The hub and the event bus are interfaces: the application factory picks the in-process
    ones for a single process, fan-out ones when several share the load.
    """

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    bot: BotClient
    hub: ChatHub
    events: EventBus
    clock: Callable[[], datetime]
    # Records each turn's NLU result for the review queue; None when no tracker is readable.
    review: ReviewRecorder | None = None
    # Tells the turn dispatcher a turn was queued (safe from any thread); set at start-up.
    wake_turns: Callable[[], None] = field(default=lambda: None)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A session that commits on success: the job or handler owns the transaction."""
        with session_scope(self.sessions) as session:
            yield session
