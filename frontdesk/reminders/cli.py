"""`frontdesk outreach ...`: run reminders and the SMS outbox without the web service.

`frontdesk run` already runs both inside the service; this process is for deployments that
scale them separately (and for the crash test, which kills it mid-run).
"""

from __future__ import annotations

import asyncio
import logging
import signal

import typer

from frontdesk.clock import shifted_clock, system_clock
from frontdesk.db import make_engine, make_session_factory
from frontdesk.logs import install_phi_filter, use_format
from frontdesk.settings import get_settings
from frontdesk.wiring import connect_ports

app = typer.Typer(help="Reminders, follow-ups and the SMS outbox.")
logger = logging.getLogger(__name__)


@app.callback()
def outreach() -> None:
    """Reminders, follow-ups and the SMS outbox."""


@app.command("run")
def run() -> None:
    """Run the reminder scheduler and the SMS outbox worker until stopped."""
    # Imported here, not at the top: `frontdesk` loads this module for every command, and
    # these (every table, APScheduler, the Twilio and Rasa clients, the domain packages the
    # ports connect) would add about a third of a second to each one's start-up.
    import frontdesk.models  # noqa: F401 - every table, so cross-domain foreign keys resolve
    from frontdesk.reminders.scheduler import outreach_bot_client, start_reminder_scheduler
    from frontdesk.sms.transport import transport_from_settings
    from frontdesk.sms.worker import worker_from_settings

    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper())
    use_format(settings.log_format)
    install_phi_filter()
    connect_ports()
    engine = make_engine(settings.sqlalchemy_url, **settings.engine_options)
    offset = settings.test_clock_offset_seconds
    clock = shifted_clock(offset) if offset else system_clock
    sessions = make_session_factory(engine, clock=clock)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        bot = outreach_bot_client(settings)  # a small pool, as inside the service
        worker = worker_from_settings(
            settings,
            sessions=sessions,
            transport=transport_from_settings(settings),
            clock=clock,
        )
        worker.start()
        scheduler = start_reminder_scheduler(
            settings,
            engine=engine,
            sessions=sessions,
            clock=clock,
            bot=bot,
            loop=loop,
            on_queued=worker.wake,
        )
        typer.echo("outreach running (Ctrl-C stops)")
        try:
            await stop.wait()
        finally:
            scheduler.shutdown(wait=True)
            await asyncio.to_thread(worker.stop)
            await bot.aclose()

    try:
        asyncio.run(main())
    finally:
        engine.dispose()


if __name__ == "__main__":
    app()
