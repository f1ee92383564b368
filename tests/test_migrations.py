"""Alembic migrations create exactly the schema the models describe, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from frontdesk.models import Base


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_double_booking_guard_is_a_unique_constraint(engine: Engine) -> None:
    uniques = inspect(engine).get_unique_constraints("appointment_blocks")
    assert {"provider_id", "block_start"} in [set(u["column_names"]) for u in uniques]
