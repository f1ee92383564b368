"""What custom actions get from the service: sessions, a clock, configuration, the knowledge base.

Actions are registered as instances built with this context (constructor injection), so
tests can hand them a test database, a fixed clock and their own configuration. The service
builds it from its settings once (`frontdesk.app.create_app`); actions never read settings.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from rasa_sdk import Action
from sqlalchemy.orm import Session, sessionmaker

import knowledge
from frontdesk.db import session_scope
from frontdesk.language import Language
from frontdesk.scheduling.waitlist_policy import WaitlistPolicy

if TYPE_CHECKING:
    from frontdesk.settings import Settings
    from knowledge.answering import Answer, KnowledgeBase

T = TypeVar("T")


@dataclass(frozen=True)
class PaymentLinks:
    """How payment links are made: the service-wide template and the service's public URL."""

    template: str
    base_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> PaymentLinks:
        """The payment link configuration of the service."""
        return cls(template=settings.payment_link_template, base_url=settings.base_url)


@dataclass(frozen=True)
class ActionContext:
    """Collaborators shared by every custom action.

    Attributes:
        sessions: Where each action's unit of work gets its session.
        clock: The service clock.
        payment_links: The default payment link template and the service's URL.
        waitlist: The service's waitlist rules.
        knowledge_base: Opens (once) and returns the knowledge base; called off the event
            loop, because opening it loads the vector store.
    """

    sessions: sessionmaker[Session]
    clock: Callable[[], datetime]
    payment_links: PaymentLinks
    waitlist: WaitlistPolicy
    knowledge_base: Callable[[], KnowledgeBase]

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

    async def answer(
        self, question: str, *, practice_slug: str, language: Language | None = None
    ) -> Answer:
        """Answer from the practice's documents in the conversation's language, off the loop."""

        def call() -> Answer:
            return knowledge.answer(
                question,
                practice_slug=practice_slug,
                knowledge_base=self.knowledge_base(),
                language=language,
            )

        return await asyncio.to_thread(call)


class ContextAction(Action):
    """A custom action built with the shared `ActionContext`."""

    def __init__(self, context: ActionContext) -> None:
        """Create the action with its collaborators."""
        self.context = context


def inform_payload(**entities: str) -> str:
    """A button payload that sets entities with the `inform` intent: `/inform{"slot":"value"}`."""
    return "/inform" + json.dumps(entities, separators=(",", ":"))
