"""The persistent scheduler: APScheduler 3.11 with its jobs in the service database.

One interval job ("frontdesk.reminders.tick") plans and sends outreach. Its definition lives in
the `apscheduler_jobs` table (`SQLAlchemyJobStore`), so a restarted process picks it up and
runs a missed tick within `misfire_grace_time`. What is due, and what was sent, lives in
`scheduled_reminders`: the job keeps no state of its own, and two schedulers running the same
job (two processes, a restart overlapping the old one) cannot send anything twice, because
every send is claimed by a conditional UPDATE in the database.

The service starts and stops it with `start_reminders` / `stop_reminders`; `frontdesk outreach
run` starts it on its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from connectors.rasa import RasaClient
from frontdesk.bot import BotClient
from frontdesk.clock import system_clock
from frontdesk.db import session_scope
from frontdesk.reminders.models import ReminderKind
from frontdesk.reminders.planning import plan_outreach
from frontdesk.reminders.policy import ReminderDefaults
from frontdesk.reminders.sending import SentOutreach, send_due
from frontdesk.scheduling.waitlist import expire_waitlist_offers
from frontdesk.scheduling.waitlist_notices import ConversationNotifier
from frontdesk.scheduling.waitlist_policy import DEFAULT_WAITLIST_POLICY, WaitlistPolicy
from frontdesk.settings import Settings

logger = logging.getLogger(__name__)
JOB_ID = "frontdesk.reminders.tick"
REMINDER_INTENT = "EXTERNAL_appointment_reminder"
OUTREACH_BOT_CONCURRENCY = 4  # reminders' trigger_intent calls in flight at once, per process


@dataclass(frozen=True)
class TickResult:
    """What one tick did."""

    planned: int
    claimed: int
    sent: int


class ReminderRunner:
    """Plans, sends, then tells the bot and wakes the outbox (each step its own transaction)."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        defaults: ReminderDefaults,
        notify: Callable[[SentOutreach], None] | None = None,
        on_queued: Callable[[], None] | None = None,
        batch_size: int = 500,
        waitlist_policy: WaitlistPolicy = DEFAULT_WAITLIST_POLICY,
    ) -> None:
        """Create a runner; `notify` is told about each queued reminder after commit."""
        self._sessions = sessions
        self._clock = clock
        self._defaults = defaults
        self._notify = notify
        self._on_queued = on_queued
        self._batch_size = batch_size
        self._waitlist_policy = waitlist_policy

    def tick(self) -> TickResult:
        """Plan, then send everything due in batches."""
        now = self._clock()
        with session_scope(self._sessions) as session:
            planned = plan_outreach(session=session, now=now, defaults=self._defaults)
        # Waitlist offers nobody answered in time move on to the next batch of patients; the
        # offers themselves reach SMS patients through the outbox like any bot message.
        with session_scope(self._sessions) as session:
            expire_waitlist_offers(
                session=session,
                now=now,
                notifier=ConversationNotifier(),
                policy=self._waitlist_policy,
            )
        claimed = sent = 0
        while True:
            with session_scope(self._sessions) as session:
                batch = send_due(
                    session=session, now=now, limit=self._batch_size, defaults=self._defaults
                )
            claimed += batch.claimed
            sent += len(batch.sent)
            if batch.sent and self._on_queued is not None:
                self._on_queued()
            for outreach in batch.sent:
                if self._notify is not None:
                    self._notify(outreach)
            if batch.claimed == 0:
                break
        if claimed:
            logger.info("reminders: %s planned, %s due, %s queued", planned, claimed, sent)
        return TickResult(planned, claimed, sent)


# The job store pickles a job as a reference to a module-level function; the runner it uses
# is set by whoever starts the scheduler in this process.
_runner: ReminderRunner | None = None


def run_tick() -> None:
    """The scheduled job."""
    if _runner is None:
        logger.warning("reminder tick with no runner configured in this process")
        return
    _runner.tick()


def defaults_from(settings: Settings) -> ReminderDefaults:
    """Service-wide outreach defaults."""
    return ReminderDefaults(
        offsets_minutes=tuple(settings.reminder_offsets_minutes),
        quiet_start=settings.quiet_hours_start,
        quiet_end=settings.quiet_hours_end,
    )


def bot_notifier(
    bot: BotClient,
    loop: asyncio.AbstractEventLoop,
    *,
    concurrency: int = OUTREACH_BOT_CONCURRENCY,
) -> Callable[[SentOutreach], None]:
    """Tell Rasa about a reminder (`trigger_intent`) so that "C", "R", "X" are read in context.

    Runs on the service's event loop, at most `concurrency` at a time: a fan-out of thousands
    of reminders waits its turn here instead of flooding Rasa (and the connection pool) ahead
    of patients' turns. A failure is logged and costs only the context (the reminder's
    replies carry the appointment reference themselves).
    """
    gate = asyncio.Semaphore(max(1, concurrency))

    async def trigger(outreach: SentOutreach) -> None:
        async with gate:
            await bot.trigger_intent(
                outreach.conversation_public_id,
                REMINDER_INTENT,
                # An entity, since trigger_intent takes no metadata; read by the bot's
                # action_extract_language like a turn's metadata.
                {"appointment_ref": outreach.appointment_ref, "language": outreach.language},
            )

    def notify(outreach: SentOutreach) -> None:
        if outreach.kind is not ReminderKind.REMINDER or not outreach.bot_owns_conversation:
            return
        future = asyncio.run_coroutine_threadsafe(trigger(outreach), loop)
        future.add_done_callback(_log_failure)

    return notify


def outreach_bot_client(settings: Settings) -> RasaClient:
    """The reminders' own client to Rasa, with a pool as small as their concurrency.

    Patient turns keep the service's client and its connections to themselves: a fan-out
    never holds the connections a patient's turn needs.
    """
    return RasaClient(
        settings.rasa_url,
        settings.rasa_token.get_secret_value(),
        http=httpx.AsyncClient(
            timeout=settings.rasa_timeout_seconds,
            limits=httpx.Limits(
                max_connections=OUTREACH_BOT_CONCURRENCY,
                max_keepalive_connections=OUTREACH_BOT_CONCURRENCY,
            ),
        ),
    )


def _log_failure(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.warning("reminder trigger_intent failed: %s", type(future.exception()).__name__)


def start_scheduler(
    *,
    engine: Engine,
    runner: ReminderRunner,
    tick_seconds: int,
    first_run_after: float | None = None,
) -> Any:
    """Start a background scheduler whose job lives in the database; returns it.

    The first tick comes one interval after start (or after `first_run_after` seconds), so
    a service that starts and stops at once (a test, a failed deploy) sends nothing.
    APScheduler fires jobs by the wall clock (`system_clock`); what a tick finds due is
    decided by the runner's own clock.
    """
    global _runner
    _runner = runner
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone=UTC,
    )
    scheduler.start()
    scheduler.add_job(
        run_tick,
        "interval",
        seconds=tick_seconds,
        id=JOB_ID,
        replace_existing=True,
        next_run_time=system_clock()
        + timedelta(seconds=tick_seconds if first_run_after is None else first_run_after),
    )
    return scheduler


def start_reminder_scheduler(
    settings: Settings,
    *,
    engine: Engine,
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime],
    bot: BotClient | None,
    loop: asyncio.AbstractEventLoop | None,
    on_queued: Callable[[], None] | None = None,
) -> Any:
    """Build the runner from settings and start the persistent scheduler."""
    runner = ReminderRunner(
        sessions=sessions,
        clock=clock,
        defaults=defaults_from(settings),
        notify=bot_notifier(bot, loop) if bot is not None and loop is not None else None,
        on_queued=on_queued,
        waitlist_policy=WaitlistPolicy.from_settings(settings),
    )
    return start_scheduler(
        engine=engine, runner=runner, tick_seconds=settings.reminder_tick_seconds
    )


def start_reminders(
    settings: Settings,
    *,
    engine: Engine,
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime],
    bot: BotClient | None,
    loop: asyncio.AbstractEventLoop | None,
    on_queued: Callable[[], None] | None = None,
) -> Any | None:
    """The service's reminders: the scheduler started when `reminders_enabled`, else None.

    Args:
        settings: The service's settings (whether to run, cadence, quiet hours).
        engine: Where the scheduler keeps its job.
        sessions: Where ticks plan and queue outreach.
        clock: What a tick takes as "now".
        bot: Told about each reminder (`trigger_intent`), on `loop`.
        loop: The service's event loop.
        on_queued: Called after a batch of messages is queued (wakes the SMS outbox).
    """
    if not settings.reminders_enabled:
        return None
    return start_reminder_scheduler(
        settings,
        engine=engine,
        sessions=sessions,
        clock=clock,
        bot=bot,
        loop=loop,
        on_queued=on_queued,
    )


def stop_reminders(scheduler: Any | None) -> None:
    """Stop what `start_reminders` started, without waiting for a tick under way."""
    if scheduler is not None:
        scheduler.shutdown(wait=False)
