"""Start the real product (`frontdesk run`: Rasa + service) in a temp folder, for the
end-to-end tests and the benchmarks, and talk to it like the widget does."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[2]
FRONTDESK = Path(sys.executable).parent / "frontdesk"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Stack:
    """A running Frontdesk (service + Rasa)."""

    base_url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    @property
    def ws_url(self) -> str:
        """The web chat socket URL."""
        return self.base_url.replace("http://", "ws://") + "/chat/ws"

    def latest_code(self, phone: str) -> str:
        """The last one-time code the service queued for `phone` (the sandbox keeps texts)."""
        with sqlite3.connect(self.data_dir / "frontdesk.db") as db:
            row = db.execute(
                "SELECT body FROM outbound_sms WHERE kind = 'otp' AND to_phone = ? "
                "ORDER BY id DESC LIMIT 1",
                (phone,),
            ).fetchone()
        assert row is not None, "no one-time code was queued"
        found = re.search(r"\b(\d{6})\b", row[0])
        assert found is not None
        return found.group(1)

    def chat(self, practice: str = "riverside", resume: str | None = None) -> ChatClient:
        """Open a web chat connection, as the widget would."""
        url = f"{self.ws_url}?practice={practice}" + ("&resume=1" if resume else "")
        socket = connect(url, open_timeout=10)
        if resume:  # the token goes in the first frame, never in the URL
            socket.send(json.dumps({"type": "resume", "token": resume}))
        return ChatClient(socket)


def stack_env(data_dir: Path, port: int, rasa_port: int) -> dict[str, str]:
    """Environment for a private Frontdesk instance under `data_dir`."""
    env = dict(os.environ)
    env.update(
        {
            "FRONTDESK_ENV": "test",
            "FRONTDESK_DATA_DIR": str(data_dir),
            "FRONTDESK_PORT": str(port),
            "FRONTDESK_RASA_URL": f"http://127.0.0.1:{rasa_port}",
            "FRONTDESK_INTERNAL_TOKEN": secrets.token_urlsafe(16),
            "FRONTDESK_RASA_TOKEN": secrets.token_urlsafe(16),
            "FRONTDESK_SECRET_KEY": secrets.token_urlsafe(16),
            "FRONTDESK_MODEL_CACHE_DIR": os.environ.get(
                "FRONTDESK_MODEL_CACHE_DIR", str(ROOT / "var" / "models")
            ),
            "FRONTDESK_LOG_LEVEL": "WARNING",
            "RASA_TELEMETRY_ENABLED": "false",
        }
    )
    return env


@contextmanager
def running_stack(
    data_dir: Path, *, ready_timeout: float = 300.0, extra_env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """Train if needed, start `frontdesk run`, wait until the bot answers, stop it after."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port, rasa_port = free_port(), free_port()
    env = stack_env(data_dir, port, rasa_port) | (extra_env or {})
    subprocess.run([str(FRONTDESK), "train"], env=env, check=True, cwd=ROOT)
    log = (data_dir / "frontdesk-run.log").open("wb")
    process = subprocess.Popen(
        [str(FRONTDESK), "run"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    stack = Stack(f"http://127.0.0.1:{port}", data_dir, env, process)
    try:
        _wait_ready(stack, ready_timeout)
        yield stack
    finally:
        process.send_signal(signal.SIGINT)  # what Ctrl-C does
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        # Ctrl-C must have stopped Rasa too, not only the service.
        if _listening(rasa_port):
            raise RuntimeError(f"Rasa still listening on {rasa_port} after Ctrl-C")


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait_ready(stack: Stack, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            raise RuntimeError(
                "frontdesk run exited early:\n" + _tail(stack.data_dir / "frontdesk-run.log")
            )
        try:
            health = httpx.get(f"{stack.base_url}/healthz", timeout=2).json()
            if health.get("bot") == "ready":
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError("Frontdesk not ready:\n" + _tail(stack.data_dir / "frontdesk-run.log"))


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ChatClient:
    """The widget's side of the web chat protocol, synchronously."""

    def __init__(self, socket_: ClientConnection) -> None:
        """Wrap an open connection and read the session frame."""
        self.socket = socket_
        self.session = self.receive()
        assert self.session["type"] == "session", self.session
        self._counter = 0

    def receive(self, timeout: float = 60.0) -> dict[str, Any]:
        """The next frame."""
        frame: dict[str, Any] = json.loads(self.socket.recv(timeout=timeout))
        return frame

    def send(self, frame: dict[str, Any]) -> None:
        """Send a frame with a fresh client id."""
        self._counter += 1
        self.socket.send(json.dumps({"client_id": f"t{self._counter}", **frame}))

    def turn(
        self, text: str, payload: str | None = None, timeout: float = 60.0
    ) -> list[dict[str, Any]]:
        """Send a message and collect every frame until the bot has finished its turn."""
        self.send({"type": "message", "text": text, **({"payload": payload} if payload else {})})
        return self.collect_turn(timeout)

    def collect_turn(self, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Frames up to the end of the bot's turn (typing indicator switched off)."""
        frames: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            frame = self.receive(timeout=max(0.1, deadline - time.monotonic()))
            frames.append(frame)
            if frame["type"] == "typing" and frame["active"] is False:
                return frames
            if frame["type"] == "error":
                return frames

    def receive_until(self, kind: str) -> list[dict[str, Any]]:
        """Frames up to and including the first of type `kind` (an error frame fails)."""
        frames: list[dict[str, Any]] = []
        while not frames or frames[-1]["type"] != kind:
            frames.append(self.receive())
            assert frames[-1]["type"] != "error", frames
        return frames

    def close(self) -> None:
        """Close the socket."""
        self.socket.close()


def bot_messages(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the chat messages among frames."""
    return [f for f in frames if f["type"] == "message"]


def buttons(frames: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Every button offered in these frames."""
    return [b for f in bot_messages(frames) for b in f.get("buttons", [])]


def texts(frames: list[dict[str, Any]]) -> str:
    """All bot text in these frames, joined."""
    return "\n".join(f.get("text") or "" for f in bot_messages(frames))
