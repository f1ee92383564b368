"""A migrated SQLite database that the `frontdesk` command is pointed at, for command tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from frontdesk.cli import app
from frontdesk.db import make_engine
from frontdesk.migrate import upgrade
from frontdesk.settings import get_settings


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A migrated SQLite database in `tmp_path`; FRONTDESK_DATABASE_URL points at it."""
    url = f"sqlite:///{tmp_path / 'frontdesk.db'}"
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", url)
    monkeypatch.setenv("FRONTDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FRONTDESK_ENV", "development")  # a developer's shell (`make`)
    monkeypatch.chdir(tmp_path)  # a developer's .env in the checkout must not be used
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()
    get_settings.cache_clear()


def run(*args: str) -> Any:
    """Run `frontdesk ARGS...` in-process; returns click's result (exit code, output)."""
    return CliRunner().invoke(app, list(args))
