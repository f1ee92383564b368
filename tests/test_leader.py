"""Leader election: periodic jobs run in one process per deployment.

Two electors (as two replicas would have) compete for the advisory lock on the real
PostgreSQL; SQLite, one process, always leads.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from frontdesk.db import make_engine
from frontdesk.leader import (
    LeaderJobs,
    PostgresElector,
    SingleProcessElector,
    advisory_key,
    elector_for,
)
from frontdesk.migrate import upgrade
from frontdesk.periodic import HousekeepingJob, RemindersJob, only_on_leader
from frontdesk.phi import jobs as phi_jobs
from frontdesk.settings import Settings
from tests.auth.support import Console, make_console
from tests.conftest import AT_NOW, empty_database
from tests.support.apps import app_of, portal_of

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def pg_engine(postgres_database: str) -> Iterator[Engine]:
    """The run's PostgreSQL database, migrated; rows committed here are removed after."""
    engine = make_engine(postgres_database)
    upgrade(engine)
    yield engine
    empty_database(engine)
    engine.dispose()


@pytest.fixture
def lock_name() -> str:
    return f"frontdesk.test-{uuid.uuid4().hex[:12]}"


class RecordingJob:
    """A periodic job that notes when it runs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.log: list[str] = []

    async def start(self) -> None:
        self.log.append("start")

    async def stop(self) -> None:
        self.log.append("stop")


def _backend_of(engine: Engine, key: int) -> int:
    """The server process id of the session holding the advisory lock `key`."""
    with engine.connect() as connection:
        pid = connection.scalar(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid = ((:key >> 32) & 4294967295)::oid"
                " AND objid = (:key & 4294967295)::oid"
            ),
            {"key": key},
        )
    assert isinstance(pid, int), "nobody holds the lock"
    return pid


@pytest.mark.postgres
def test_one_of_two_electors_leads_until_it_lets_go(pg_engine: Engine, lock_name: str) -> None:
    a, b = PostgresElector(pg_engine, name=lock_name), PostgresElector(pg_engine, name=lock_name)
    try:
        assert a.check() is True
        assert b.check() is False
        # Re-checked every round: still ours, still not theirs (the lock is not stacked).
        assert (a.check(), b.check(), a.check()) == (True, False, True)
        a.release()
        assert b.check() is True
        assert a.check() is False
    finally:
        a.release()
        b.release()


@pytest.mark.postgres
def test_a_leader_whose_session_dies_is_replaced(pg_engine: Engine, lock_name: str) -> None:
    a, b = PostgresElector(pg_engine, name=lock_name), PostgresElector(pg_engine, name=lock_name)
    try:
        assert (a.check(), b.check()) == (True, False)
        # The leader's connection is cut (database restart, network, a killed replica).
        with pg_engine.connect() as admin:
            admin.execute(
                text("SELECT pg_terminate_backend(:pid)"),
                {"pid": _backend_of(pg_engine, advisory_key(lock_name))},
            )
        assert a.check() is False  # it notices on its next round and stops leading
        assert b.check() is True
        assert a.check() is False  # and does not take it back while b holds it
    finally:
        a.release()
        b.release()


@pytest.mark.postgres
def test_jobs_run_on_one_replica_and_move_when_it_stops(pg_engine: Engine, lock_name: str) -> None:
    async def scenario() -> None:
        job_a, job_b = RecordingJob("tick"), RecordingJob("tick")
        first = LeaderJobs(PostgresElector(pg_engine, name=lock_name), [job_a], check_seconds=60)
        second = LeaderJobs(PostgresElector(pg_engine, name=lock_name), [job_b], check_seconds=60)
        await first.start()
        await second.start()
        assert (first.running, second.running) == (True, False)
        assert (job_a.log, job_b.log) == (["start"], [])
        await first.stop()  # a replica shutting down hands over at once
        await second.check()
        assert (job_a.log, job_b.log) == (["start", "stop"], ["start"])
        await second.stop()
        assert job_b.log == ["start", "stop"]

    asyncio.run(scenario())


@pytest.mark.postgres
def test_two_service_replicas_start_the_reminder_scheduler_once(
    pg_engine: Engine, tmp_path: Path
) -> None:
    options = {"reminders_enabled": True, "leader_check_seconds": 3600.0}
    replica_a = make_console(pg_engine, tmp_path / "a", **options)
    replica_b = make_console(pg_engine, tmp_path / "b", **options)
    a = next(replica_a)
    try:
        b = next(replica_b)
        try:
            leaders = [app_of(c.client).state.leader for c in (a, b)]
            assert [leader.running for leader in leaders] == [True, False]
            assert [_scheduler_of(c) is not None for c in (a, b)] == [True, False]
            _finish(replica_a)  # A stops (a deploy, a crash): B takes over on its next check
            portal_of(b.client).call(leaders[1].check)
            assert leaders[1].running
            assert _scheduler_of(b) is not None
        finally:
            _finish(replica_b)
    finally:
        _finish(replica_a)


def test_on_sqlite_the_single_process_always_leads(sqlite_engine: Engine) -> None:
    elector = elector_for(sqlite_engine)
    assert isinstance(elector, SingleProcessElector)
    assert (elector.check(), elector.leading) == (True, True)
    elector.release()
    assert elector.check()


def test_a_job_that_fails_to_start_or_stop_does_not_stop_the_others() -> None:
    class Broken(RecordingJob):
        async def start(self) -> None:
            raise RuntimeError("no")

        async def stop(self) -> None:
            raise RuntimeError("no")

    async def scenario() -> None:
        healthy = RecordingJob("healthy")
        jobs = LeaderJobs(SingleProcessElector(), [Broken("broken"), healthy], check_seconds=0.01)
        await jobs.start()
        await asyncio.sleep(0.05)  # a few rounds: still leading, nothing restarted twice
        await jobs.stop()
        assert healthy.log == ["start", "stop"]
        assert jobs.changes == 1

    asyncio.run(scenario())


def _scheduler_of(console: Console) -> object | None:
    jobs = app_of(console.client).state.leader.jobs
    reminders = next(job for job in jobs if isinstance(job, RemindersJob))
    return reminders.scheduler


def _finish(replica: Iterator[Console]) -> None:
    """Stop a `make_console` replica (its app shuts down); a no-op once it has stopped."""
    for _ in replica:
        pass


@pytest.mark.postgres
def test_replicas_migrating_at_once_take_turns(postgres_database: str) -> None:
    # A fresh database, as on a first deploy where every replica starts together.
    admin = create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    name = f"frontdesk_migrate_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    fresh = make_url(postgres_database).set(database=name).render_as_string(hide_password=False)
    engines = [make_engine(fresh) for _ in range(3)]
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            for done in [pool.submit(upgrade, engine) for engine in engines]:
                done.result()  # none failed half-way on a table another one created
        with engines[0].connect() as connection:
            versions = connection.scalars(text("SELECT version_num FROM alembic_version")).all()
        assert len(versions) == 1
    finally:
        for engine in engines:
            engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_pass_meant_for_the_leader_runs_only_there() -> None:
    calls: list[str] = []
    leading = [False]

    async def hand_on_pending() -> int:
        calls.append("pass")
        return 2

    guarded = only_on_leader(lambda: leading[0], hand_on_pending)
    assert asyncio.run(guarded()) == 0 and calls == []  # a follower hands nothing on
    leading[0] = True
    assert asyncio.run(guarded()) == 2 and calls == ["pass"]


def test_housekeeping_runs_while_leading_and_is_cancelled_on_stop(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    runs: list[str] = []

    async def housekeeping(settings: Settings, *, clock: object) -> None:
        runs.append("started")
        try:
            await asyncio.Event().wait()
        finally:
            runs.append("cancelled")

    monkeypatch.setattr(phi_jobs, "housekeeping", housekeeping)

    async def scenario() -> None:
        job = HousekeepingJob(
            Settings(env="development", _env_file=None, data_dir=tmp_path), clock=AT_NOW
        )
        jobs = LeaderJobs(SingleProcessElector(), [job], check_seconds=60)
        await jobs.start()
        await asyncio.sleep(0)
        await jobs.stop()
        await job.stop()  # stopping twice is harmless

    asyncio.run(scenario())
    assert runs == ["started", "cancelled"]
