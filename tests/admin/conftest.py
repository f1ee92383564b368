"""Fixtures for the admin pages: the real app on a fresh SQLite database, nobody signed in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.auth.support import Console, make_console


@pytest.fixture
def console(sqlite_engine: Engine, tmp_path: Path) -> Iterator[Console]:
    """The console app with the demo practice seeded."""
    yield from make_console(sqlite_engine, tmp_path)
