"""What the browser tests share: Debian's Chromium driven by Playwright, screenshots, and a
real Frontdesk served by uvicorn in a thread with Rasa replaced by a bot double, plus a test
host page on another origin that embeds the widget with one script tag.

Chromium comes from scripts/install-browser.sh (/usr/bin/chromium) or $FRONTDESK_CHROMIUM;
without it (or without the Python `playwright` package) the browser tests are skipped, except
under CI=true, where that is an error.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from frontdesk.app import create_app
from frontdesk.auth.models import StaffRole
from frontdesk.auth.service import create_staff_account
from frontdesk.clock import system_clock
from frontdesk.db import make_engine, make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.migrate import upgrade
from frontdesk.settings import Settings
from frontdesk.sms.models import OutboundSms
from tests.doubles import Reply, ScriptedBot
from tests.support.stack import ROOT, free_port

try:
    import playwright.sync_api  # noqa: F401 - only whether it imports matters here
except ImportError as error:
    PLAYWRIGHT_MISSING: str | None = (
        f"the Python 'playwright' package is not importable ({error}); run `make setup`"
    )
else:
    PLAYWRIGHT_MISSING = None

CHROMIUM = Path(os.environ.get("FRONTDESK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(
    os.environ.get("FRONTDESK_TEST_ARTIFACTS", str(ROOT / "var" / "test-artifacts" / "browser"))
)
INTERNAL_TOKEN = "browser-test-internal-token"
# The widget's iframe (inside the launcher's shadow root): the chat itself runs in it.
CHAT_FRAME = "[data-testid=fd-chat-frame]"
STAFF_PASSWORD = "browser test passphrase"


def unavailable() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if PLAYWRIGHT_MISSING:
        return PLAYWRIGHT_MISSING
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return (
            f"no Chromium at {CHROMIUM}: run scripts/install-browser.sh "
            "or point FRONTDESK_CHROMIUM at one"
        )
    return None


class LiveService:
    """Frontdesk listening on a loopback port, with a scripted bot; can be stopped and started
    again on the same port (a dropped connection, as the widget sees it)."""

    def __init__(self, app: FastAPI, engine: Engine, bot: ScriptedBot, port: int) -> None:
        self.app, self.engine, self.bot, self.port = app, engine, bot, port
        self.base_url = f"http://127.0.0.1:{port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve until `stop`; returns once the port accepts connections."""
        server = uvicorn.Server(
            uvicorn.Config(
                self.app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
            )
        )
        thread = threading.Thread(target=server.run, name="frontdesk-uvicorn", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.05)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        """Shut the server down (open sockets are closed, as in a restart)."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
        self._server = self._thread = None

    def latest_code(self, phone: str) -> str:
        """The last one-time code queued for `phone` (the SMS sandbox keeps every text)."""
        with Session(self.engine) as db:
            body = db.scalar(
                select(OutboundSms.body)
                .where(OutboundSms.kind == "otp", OutboundSms.to_phone == phone)
                .order_by(OutboundSms.id.desc())
                .limit(1)
            )
        found = re.search(r"\b(\d{6})\b", body or "")
        assert found is not None, "no one-time code was queued"
        return found.group(1)

    def add_staff(self, email: str, name: str, role: StaffRole = StaffRole.FRONT_DESK) -> int:
        """Create a staff account with STAFF_PASSWORD."""
        with session_scope(make_session_factory(self.engine, clock=system_clock)) as session:
            return create_staff_account(
                session=session,
                practice_id=seed_demo(session).id,
                email=email,
                display_name=name,
                role=role,
                password=STAFF_PASSWORD,
                now=system_clock(),
            ).id


@contextmanager
def live_service(
    data_dir: Path, replies: Callable[[str], list[Reply]], *, render_templates: bool = False
) -> Iterator[LiveService]:
    """Migrate and seed a SQLite database, then serve the real app with uvicorn in a thread.

    `render_templates` lets the bot double fill response templates the actions dispatch.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{data_dir / 'frontdesk.db'}")
    upgrade(engine)
    with session_scope(make_session_factory(engine, clock=system_clock)) as session:
        seed_demo(session)
    port = free_port()
    settings = Settings(
        env="test",
        data_dir=data_dir,
        port=port,
        internal_token=INTERNAL_TOKEN,
        rasa_token="browser-test-rasa-token",
        secret_key="browser-test-secret-key",
        # The browser reaches the console over plain http on loopback in these tests.
        session_cookie_secure=False,
        sms_worker_enabled=False,
        reminders_enabled=False,
    )
    bot = ScriptedBot(replies, render_templates=render_templates)
    app = create_app(settings, engine=engine, bot=bot)
    bot.attach(app, INTERNAL_TOKEN)
    service = LiveService(app, engine, bot, port)
    service.start()
    try:
        yield service
    finally:
        service.stop()
        engine.dispose()


HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Example clinic (test host page)</title>
<link rel="icon" href="data:,">
<style>* {{ font-family: Georgia, serif; }} button {{ background: hotpink !important; }}</style>
</head><body><main><h1>Example clinic</h1><p>A test page on another origin.</p>
<button type="button">Host button</button></main>
<script src="{service}/widget.js" data-practice="{slug}" data-open="true" async></script>
</body></html>
"""


@contextmanager
def host_page(service_url: str, *, slug: str = "riverside") -> Iterator[int]:
    """Serve a page embedding the widget on another port; yields that port."""
    body = HOST_PAGE.format(service=service_url, slug=slug).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="host-page", daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
