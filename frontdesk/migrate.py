"""Apply Alembic migrations from code (used by the CLI, `frontdesk run` and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

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
