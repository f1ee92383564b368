"""Server logs never carry query strings (resume tokens) or PHI, whichever handler writes them."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from frontdesk.logs import install_redaction
from frontdesk.settings import PROJECT_ROOT
from tests.twilio_fake import free_port


def test_websocket_handshake_lines_lose_their_query_string(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_redaction()
    logger = logging.getLogger("uvicorn.error")
    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        logger.info(
            '%s - "WebSocket %s" [accepted]',
            "127.0.0.1:5000",
            "/chat/ws?practice=riverside&resume=SECRET-TOKEN",
        )
    assert "SECRET-TOKEN" not in caplog.text
    assert '"WebSocket /chat/ws?[redacted]" [accepted]' in caplog.text


# Made-up identifiers, planted in an exception a route raises.
PLANTED = ("Jordan Sample", "04/12/1985", "(555) 010-4477")
CRASHING_SERVICE = """
import sys
import uvicorn
from frontdesk.app import create_app
from frontdesk.cli import _configure_logging, server_config
from frontdesk.db import make_engine
from frontdesk.migrate import upgrade
from frontdesk.settings import Settings

data_dir, port, log_format = sys.argv[1], int(sys.argv[2]), sys.argv[3]
settings = Settings(
    _env_file=None, env="test", data_dir=data_dir, port=port, log_format=log_format,
    secret_key="s" * 32,
    internal_token="i" * 32, rasa_token="r" * 32, sms_worker_enabled=False,
    reminders_enabled=False,
)
engine = make_engine(settings.sqlalchemy_url)
upgrade(engine)
engine.dispose()
_configure_logging(settings)
app = create_app(settings)


@app.get("/crash")
async def crash() -> None:
    raise LookupError("no chart for Jordan Sample, DOB 04/12/1985, phone (555) 010-4477")


uvicorn.Server(server_config(app, settings)).run()
"""


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_crash_traceback_through_uvicorns_own_handler_is_scrubbed(
    tmp_path: Path, log_format: str
) -> None:
    port = free_port()
    script = tmp_path / "service.py"
    script.write_text(CRASHING_SERVICE)
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), str(port), log_format],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        status = _get_when_up(f"http://127.0.0.1:{port}/crash", process)
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    log = output.decode()
    assert status == 500
    assert "Exception in ASGI application" in log and "LookupError" in log  # it was logged
    for identifier in PLANTED:
        assert identifier not in log
    if log_format == "json":  # one object a line, the traceback inside its record
        # Everything the server logged, up to its last line (after it, the script's own
        # exit on SIGINT prints an interpreter traceback, which is not a log record).
        lines = [line for line in log.splitlines() if line.strip()]
        last = next(i for i, line in enumerate(lines) if "Finished server process" in line)
        entries = [json.loads(line) for line in lines[: last + 1]]
        crash = [e for e in entries if e["message"].strip() == "Exception in ASGI application"]
        assert crash and crash[0]["logger"] == "uvicorn.error"
        assert "LookupError" in crash[0]["exception"]
        assert {"time", "level", "logger", "message"} <= set(entries[0])


def _get_when_up(url: str, process: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 120  # only to avoid hanging: importing the app is slow
    while time.monotonic() < deadline and process.poll() is None:
        try:
            return httpx.get(url, timeout=10).status_code
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the service did not start")
