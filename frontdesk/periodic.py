"""The deployment's periodic jobs, as the leader runs them (`frontdesk.leader.LeaderJobs`).

Once per deployment, on the elected leader: the reminder tick (plans, sends reminders and
follow-ups, expires waitlist offers), the EHR pull, housekeeping (tracker retention, with the
knowledge warm-up that shares its task), and the pass handing on stored inbound texts that
never reached the bot (two replicas running it at once could hand one text over twice). In
every replica, outside this module: the SMS and EHR outbox workers, which claim each row.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from frontdesk.bot import BotClient
from frontdesk.clock import Clock
from frontdesk.ehr.tasks import EhrSync
from frontdesk.phi import jobs as phi_jobs
from frontdesk.reminders.scheduler import start_reminders, stop_reminders
from frontdesk.settings import Settings


class RemindersJob:
    """The persistent reminder scheduler (it starts only with `reminders_enabled`)."""

    name = "reminders"

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        bot: BotClient,
        on_queued: Callable[[], None],
    ) -> None:
        """Keep what `start_reminders` needs; nothing starts before `start`."""
        self._settings = settings
        self._engine = engine
        self._sessions = sessions
        self._clock = clock
        self._bot = bot
        self._on_queued = on_queued
        self.scheduler: Any | None = None

    async def start(self) -> None:
        """Start the scheduler (its job definition lives in the database)."""
        self.scheduler = start_reminders(
            self._settings,
            engine=self._engine,
            sessions=self._sessions,
            clock=self._clock,
            bot=self._bot,
            loop=asyncio.get_running_loop(),
            on_queued=self._on_queued,
        )

    async def stop(self) -> None:
        """Stop it without waiting for a tick under way (ticks claim what they send)."""
        stop_reminders(self.scheduler)
        self.scheduler = None


class EhrPullJob:
    """Appointments made or cancelled in the EHR, pulled back (only with an EHR)."""

    name = "ehr-pull"

    def __init__(self, ehr_sync: EhrSync) -> None:
        """Pull through the service's `EhrSync`, whose outbox worker runs everywhere."""
        self._ehr_sync = ehr_sync

    async def start(self) -> None:
        """Start the pull loop."""
        self._ehr_sync.start_pull()

    async def stop(self) -> None:
        """Let the current pull finish, then stop."""
        await self._ehr_sync.stop_pull()


class HousekeepingJob:
    """Tracker retention (daily), with the knowledge warm-up that runs before it."""

    name = "housekeeping"

    def __init__(self, settings: Settings, *, clock: Clock) -> None:
        """Keep the settings and clock the housekeeping task takes."""
        self._settings = settings
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the housekeeping task."""
        self._task = asyncio.create_task(
            phi_jobs.housekeeping(self._settings, clock=self._clock), name="housekeeping"
        )

    async def stop(self) -> None:
        """Cancel it (a purge under way runs in a thread and finishes on its own)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def only_on_leader(
    leader: Callable[[], bool], work: Callable[[], Awaitable[int]]
) -> Callable[[], Coroutine[Any, Any, int]]:
    """`work`, run only while `leader()` says this replica leads (else: nothing, 0)."""

    async def run() -> int:
        return await work() if leader() else 0

    return run
