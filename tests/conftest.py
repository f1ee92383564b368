"""Shared fixtures: migrated databases (SQLite always, PostgreSQL when configured).

Domain tests get a session inside a transaction that is rolled back. Service tests get the
application wired to a migrated database that is emptied after each test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from frontdesk.audit.service import use_audit_key
from frontdesk.clock import Clock, fixed_clock
from frontdesk.db import CLOCK_KEY, make_engine
from frontdesk.demo import seed_demo
from frontdesk.migrate import upgrade
from frontdesk.models import Base, Practice
from frontdesk.wiring import connect_ports

POSTGRES_URL = os.environ.get("FRONTDESK_TEST_POSTGRES_URL", "")
# Saturday 28 November 2026, 10:00 in New York: a fixed "now" for domain tests.
NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
AT_NOW = fixed_clock(NOW)
TEST_AUDIT_KEY = b"audit-key-for-tests-only"


@pytest.fixture(scope="session", autouse=True)
def ports() -> None:
    """Wire the ports as the service does at start-up (domain tests build no app)."""
    connect_ports()
    use_audit_key(TEST_AUDIT_KEY)  # as `create_app` does from its settings


def _postgres_url() -> str:
    url = make_url(POSTGRES_URL)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throw-away PostgreSQL database for this test run."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need FRONTDESK_TEST_POSTGRES_URL (set by .ci/run)")
    admin_url = _postgres_url()
    name = f"frontdesk_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A database migrated with Alembic, once per backend per run."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'frontdesk.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
    db_engine = make_engine(url)
    upgrade(db_engine)
    yield db_engine
    db_engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session at `NOW` whose work is rolled back after the test (commits become savepoints)."""
    connection = engine.connect()
    transaction = connection.begin()
    db = Session(
        bind=connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        info={CLOCK_KEY: AT_NOW},
    )
    try:
        yield db
    finally:
        db.close()
        transaction.rollback()
        connection.close()


def savepoint_sessions(session: Session, clock: Clock) -> sessionmaker[Session]:
    """Sessions on the test's connection (their work is rolled back with it) at `clock`."""
    return sessionmaker(
        bind=session.connection(),
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        info={CLOCK_KEY: clock},
    )


@pytest.fixture
def practice(session: Session) -> Practice:
    """The demo practice, seeded inside the test's transaction."""
    return seed_demo(session)


def empty_database(engine: Engine) -> None:
    """Delete every row (children first), for tests that commit for real."""
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh, migrated SQLite database for one test that commits for real."""
    db_engine = make_engine(f"sqlite:///{tmp_path / 'frontdesk.db'}")
    upgrade(db_engine)
    yield db_engine
    db_engine.dispose()
