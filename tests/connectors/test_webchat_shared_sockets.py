"""Open web chat sockets per address, counted over two app instances sharing the real Redis."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.webchat import limits
from connectors.webchat.limits import SocketCounter
from connectors.webchat.shared_sockets import RedisSocketCounter
from frontdesk.app import create_app
from frontdesk.db import make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.settings import Settings
from tests.conftest import AT_NOW, NOW
from tests.connectors.test_webchat import TOKEN, WS, offer
from tests.doubles import ScriptedBot

REDIS_URL = os.environ.get("FRONTDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def redis_url() -> str:
    """The real Redis; skipped only outside CI when it is not running."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is unreachable in CI: {exc}")
        pytest.skip(f"needs Redis at {REDIS_URL} (FRONTDESK_TEST_REDIS_URL): {exc}")
    return REDIS_URL


@pytest.fixture
def prefix() -> str:
    """Keys of this test only: parallel runs on the same Redis never see each other."""
    return f"frontdesk-test-{uuid.uuid4().hex[:12]}"


@contextmanager
def instance(engine: Engine, tmp_path: Path, **overrides: str) -> Iterator[TestClient]:
    """One service process on the shared database, with its own app and event loop."""
    settings = Settings(
        env="test",
        allowed_hosts="testserver",
        data_dir=tmp_path,
        internal_token=TOKEN,
        rasa_token="rasa-test-token",
        secret_key="secret-test-key",
        **overrides,  # type: ignore[arg-type]
    )
    bot = ScriptedBot(offer)
    app = create_app(settings, engine=engine, bot=bot, clock=lambda: NOW)
    bot.attach(app, TOKEN)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def two_instances(
    sqlite_engine: Engine,
    tmp_path: Path,
    redis_url: str,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[TestClient, TestClient]]:
    monkeypatch.setattr(limits, "MAX_SOCKETS_PER_CLIENT", 2)
    with session_scope(make_session_factory(sqlite_engine, clock=AT_NOW)) as db:
        seed_demo(db)
    shared = {"redis_url": redis_url, "redis_channel_prefix": prefix}
    with ExitStack() as stack:
        a = stack.enter_context(instance(sqlite_engine, tmp_path / "a", **shared))
        b = stack.enter_context(instance(sqlite_engine, tmp_path / "b", **shared))
        yield a, b


def test_the_socket_limit_holds_over_two_instances_sharing_redis(
    two_instances: tuple[TestClient, TestClient],
) -> None:
    a, b = two_instances
    with a.websocket_connect(WS) as on_a:
        assert on_a.receive_json()["type"] == "session"
        with b.websocket_connect(WS) as on_b:
            assert on_b.receive_json()["type"] == "session"
            # Each instance holds one socket: the third, on either, is over the shared limit.
            for other in (a, b):
                with other.websocket_connect(WS) as third:
                    assert third.receive_json()["code"] == "too_many_connections"
        with a.websocket_connect(WS) as again:  # B's socket closed: its place is free
            assert again.receive_json()["type"] == "session"


def test_without_redis_each_process_counts_its_own(sqlite_engine: Engine, tmp_path: Path) -> None:
    with instance(sqlite_engine, tmp_path) as client:
        assert isinstance(client.app.state.webchat_sockets, SocketCounter)  # type: ignore[attr-defined]


def test_a_dead_processs_sockets_stop_counting_when_their_lease_runs_out(
    redis_url: str, prefix: str
) -> None:
    # Leases of 2 s (renewed every 2/3 s) and a wait of 3 s: on a loaded CI machine a 0.4 s
    # lease could run out between two renewals of the live socket, and the test raced.
    lease = 2.0

    async def scenario() -> tuple[bool, bool, bool]:
        dead = RedisSocketCounter(redis_url, prefix=prefix, limit=1, lease_seconds=lease)
        alive = RedisSocketCounter(redis_url, prefix=prefix, limit=1, lease_seconds=lease)
        renewing = RedisSocketCounter(redis_url, prefix=f"{prefix}-r", limit=1, lease_seconds=lease)
        other = RedisSocketCounter(redis_url, prefix=f"{prefix}-r", limit=1, lease_seconds=lease)
        await renewing.start()
        try:
            assert await dead.acquire("client")  # never renewed, never released: a crash
            assert not await alive.acquire("client")
            assert await renewing.acquire("client")  # renewed while it stays open
            await asyncio.sleep(1.5 * lease)
            return (
                await alive.acquire("client"),
                await other.acquire("client"),
                await alive.acquire("client"),
            )
        finally:
            for counter in (dead, alive, renewing, other):
                await counter.close()

    after_lease, while_renewed, second = asyncio.run(scenario())
    assert after_lease  # the dead process's socket no longer counts
    assert not while_renewed  # a live process's socket still does
    assert not second  # and the limit holds again
