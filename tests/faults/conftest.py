"""The fault suite's fixtures: a line on the terminal (shown even when output is captured) and
a PostgreSQL database of a test's own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from frontdesk.db import make_engine
from frontdesk.migrate import upgrade
from tests.conftest import POSTGRES_URL, _postgres_url


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Write a scenario's counts to pytest's terminal, passing or failing."""
    plugins = request.config.pluginmanager
    terminal = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")

    def write(line: str) -> None:
        if terminal is None or capture is None:
            return
        with capture.global_and_fixture_disabled():  # past pytest's output capture
            terminal.write_line("")
            terminal.write_line(line)

    return write


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    """A fresh, migrated PostgreSQL database of its own (the processes commit for real)."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need FRONTDESK_TEST_POSTGRES_URL (set by .ci/run)")
    admin_url = _postgres_url()
    name = f"frontdesk_faults_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(admin_url).set(database=name).render_as_string(False))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
