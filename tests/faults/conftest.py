"""The fault suite's one fixture: a line on the terminal, shown even when output is captured."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Write a scenario's counts to pytest's terminal, passing or failing."""
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")

    def write(line: str) -> None:
        if terminal is not None:
            terminal.write_line("")
            terminal.write_line(line)

    return write
