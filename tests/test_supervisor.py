"""Rasa supervised by `frontdesk run`: a child that dies is restarted with backoff, and
`/healthz` says so. Rasa is a fake `rasa` executable in a fake Rasa venv that exits at once
(its first launches) and then stays up, as a crashing and then recovering Rasa would."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from frontdesk import botctl, cli
from frontdesk.settings import PROJECT_ROOT, Settings
from frontdesk.supervisor import RasaSupervisor

pytestmark = pytest.mark.timeout(120)

# Exits with code 3 on its first two launches, then stays up (it never serves /status).
FAKE_RASA = """#!/bin/sh
echo "$$" >> "$FAKE_RASA_LAUNCHES"
if [ "$(wc -l < "$FAKE_RASA_LAUNCHES")" -le 2 ]; then exit 3; fi
exec sleep 60
"""


def fake_rasa_venv(root: Path) -> Path:
    rasa = root / "rasa-venv" / "bin" / "rasa"
    rasa.parent.mkdir(parents=True)
    rasa.write_text(FAKE_RASA)
    rasa.chmod(0o755)
    return rasa.parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_supervisor_restarts_a_dying_child_with_backoff(tmp_path: Path) -> None:
    launches = tmp_path / "launches"
    script = fake_rasa_venv(tmp_path) / "bin" / "rasa"
    exits: list[int] = []

    def launch() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(script)], env={**os.environ, "FAKE_RASA_LAUNCHES": str(launches)},
            start_new_session=True,
        )  # fmt: skip

    async def scenario() -> RasaSupervisor:
        supervisor = RasaSupervisor(
            launch, base_seconds=0.1, max_seconds=0.2, poll_seconds=0.02, on_exit=exits.append
        )
        supervisor.start()
        assert supervisor.status().state == "starting"
        supervisor.watch()
        deadline = time.monotonic() + 20
        while supervisor.restarts < 2 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        supervisor.mark_running()
        return supervisor

    supervisor = asyncio.run(scenario())
    status = supervisor.status()
    assert (status.restarts, status.last_exit_code, status.state) == (2, 3, "running")
    assert exits == [3, 3]
    assert status.pid is not None and _alive(status.pid)
    supervisor.stop()
    assert not _alive(status.pid)
    assert supervisor.status().as_json() == {
        "supervised": True,
        "state": "stopped",
        "restarts": 2,
        "last_exit_code": 3,
        "pid": None,
    }
    assert len(launches.read_text().split()) == 3


def test_frontdesk_run_restarts_rasa_and_healthz_says_so(tmp_path: Path) -> None:
    venv = fake_rasa_venv(tmp_path)
    models = tmp_path / "models"
    # A cached model for the current bot/: `run` reuses it and trains nothing.
    settings = Settings(
        env="development", _env_file=None, data_dir=tmp_path, model_cache_dir=models
    )
    cached = botctl.model_path(settings)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"model")
    port = _free_port()
    env = {
        **os.environ,
        "FAKE_RASA_LAUNCHES": str(tmp_path / "launches"),
        "FRONTDESK_ENV": "test",
        "FRONTDESK_SECRET_KEY": "secret-test-key",
        "FRONTDESK_INTERNAL_TOKEN": "internal-test-token",
        "FRONTDESK_RASA_TOKEN": "rasa-test-token",
        "FRONTDESK_DATA_DIR": str(tmp_path),
        "FRONTDESK_DATABASE_URL": "",
        "FRONTDESK_MODEL_CACHE_DIR": str(models),
        "FRONTDESK_RASA_VENV": str(venv),
        "FRONTDESK_RASA_URL": f"http://127.0.0.1:{_free_port()}",
        "FRONTDESK_PORT": str(port),
        "FRONTDESK_RASA_RESTART_MAX_SECONDS": "0.5",
        "FRONTDESK_SMS_WORKER_ENABLED": "false",
        "FRONTDESK_REMINDERS_ENABLED": "false",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    service = subprocess.Popen(
        [sys.executable, "-m", "frontdesk", "run", "--no-seed"],
        cwd=tmp_path,  # no developer .env
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        health = _wait_for_restarts(port, service, restarts=2)
        rasa = health["rasa"]
        assert (rasa["supervised"], rasa["last_exit_code"]) == (True, 3)
        assert rasa["state"] == "starting"  # up again, model not loaded (the fake never is)
        assert health["bot"] == "unavailable"
        assert httpx.get(f"http://127.0.0.1:{port}/livez").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 503
        child = rasa["pid"]
        assert isinstance(child, int) and _alive(child)
        service.send_signal(signal.SIGTERM)
        output = service.communicate(timeout=30)[0].decode()
    finally:
        if service.poll() is None:
            os.killpg(service.pid, signal.SIGKILL)
            service.wait()
    assert service.returncode == 0, output
    assert output.count("Rasa exited with code 3; restarting in 0.5 s") == 2
    assert "why Rasa stopped: see" in output
    assert "stopping Rasa" in output
    assert not _alive(child)  # stopping the service stopped its Rasa


def _wait_for_restarts(port: int, service: subprocess.Popen[bytes], restarts: int) -> Any:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise AssertionError(service.communicate()[0].decode())
        try:
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
        except httpx.HTTPError:
            health = None
        if health is not None and health["rasa"].get("restarts", 0) >= restarts:
            return health
        time.sleep(0.2)
    raise AssertionError("Rasa was not restarted in time")


def test_run_supervises_the_rasa_of_the_cached_model(tmp_path: Path) -> None:
    # The pieces of `frontdesk run` in this process: the child starts from the cached model's
    # command line (the fake records it), and a stop ends it.
    venv = fake_rasa_venv(tmp_path)
    settings = Settings(
        env="development",
        _env_file=None,
        data_dir=tmp_path,
        model_cache_dir=tmp_path / "models",
        rasa_venv=venv,
        rasa_restart_max_seconds=0.5,
    )
    cached = botctl.model_path(settings)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"model")
    (tmp_path / "logs").mkdir()
    os.environ["FAKE_RASA_LAUNCHES"] = str(tmp_path / "launches")
    try:
        supervisor = cli._supervise_rasa(settings)
    finally:
        del os.environ["FAKE_RASA_LAUNCHES"]
    assert supervisor.status().state == "starting"
    assert supervisor.process is not None
    supervisor.process.wait(timeout=10)  # the fake's first launch exits with 3
    assert supervisor.process.returncode == 3
    supervisor.stop()
    assert supervisor.status().state == "stopped"


def test_the_readiness_watcher_announces_once_and_marks_rasa_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    status = {"model_id": "frontdesk-1"}

    class Status(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(status).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    rasa = ThreadingHTTPServer(("127.0.0.1", 0), Status)
    threading.Thread(target=rasa.serve_forever, daemon=True).start()
    settings = Settings(
        env="development",
        _env_file=None,
        data_dir=tmp_path,
        rasa_url=f"http://127.0.0.1:{rasa.server_port}",
    )
    supervisor = RasaSupervisor(lambda: subprocess.Popen(["true"]))
    supervisor.start()

    class Server:
        started = True
        should_exit = False

    async def scenario() -> None:
        server = Server()
        watcher = asyncio.create_task(cli._watch_readiness(settings, server, supervisor))  # type: ignore[arg-type]
        deadline = time.monotonic() + 10
        while supervisor.state != "running" and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        seen.append(supervisor.state)
        server.should_exit = True
        await asyncio.wait_for(watcher, 5)

    seen: list[str] = []

    printed: list[str] = []
    monkeypatch.setattr(cli, "_echo", printed.append)
    try:
        asyncio.run(scenario())
    finally:
        rasa.shutdown()
        rasa.server_close()
        supervisor.stop()
    assert seen == ["running"]  # Rasa answered with a model: the supervisor was told
    assert supervisor.restarts == 0
    assert len(printed) == 1 and "Frontdesk is ready" in printed[0]
