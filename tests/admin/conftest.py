"""Fixtures for the console's admin pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.auth.support import Console, make_console


@pytest.fixture
def console(sqlite_engine: Engine, tmp_path: Path) -> Iterator[Console]:
    """The app on a fresh SQLite database with the demo practice, nobody signed in."""
    yield from make_console(sqlite_engine, tmp_path)
