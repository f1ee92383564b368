"""Leader election: the periodic jobs run in one process of a deployment, not in every replica.

On PostgreSQL the leader is whichever process holds a session-level advisory lock
(`pg_try_advisory_lock`) on a connection of its own. PostgreSQL releases the lock when that
session ends — the process exits, is killed, or its connection drops — and another replica
takes it on its next check. The holder re-checks on every round that its session is alive and
still holds the lock, so a leader cut off from the database stops its jobs rather than running
them beside the new one. On SQLite a deployment is one service process: it always leads.

Leadership saves duplicate work; it is not what keeps a job correct. Between the moment a
leader loses its connection and the moment it notices (one check interval), two processes can
run the same tick, so every job still claims its rows in the database (reminders by a
conditional UPDATE, outbox rows by lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

logger = logging.getLogger(__name__)
PERIODIC_JOBS_LOCK = "frontdesk.periodic-jobs"


def advisory_key(name: str) -> int:
    """A stable signed 64-bit lock key for `name` (the same in every process and release)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class Elector(Protocol):
    """Decides whether this process runs the deployment's periodic jobs."""

    @property
    def leading(self) -> bool:
        """The result of the last check."""

    def check(self) -> bool:
        """Take or confirm leadership (blocking; call from a thread); True while leading."""

    def release(self) -> None:
        """Give leadership up (stop): another process may take it at once."""


class SingleProcessElector:
    """SQLite: one service process writes the database, so it leads."""

    @property
    def leading(self) -> bool:
        """Always."""
        return True

    def check(self) -> bool:
        """Always leading."""
        return True

    def release(self) -> None:
        """Nothing to give up."""


class PostgresElector:
    """Leadership is a session-level advisory lock held on a dedicated connection.

    Args:
        engine: The service engine; only its URL is used (the lock's connection is its own,
            outside the pool, so it never goes back to the pool holding the lock).
        name: What the lock is for; processes electing for the same name compete.
    """

    def __init__(self, engine: Engine, *, name: str = PERIODIC_JOBS_LOCK) -> None:
        self.key = advisory_key(name)
        self._engine = create_engine(
            engine.url,
            poolclass=NullPool,
            connect_args={
                "application_name": "frontdesk-leader",
                "connect_timeout": 5,
                # Let the server notice a vanished leader within a minute (its default is
                # hours), so the lock is freed for another replica.
                "options": "-c tcp_keepalives_idle=20 -c tcp_keepalives_interval=10 "
                "-c tcp_keepalives_count=3",
            },
        )
        self._connection: Connection | None = None
        self._leading = False
        # A check still running in its thread when the service stops must not share the
        # connection with `release`.
        self._guard = threading.Lock()

    @property
    def leading(self) -> bool:
        """The result of the last check."""
        return self._leading

    def check(self) -> bool:
        """Confirm the lock is still ours, or try to take it; False on any database error."""
        with self._guard:
            return self._check()

    def _check(self) -> bool:
        try:
            if self._connection is None:
                self._connection = self._engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT"
                )
            self._leading = self._holds_lock() if self._leading else self._try_lock()
        except SQLAlchemyError as exc:
            # The session is gone or unusable, and with it any lock it held.
            logger.warning("leader check failed (%s); not leading", type(exc).__name__)
            self._drop_connection()
            self._leading = False
        return self._leading

    def release(self) -> None:
        """Unlock and close the connection."""
        with self._guard:
            self._release()

    def _release(self) -> None:
        if self._connection is not None and self._leading:
            with contextlib.suppress(SQLAlchemyError):
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        self._leading = False
        self._drop_connection()
        self._engine.dispose()

    def _try_lock(self) -> bool:
        assert self._connection is not None
        taken = self._connection.scalar(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
        )
        return bool(taken)

    def _holds_lock(self) -> bool:
        # A bigint key is stored as classid (high 32 bits) and objid (low 32), objsubid 1.
        assert self._connection is not None
        held = self._connection.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND pid = pg_backend_pid() AND objsubid = 1"
                " AND classid = ((:key >> 32) & 4294967295)::oid"
                " AND objid = (:key & 4294967295)::oid"
            ),
            {"key": self.key},
        )
        return bool(held)

    def _drop_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._connection.invalidate()
                self._connection.close()
            self._connection = None


def elector_for(engine: Engine) -> Elector:
    """PostgreSQL: an advisory-lock elector; SQLite (one process): always the leader."""
    if engine.dialect.name == "postgresql":
        return PostgresElector(engine)
    return SingleProcessElector()


class PeriodicJob(Protocol):
    """A job that runs only while this process leads (reminder tick, EHR pull, retention)."""

    name: str

    async def start(self) -> None:
        """Begin running (this process just became the leader)."""

    async def stop(self) -> None:
        """Stop running (leadership lost, or the service stops)."""


class LeaderJobs:
    """Checks leadership every `check_seconds`; starts the jobs on gaining it, stops on losing.

    Args:
        elector: Who decides (see `elector_for`).
        jobs: What runs on the leader only.
        check_seconds: How often the lock is re-checked; keep it well under the jobs' own
            intervals, it bounds how long an ousted leader keeps running them.
    """

    def __init__(
        self, elector: Elector, jobs: Sequence[PeriodicJob], *, check_seconds: float = 5.0
    ) -> None:
        self.elector = elector
        self.jobs = list(jobs)
        self.check_seconds = check_seconds
        self.running = False
        self.changes = 0  # how often leadership changed hands here (metrics)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Check once now (a single process starts its jobs at once), then keep checking."""
        await self.check()
        self._task = asyncio.create_task(self._loop(), name="leader-jobs")

    async def check(self) -> None:
        """One round: take or confirm leadership and start or stop the jobs to match."""
        leading = await asyncio.to_thread(self.elector.check)
        if leading and not self.running:
            logger.info("leading: starting %s", ", ".join(j.name for j in self.jobs) or "no jobs")
            self.running = True
            self.changes += 1
            for job in self.jobs:
                try:
                    await job.start()
                except Exception:  # the others still run; this one is logged for operators
                    logger.exception("starting %s failed", job.name)
        elif not leading and self.running:
            logger.warning("no longer leading: stopping the periodic jobs")
            await self._stop_jobs()
            self.changes += 1

    async def stop(self) -> None:
        """Stop the jobs and give leadership up, so another replica takes over at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.running:
            await self._stop_jobs()
        await asyncio.to_thread(self.elector.release)

    async def _stop_jobs(self) -> None:
        self.running = False
        for job in reversed(self.jobs):
            try:
                await job.stop()
            except Exception:  # the others must still stop
                logger.exception("stopping %s failed", job.name)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                await self.check()
            except Exception:  # keep electing; a job that failed to start is retried
                logger.exception("leader round failed")
