"""Fixtures for the insights pages: the real app on a migrated SQLite file, staff signed in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from frontdesk.auth.models import StaffRole
from tests.auth.support import Console, make_console


@pytest.fixture
def console(sqlite_engine: Engine, tmp_path: Path) -> Iterator[Console]:
    """The app on a fresh SQLite database, nobody signed in."""
    yield from make_console(sqlite_engine, tmp_path)


@pytest.fixture
def manager(console: Console) -> int:
    """A practice manager, signed in."""
    staff_id = console.add_staff("pat@riverside.example", StaffRole.MANAGER, name="Pat Manager")
    assert console.sign_in("pat@riverside.example").status_code == 303
    return staff_id
