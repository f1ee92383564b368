"""What custom actions get from the service: database sessions, a clock and configuration.

Actions are registered as instances built with this context (constructor injection), so
tests can hand them a test database and a fixed clock.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from rasa_sdk import Action
from sqlalchemy.orm import Session, sessionmaker

from frontdesk.db import session_scope
from frontdesk.scheduling.waitlist_policy import DEFAULT_WAITLIST_POLICY, WaitlistPolicy

T = TypeVar("T")


@dataclass(frozen=True)
class ActionContext:
    """Collaborators shared by every custom action."""

    sessions: sessionmaker[Session]
    clock: Callable[[], datetime]
    waitlist: WaitlistPolicy = DEFAULT_WAITLIST_POLICY

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A committed-on-success session owned by the action."""
        with session_scope(self.sessions) as session:
            yield session

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run blocking database work off the event loop, in its own unit of work."""

        def call() -> T:
            with self.unit_of_work() as session:
                return work(session)

        return await asyncio.to_thread(call)


class ContextAction(Action):
    """A custom action built with the shared `ActionContext`."""

    def __init__(self, context: ActionContext) -> None:
        """Create the action with its collaborators."""
        self.context = context


def inform_payload(**entities: str) -> str:
    """A button payload that sets entities with the `inform` intent: `/inform{"slot":"value"}`."""
    return "/inform" + json.dumps(entities, separators=(",", ":"))
