"""The scale test's fixtures (the fault suite's and the Rasa-scale test's, reused), and the
rule that only `make test-scale` (`pytest -m scale`) runs it: it starts two Rasa instances
(about 2.6 GB and a minute of both cores), far more than `make test` should carry."""

from __future__ import annotations

import pytest

from tests.faults.conftest import postgres_engine, report
from tests.test_rasa_scale import tracker_database

__all__ = ["postgres_engine", "report", "tracker_database"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the scale test unless the run selected it by its marker (`-m scale`)."""
    if "scale" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="the scale test runs only with `make test-scale` (-m scale)")
    for item in items:
        if item.get_closest_marker("scale"):
            item.add_marker(skip)
