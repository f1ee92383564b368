"""The `frontdesk` command."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from frontdesk.settings import Settings, get_settings
from frontdesk.supervisor import RasaSupervisor
from knowledge.cli import app as kb_app

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI
    from typer._click import Command, Context  # typer vendors click; these are its types

# Sub-command groups whose modules load only when one of their commands runs (or for --help):
# they import argon2 hashing, the ORM and the scheduler, a second or more that `frontdesk kb
# ask` (under a second from a cold start, docs/knowledge.md) must not pay.
LAZY_GROUPS = {
    "phi": ("frontdesk.phi.cli", "app"),
    "staff": ("frontdesk.auth.cli", "staff_app"),
    "widget": ("frontdesk.auth.cli", "widget_app"),
    "outreach": ("frontdesk.reminders.cli", "app"),  # reminders + SMS outbox, own process
    "practice": ("frontdesk.practices.config.cli", "app"),  # the practice file
    "patients": ("frontdesk.patients.cli", "app"),  # CSV import, EHR sync, duplicates
    "experiments": ("frontdesk.experiments.cli", "app"),  # reminder experiments
    "model": ("frontdesk.review.cli", "model_app"),  # registry: list, promote, rollback
    "nlu": ("frontdesk.review.cli", "nlu_app"),  # export-reviewed
}


class LazyGroup(TyperGroup):
    """The top-level group: `LAZY_GROUPS` are imported on first use."""

    def list_commands(self, ctx: Context) -> list[str]:
        """Every command name, the lazy groups included."""
        names = super().list_commands(ctx)
        return names + [name for name in LAZY_GROUPS if name not in names]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        """The command, importing its module first if it is a lazy group."""
        if cmd_name in LAZY_GROUPS and cmd_name not in self.commands:
            module, attribute = LAZY_GROUPS[cmd_name]
            sub_app = getattr(importlib.import_module(module), attribute)
            command = typer.main.get_command(sub_app)
            command.name = cmd_name
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    cls=LazyGroup, help="Frontdesk: patient-operations chatbot for medical practices."
)
app.add_typer(kb_app, name="kb")
logger = logging.getLogger("frontdesk")


def _configure_logging(settings: Settings) -> None:
    from frontdesk.logs import use_format

    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    use_format(settings.log_format)
    # httpx logs every request URL, and ours carry API tokens and conversation ids.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # Start-up chatter (migration plugins, one line per registered action) buries the banner.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("rasa_sdk").setLevel(logging.WARNING)


def _echo(message: str) -> None:
    typer.echo(message)


@app.command()
def migrate(
    wait: Annotated[
        float,
        typer.Option("--wait", help="Seconds to wait for the database to accept connections first"),
    ] = 0,
) -> None:
    """Apply database migrations (Alembic) to the configured database."""
    from frontdesk.db import make_engine
    from frontdesk.migrate import upgrade, wait_for_database

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
    if wait > 0:
        wait_for_database(engine, wait)
    upgrade(engine)
    engine.dispose()
    _echo("database is up to date")


@app.command("seed-demo")
def seed_demo_command() -> None:
    """Create the demo practice (providers, hours, visit types, made-up patients)."""
    from frontdesk.clock import system_clock
    from frontdesk.db import make_engine, make_session_factory, session_scope
    from frontdesk.demo import seed_demo

    settings = get_settings()
    engine = make_engine(settings.sqlalchemy_url)
    with session_scope(make_session_factory(engine, clock=system_clock)) as session:
        practice = seed_demo(session, staff_accounts=settings.env == "development")
        _echo(f"demo practice ready: {practice.name} ({practice.slug})")
    engine.dispose()


@app.command()
def train(force: bool = typer.Option(False, help="Train even if bot/ is unchanged.")) -> None:
    """Train the Rasa model if bot/ changed since the cached one; print its path."""
    from frontdesk.botctl import bot_content_hash, ensure_model
    from frontdesk.clock import system_clock
    from frontdesk.review.registry import Registry

    settings = get_settings()
    _configure_logging(settings)
    model = ensure_model(settings, force=force)
    registry = Registry.load(settings.registry_file)  # a version for it, once per content
    registry.record_trained(content_hash=bot_content_hash(), path=model, now=system_clock())
    registry.save()
    _echo(str(model))


@app.command()
def run(
    rasa: bool = typer.Option(True, help="Also start Rasa (otherwise use FRONTDESK_RASA_URL)."),
    seed: bool = typer.Option(True, help="Seed the demo practice if it is missing."),
    migrate_first: bool = typer.Option(
        True,
        "--migrate/--no-migrate",
        help="Apply migrations first. With several replicas, run `frontdesk migrate` once "
        "as its own step and start each replica with --no-migrate.",
    ),
    dev: bool = typer.Option(
        False,
        "--dev",
        help="Development mode (what `make run` uses): placeholder secrets, the SMS sandbox "
        "at /dev/sms and the demo staff accounts, for this machine only. Refused unless the "
        "public URL is loopback.",
    ),
) -> None:
    """Start everything: migrate, seed the demo, train if needed, run Rasa and the service.

    Rasa runs as a supervised child: if it dies it is restarted with backoff (see /healthz),
    and patients' messages wait for it meanwhile.
    """
    if dev:
        # For every reader of the settings in this process and in Rasa's, not just this one.
        os.environ["FRONTDESK_ENV"] = "development"
        get_settings.cache_clear()
    try:
        settings = get_settings()
    except ValidationError as exc:
        # One readable line (which setting, what to do), not a pydantic traceback.
        messages = "; ".join(
            str(error["msg"]).removeprefix("Value error, ") for error in exc.errors()
        )
        _echo(f"frontdesk: {messages}")
        raise typer.Exit(code=2) from None
    _configure_logging(settings)
    (settings.data_dir / "logs").mkdir(parents=True, exist_ok=True)
    if migrate_first:
        migrate()
    if seed:
        seed_demo_command()
    supervisor: RasaSupervisor | None = None
    if rasa and settings.start_rasa:
        supervisor = _supervise_rasa(settings)
    # uvicorn shuts down on SIGTERM, then raises the signal again for the previous handler:
    # make that a clean exit through `finally`, or Rasa (its own session) outlives us.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        asyncio.run(_serve(settings, supervisor))
    except _Stopped:
        pass
    finally:
        if supervisor is not None:
            _echo("stopping Rasa")
            supervisor.stop()


class _Stopped(Exception):
    """SIGTERM arrived (a service manager or orchestrator stopping us)."""


def _exit_cleanly(signum: int, frame: object) -> None:
    raise _Stopped


def _supervise_rasa(settings: Settings) -> RasaSupervisor:
    from frontdesk.botctl import ensure_model
    from frontdesk.review.serving import serving_model

    # The promoted model if the registry has one; else the current bot/ (trained if need be).
    model = serving_model(settings) or ensure_model(settings)
    port = urlsplit(settings.rasa_url).port or 5005
    log = settings.data_dir / "logs" / "rasa.out"
    _echo(f"starting Rasa on 127.0.0.1:{port} (model {model.name}; log {log})")
    supervisor = RasaSupervisor(
        # Each (re)start serves the model promoted by then, not the one at first start.
        lambda: _start_rasa(settings, serving_model(settings) or model, port),
        base_seconds=min(1.0, settings.rasa_restart_max_seconds),
        max_seconds=settings.rasa_restart_max_seconds,
        on_exit=lambda code: _echo(f"  (why Rasa stopped: see {log})"),
    )
    supervisor.start()
    return supervisor


def _start_rasa(settings: Settings, model: Path, port: int) -> subprocess.Popen[bytes]:
    from frontdesk.botctl import rasa_environment, rasa_server_command

    with (settings.data_dir / "logs" / "rasa.out").open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own executable, fixed arguments
            rasa_server_command(settings, model, port=port),
            cwd=settings.data_dir,
            env=rasa_environment(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; we stop Rasa ourselves
        )


def server_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    """uvicorn's configuration for `app`, with its logging made safe.

    uvicorn installs its own log handlers while building the config; only then can the PHI
    filter and the query-string redaction go onto every handler there is.
    """
    import uvicorn

    from frontdesk.logs import install_redaction, use_format

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,  # request lines carry conversation tokens in query strings
    )
    install_redaction()  # uvicorn has configured its loggers by now
    use_format(settings.log_format)
    return config


async def _serve(settings: Settings, supervisor: RasaSupervisor | None) -> None:
    import uvicorn

    from frontdesk.app import create_app

    app = create_app(settings)
    app.state.rasa_supervisor = supervisor  # /healthz reports the child's state
    server = uvicorn.Server(server_config(app, settings))
    watchers = [asyncio.create_task(_watch_readiness(settings, server, supervisor))]
    if supervisor is not None:
        watchers.append(supervisor.watch())
    try:
        await server.serve()
    finally:
        for watcher in watchers:
            watcher.cancel()


async def _watch_readiness(
    settings: Settings, server: uvicorn.Server, supervisor: RasaSupervisor | None
) -> None:
    """Print the banner once everything is ready; tell the supervisor each time Rasa is up."""
    from connectors.rasa import RasaClient

    client = RasaClient(settings.rasa_url, settings.rasa_token.get_secret_value())
    started = time.monotonic()
    announced = False
    try:
        while not server.should_exit:
            waiting = supervisor is not None and supervisor.state == "starting"
            if server.started and (waiting or not announced) and await client.is_ready():
                if supervisor is not None:
                    supervisor.mark_running()
                if not announced:
                    announced = True
                    docs = (
                        f"  API docs:    {settings.base_url}/api/docs\n"
                        if settings.serves_api_docs
                        else ""
                    )
                    _echo(
                        f"\n  Frontdesk is ready after {time.monotonic() - started:.0f} s.\n"
                        f"  Demo chat:   {settings.base_url}/demo\n"
                        f"  Health:      {settings.base_url}/healthz\n"
                        f"{docs}"
                        "  Press Ctrl-C to stop.\n"
                    )
            await asyncio.sleep(1.0)
    finally:
        await client.aclose()


def main() -> None:
    """Entry point for `python -m frontdesk`."""
    app()


if __name__ == "__main__":
    main()
