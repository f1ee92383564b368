"""The housekeeping task: demo knowledge warmed, tracker retention applied."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from frontdesk.phi.jobs import housekeeping
from frontdesk.settings import Settings, get_settings
from knowledge.answering import shared_knowledge_base
from tests.conftest import AT_NOW, NOW
from tests.phi.test_tokens import _tracker_db


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in [n for n in os.environ if n.startswith("FRONTDESK_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FRONTDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FRONTDESK_ENV", "development")  # a developer's shell (`make`)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_housekeeping_warms_the_demo_knowledge_and_purges_old_tracker_events(
    data_dir: Path,
) -> None:
    now = NOW.timestamp()
    _tracker_db(data_dir / "rasa-tracker.db", [now - 90 * 86400, now - 60])

    async def run_briefly() -> None:
        task = asyncio.create_task(housekeeping(Settings(), clock=AT_NOW, interval=0.05))
        for _ in range(400):
            await asyncio.sleep(0.05)
            with sqlite3.connect(data_dir / "rasa-tracker.db") as db:
                if db.execute("SELECT count(*) FROM events").fetchone() == (1,):
                    break
        task.cancel()

    asyncio.run(run_briefly())
    with sqlite3.connect(data_dir / "rasa-tracker.db") as db:
        assert db.execute("SELECT count(*) FROM events").fetchone() == (1,)
    assert shared_knowledge_base(Settings()).store.has_collection("riverside")
