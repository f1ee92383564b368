"""`bot/endpoints.scale.yml` read by Rasa 3.6 itself: two instances share the PostgreSQL
tracker store and the Redis lock store (one waits while the other holds a conversation).

Runs Rasa's own store classes in the Rasa environment (Python 3.10) with the environment
`frontdesk run` gives Rasa, against the real PostgreSQL and Redis. No model is needed, but
importing Rasa is slow, so it sits in the Rasa group.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from frontdesk import botctl
from frontdesk.settings import PROJECT_ROOT, Settings
from tests.test_fanout import REDIS_URL

pytestmark = [pytest.mark.rasa, pytest.mark.postgres, pytest.mark.timeout(300)]
RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"

# Two tracker stores and two lock stores, as two Rasa instances would build them.
CHECK = r"""
import asyncio, json, sys, time
from rasa.core.lock_store import LockStore
from rasa.core.tracker_store import TrackerStore
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered

endpoints = AvailableEndpoints.read_endpoints(sys.argv[1])
conversation = sys.argv[2]

async def main():
    stores = [TrackerStore.create(endpoints.tracker_store, domain=Domain.empty()) for _ in "ab"]
    locks = [LockStore.create(endpoints.lock_store) for _ in "ab"]
    tracker = await stores[0].get_or_create_tracker(conversation)
    tracker.update(UserUttered("hello", message_id="m-1"))
    await stores[0].save(tracker)
    seen = await stores[1].retrieve(conversation)
    order = []

    async def second():
        async with locks[1].lock(conversation, lock_lifetime=30, wait_time_in_seconds=0.05):
            order.append("b")

    async with locks[0].lock(conversation, lock_lifetime=30, wait_time_in_seconds=0.05):
        waiting = asyncio.create_task(second())
        await asyncio.sleep(0.5)
        order.append("a")
    await waiting
    print(json.dumps({
        "stores": [type(s).__name__ for s in stores],
        "locks": [type(l).__name__ for l in locks],
        "message_ids": [e.message_id for e in seen.events if isinstance(e, UserUttered)],
        "order": order,
    }))

asyncio.run(main())
"""


@pytest.fixture
def tracker_database() -> Iterator[str]:
    """A throw-away PostgreSQL database for Rasa's tracker store (SQLAlchemy 1.4, psycopg2)."""
    url = os.environ.get("FRONTDESK_TEST_POSTGRES_URL", "")
    if not url:
        pytest.skip("needs FRONTDESK_TEST_POSTGRES_URL")
    admin_url = make_url(url).set(drivername="postgresql+psycopg")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"rasa_tracker_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(drivername="postgresql", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_two_rasa_instances_share_the_tracker_and_take_turns_on_a_conversation(
    tmp_path: Path, tracker_database: str
) -> None:
    if not RASA_PYTHON.exists():
        pytest.skip("needs the Rasa environment (make setup-rasa)")
    settings = Settings(
        env="development",
        _env_file=None,
        data_dir=tmp_path,
        redis_url=REDIS_URL,
        rasa_tracker_url=tracker_database,
        rasa_endpoints=PROJECT_ROOT / "bot" / "endpoints.scale.yml",
    )
    env = botctl.rasa_environment(settings)
    env.update(botctl.redis_lock_store_variables(REDIS_URL))  # whatever this shell has set
    conversation = f"scale-check-{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", CHECK, str(settings.rasa_endpoints), conversation],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {
        "stores": ["SQLTrackerStore", "SQLTrackerStore"],
        "locks": ["RedisLockStore", "RedisLockStore"],
        "message_ids": ["m-1"],  # written through one instance, read through the other
        "order": ["a", "b"],  # the second instance waited for the first one's lock
    }
