"""The end-to-end group: the real product started with `frontdesk run` (Rasa + service)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.e2e.conversations.runner import STACK_ENV
from tests.support.stack import Stack, running_stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests here that use the running stack need Rasa and a trained model.

    The first of them also pays for training a model when bot/ changed (2-4 minutes on two
    cores) and for Rasa's start-up, hence the longer timeout. Browser tests that serve the app
    with a bot double need neither and stay in `make test-fast`.
    """
    for item in items:
        if "/e2e/" in str(item.fspath) and "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.rasa)
            item.add_marker(pytest.mark.timeout(1200))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One running Frontdesk for the whole group (Rasa takes ~30 s to load a model)."""
    if os.environ.get("FRONTDESK_SKIP_RASA") == "1":
        pytest.skip("FRONTDESK_SKIP_RASA=1: the Rasa end-to-end group was switched off")
    # Signed SMS webhooks and prompt reminders too, for the scripted conversations.
    with running_stack(tmp_path_factory.mktemp("stack"), extra_env=STACK_ENV) as running:
        yield running
