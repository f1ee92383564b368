"""Supervising the Rasa child of `frontdesk run`: restarted with backoff whenever it dies.

While Rasa is down, patients' messages are stored and acknowledged as usual (the channels
hand them on once the bot answers again); `/healthz` reports the child's state and restarts,
and `/readyz` is not ready until Rasa has its model loaded again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

logger = logging.getLogger(__name__)
State = Literal["starting", "running", "restarting", "stopped"]


@dataclass(frozen=True)
class SupervisedStatus:
    """What `/healthz` shows about the Rasa child (no command lines, no tokens)."""

    state: State
    restarts: int
    last_exit_code: int | None
    pid: int | None

    def as_json(self) -> dict[str, object]:
        """The health page's `rasa` section."""
        return {
            "supervised": True,
            "state": self.state,
            "restarts": self.restarts,
            "last_exit_code": self.last_exit_code,
            "pid": self.pid,
        }


class RasaSupervisor:
    """Starts the child, watches it, and restarts it after `backoff` when it exits.

    The wait doubles from `base_seconds` up to `max_seconds` while the child keeps dying, and
    starts again from `base_seconds` once it stayed up for `stable_seconds`.

    Args:
        launch: Starts the child in its own process group (and returns it).
        base_seconds: First wait before a restart.
        max_seconds: Longest wait between restarts.
        stable_seconds: An uptime after which an exit counts as a first failure again.
        poll_seconds: How often the child is checked.
        on_exit: Told each exit code (the CLI prints where the log is).
    """

    def __init__(
        self,
        launch: Callable[[], subprocess.Popen[bytes]],
        *,
        base_seconds: float = 1.0,
        max_seconds: float = 60.0,
        stable_seconds: float = 300.0,
        poll_seconds: float = 0.5,
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        self._launch = launch
        self._base = base_seconds
        self._max = max(max_seconds, base_seconds)
        self._stable = stable_seconds
        self._poll = poll_seconds
        self._on_exit = on_exit
        self.process: subprocess.Popen[bytes] | None = None
        self.state: State = "stopped"
        self.restarts = 0
        self.last_exit_code: int | None = None
        self._started_at = 0.0
        self._task: asyncio.Task[None] | None = None

    def status(self) -> SupervisedStatus:
        """The child's state now."""
        pid = self.process.pid if self.process is not None and self.state != "stopped" else None
        return SupervisedStatus(self.state, self.restarts, self.last_exit_code, pid)

    def start(self) -> None:
        """Start the child (blocking call; before the event loop runs, or from a thread)."""
        self.process = self._launch()
        self._started_at = time.monotonic()
        self.state = "starting"

    def mark_running(self) -> None:
        """The child answered with its model loaded (the CLI's readiness watcher says so)."""
        if self.state == "starting":
            self.state = "running"

    def watch(self) -> asyncio.Task[None]:
        """Watch and restart in the running event loop until `stop`."""
        self._task = asyncio.create_task(self._watch(), name="rasa-supervisor")
        return self._task

    async def _watch(self) -> None:
        delay = self._base
        while True:
            await asyncio.sleep(self._poll)
            process = self.process
            if process is None or process.poll() is None:
                continue
            self.last_exit_code = process.returncode
            if time.monotonic() - self._started_at >= self._stable:
                delay = self._base  # it ran fine for a while: this is a new failure
            self.state = "restarting"
            logger.error(
                "Rasa exited with code %s; restarting in %.1f s", process.returncode, delay
            )
            if self._on_exit is not None:
                self._on_exit(process.returncode)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max)
            try:
                await asyncio.to_thread(self.start)
            except OSError:  # the executable vanished; try again after the next wait
                logger.exception("restarting Rasa failed")
                continue
            self.restarts += 1

    def stop(self, *, timeout: float = 15.0) -> None:
        """Stop watching, then stop the child's whole process group (TERM, then KILL)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        process = self.process
        self.state = "stopped"
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
