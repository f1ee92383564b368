"""Apply Alembic migrations from code (used by the CLI, `frontdesk run` and the tests)."""

from __future__ import annotations

import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from frontdesk.leader import advisory_key

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = "frontdesk.migrations"


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migration scripts."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind `engine` to `revision`.

    On PostgreSQL the upgrade holds a transaction-level advisory lock, so replicas (or a
    migration job and a replica) starting together run it one after the other: the second
    finds the schema current and does nothing, instead of failing half-way.
    """
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(MIGRATION_LOCK)}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def wait_for_database(engine: Engine, seconds: float, *, interval: float = 1.0) -> None:
    """Return once the database accepts a connection; raise after `seconds` without one.

    A migration Job or compose step may start before PostgreSQL listens (a fresh volume, a
    node restart); waiting here beats an orchestrator's crash-loop backoff.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return
        except OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(interval)
