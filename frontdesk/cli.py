"""The `frontdesk` command."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import time
from urllib.parse import urlsplit

import typer
import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from frontdesk.auth.cli import staff_app, widget_app
from frontdesk.phi.cli import app as phi_app
from frontdesk.reminders.cli import app as outreach_app
from frontdesk.settings import Settings, get_settings
from knowledge.cli import app as kb_app

app = typer.Typer(help="Frontdesk: patient-operations chatbot for medical practices.")
app.add_typer(kb_app, name="kb")
app.add_typer(phi_app, name="phi")
logger = logging.getLogger("frontdesk")
app.add_typer(staff_app, name="staff")
app.add_typer(widget_app, name="widget")
app.add_typer(outreach_app, name="outreach")  # reminders + SMS outbox as their own process


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    # httpx logs every request URL, and ours carry API tokens and conversation ids.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # Start-up chatter (migration plugins, one line per registered action) buries the banner.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("rasa_sdk").setLevel(logging.WARNING)


def _echo(message: str) -> None:
    typer.echo(message)


@app.command()
def migrate() -> None:
    """Apply database migrations (Alembic) to the configured database."""
    from frontdesk.db import make_engine
    from frontdesk.migrate import upgrade

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
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
    from frontdesk.botctl import ensure_model

    settings = get_settings()
    _configure_logging(settings)
    _echo(str(ensure_model(settings, force=force)))


@app.command()
def run(
    rasa: bool = typer.Option(True, help="Also start Rasa (otherwise use FRONTDESK_RASA_URL)."),
    seed: bool = typer.Option(True, help="Seed the demo practice if it is missing."),
    dev: bool = typer.Option(
        False,
        "--dev",
        help="Development mode (what `make run` uses): placeholder secrets, the SMS sandbox "
        "at /dev/sms and the demo staff accounts, for this machine only. Refused unless the "
        "public URL is loopback.",
    ),
) -> None:
    """Start everything: migrate, seed the demo, train if needed, run Rasa and the service."""
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
    migrate()
    if seed:
        seed_demo_command()
    rasa_process: subprocess.Popen[bytes] | None = None
    if rasa and settings.start_rasa:
        rasa_process = _start_rasa(settings)
    try:
        asyncio.run(_serve(settings, rasa_process))
    finally:
        if rasa_process is not None:
            _stop(rasa_process)


def _start_rasa(settings: Settings) -> subprocess.Popen[bytes]:
    from frontdesk.botctl import ensure_model, rasa_environment, rasa_server_command

    model = ensure_model(settings)
    port = urlsplit(settings.rasa_url).port or 5005
    log = settings.data_dir / "logs" / "rasa.out"
    _echo(f"starting Rasa on 127.0.0.1:{port} (model {model.name}; log {log})")
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own executable, fixed arguments
            rasa_server_command(settings, model, port=port),
            cwd=settings.data_dir,
            env=rasa_environment(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; we stop Rasa ourselves
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    _echo("stopping Rasa")
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def server_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    """uvicorn's configuration for `app`, with its logging made safe.

    uvicorn installs its own log handlers while building the config; only then can the PHI
    filter and the query-string redaction go onto every handler there is.
    """
    from frontdesk.logs import install_redaction

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,  # request lines carry conversation tokens in query strings
    )
    install_redaction()
    return config


async def _serve(settings: Settings, rasa_process: subprocess.Popen[bytes] | None) -> None:
    from frontdesk.app import create_app

    server = uvicorn.Server(server_config(create_app(settings), settings))
    watcher = asyncio.create_task(_announce_when_ready(settings, server, rasa_process))
    try:
        await server.serve()
    finally:
        watcher.cancel()


async def _announce_when_ready(
    settings: Settings, server: uvicorn.Server, rasa_process: subprocess.Popen[bytes] | None
) -> None:
    from connectors.rasa import RasaClient

    client = RasaClient(settings.rasa_url, settings.rasa_token.get_secret_value())
    started = time.monotonic()
    try:
        while not server.should_exit:
            if rasa_process is not None and rasa_process.poll() is not None:
                _echo(
                    f"Rasa exited with code {rasa_process.returncode}; see "
                    f"{settings.data_dir / 'logs' / 'rasa.out'}"
                )
                server.should_exit = True
                return
            if server.started and await client.is_ready():
                demo = f"{settings.base_url}/demo"
                docs = (
                    f"  API docs:    {settings.base_url}/api/docs\n"
                    if settings.serves_api_docs
                    else ""
                )
                _echo(
                    f"\n  Frontdesk is ready after {time.monotonic() - started:.0f} s.\n"
                    f"  Demo chat:   {demo}\n"
                    f"  Health:      {settings.base_url}/healthz\n"
                    f"{docs}"
                    "  Press Ctrl-C to stop.\n"
                )
                return
            await asyncio.sleep(1.0)
    finally:
        await client.aclose()


def main() -> None:
    """Entry point for `python -m frontdesk`."""
    app()


if __name__ == "__main__":
    main()
