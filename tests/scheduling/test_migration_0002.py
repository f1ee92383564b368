"""Upgrading to 0002 keeps every booked block (SQLite rebuilds the appointments table)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from frontdesk.db import make_engine
from frontdesk.migrate import alembic_config, upgrade

ROWS = [
    "INSERT INTO practices (id, slug, name, timezone, min_lead_minutes, max_horizon_days,"
    " created_at) VALUES (1, 'p', 'P', 'America/New_York', 120, 90, '2026-11-01 00:00:00')",
    "INSERT INTO locations (id, practice_id, name, address) VALUES (1, 1, 'Main', 'Street 1')",
    "INSERT INTO providers (id, practice_id, location_id, display_name, active)"
    " VALUES (1, 1, 1, 'Dr. A', 1)",
    "INSERT INTO patients (id, practice_id, first_name, last_name, match_key, date_of_birth,"
    " created_at) VALUES (1, 1, 'Test', 'Person', 'test person', '1980-01-01',"
    " '2026-11-01 00:00:00')",
    "INSERT INTO visit_types (id, practice_id, code, name, duration_minutes, keywords, active)"
    " VALUES (1, 1, 'v', 'Visit', 10, '', 1)",
    "INSERT INTO appointments (id, practice_id, provider_id, location_id, patient_id,"
    " visit_type_id, start_at, end_at, status, source, created_at) VALUES (1, 1, 1, 1, 1, 1,"
    " '2026-12-01 14:00:00', '2026-12-01 14:10:00', 'booked', 'webchat', '2026-11-01 00:00:00')",
    "INSERT INTO appointment_blocks (id, practice_id, provider_id, block_start, appointment_id)"
    " VALUES (1, 1, 1, '2026-12-01 14:00:00', 1), (2, 1, 1, '2026-12-01 14:05:00', 1)",
]


def test_upgrade_and_downgrade_keep_booked_blocks_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade(engine, "0001")
        with engine.begin() as connection:
            for row in ROWS:
                connection.execute(text(row))
        upgrade(engine, "0002")
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM appointment_blocks")) == 2
            assert connection.scalar(text("SELECT late_cancel_hours FROM practices")) == 24
            assert connection.scalar(text("SELECT patient_rule FROM visit_types")) == "any"
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM appointment_blocks")) == 2
            assert connection.scalar(text("SELECT count(*) FROM appointments")) == 1
    finally:
        engine.dispose()
