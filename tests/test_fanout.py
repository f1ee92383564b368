"""Live delivery across processes: two app instances (replicas A and B) share the real Redis.

A patient's socket and a console tab on B see what a staff member does on A and vice versa,
through `RedisChatHub` and `RedisEventBus` behind the unchanged hub and event-bus interfaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine
from starlette.testclient import WebSocketTestSession

from frontdesk.events import Event, InProcessEventBus
from frontdesk.fanout import RedisChatHub, RedisEventBus, RedisFanout, open_live_channels
from frontdesk.hub import InProcessChatHub
from frontdesk.settings import Settings
from tests.auth.support import Console, make_console
from tests.doubles import ScriptedBot
from tests.support.apps import app_of, portal_of, services_of

REDIS_URL = os.environ.get("FRONTDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WIDGET = "/chat/ws?practice=riverside"
LIVE = "wss://testserver/console/ws"
pytestmark = pytest.mark.timeout(60)  # a frame that never arrives must fail, not hang


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
    """Channels of this test only: parallel runs on the same Redis never see each other."""
    return f"frontdesk-test-{uuid.uuid4().hex[:12]}"


def replies(text: str) -> list[dict[str, Any]]:
    if "person" in text:
        return [{"action": "action_escalate", "intent": "request_human"}]
    return [{"text": f"bot heard: {text}"}]


@contextmanager
def replica(engine: Engine, tmp_path: Path, **settings: Any) -> Iterator[Console]:
    """One service process: its own app, bot double and event loop, on the shared database."""
    consoles = make_console(engine, tmp_path, **settings)
    console = next(consoles)
    bot = services_of(console.client).bot
    assert isinstance(bot, ScriptedBot)
    bot.replies = replies
    try:
        yield console
    finally:
        with contextlib.suppress(StopIteration):
            next(consoles)


@pytest.fixture
def replicas(
    sqlite_engine: Engine, tmp_path: Path, redis_url: str, prefix: str
) -> Iterator[tuple[Console, Console]]:
    with ExitStack() as stack:
        a = stack.enter_context(
            replica(sqlite_engine, tmp_path / "a", redis_url=redis_url, redis_channel_prefix=prefix)
        )
        b = stack.enter_context(
            replica(sqlite_engine, tmp_path / "b", redis_url=redis_url, redis_channel_prefix=prefix)
        )
        yield a, b


def frames_until(ws: WebSocketTestSession, kind: str, limit: int = 20) -> list[dict[str, Any]]:
    seen = []
    for _ in range(limit):
        frame = ws.receive_json()
        seen.append(frame)
        if frame.get("type") == kind:
            return seen
    raise AssertionError(f"no {kind} frame in {seen}")


def post(console: Console, path: str, **fields: str) -> Any:
    token = console.page_csrf("/console")
    return console.client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)


def test_a_staff_reply_on_replica_a_reaches_the_patient_socket_on_replica_b(
    replicas: tuple[Console, Console],
) -> None:
    a, b = replicas
    a.add_staff("morgan@riverside.example", name="Morgan Desk")
    assert a.sign_in("morgan@riverside.example").status_code == 303
    # The console tab is held by A; the patient's socket by B.
    with a.client.websocket_connect(LIVE) as live, b.client.websocket_connect(WIDGET) as patient:
        public_id = patient.receive_json()["conversation_id"]
        patient.send_json({"type": "message", "text": "can I talk to a person", "client_id": "p1"})
        frames_until(patient, "handoff")
        # Events published on B (patient message, escalation) reach the console on A.
        assert live.receive_json() == {
            "type": "conversation.patient_message",
            "conversation_id": public_id,
        }
        assert live.receive_json() == {
            "type": "conversation.escalated",
            "conversation_id": public_id,
        }
        page = f"/console/conversations/{public_id}"
        assert post(a, f"{page}/claim").status_code == 303
        assert frames_until(patient, "handoff")[-1] == {
            "type": "handoff",
            "owner": "staff",
            "sender_name": "Morgan Desk",
        }
        assert post(a, f"{page}/reply", text="Hi, this is Morgan.").status_code == 303
        reply = frames_until(patient, "message")[-1]
        assert (reply["role"], reply["sender_name"], reply["text"]) == (
            "staff",
            "Morgan Desk",
            "Hi, this is Morgan.",
        )
    # B's hub carried it; nothing went to B's bot while staff owned the conversation.
    bot_b = services_of(b.client).bot
    assert isinstance(bot_b, ScriptedBot)
    assert bot_b.turns == [(public_id, "can I talk to a person")]


def test_a_bot_reply_arriving_on_replica_a_reaches_the_socket_on_replica_b(
    replicas: tuple[Console, Console],
) -> None:
    a, b = replicas
    with b.client.websocket_connect(WIDGET) as patient:
        public_id = patient.receive_json()["conversation_id"]
        patient.send_json({"type": "message", "text": "hello", "client_id": "p1"})
        assert frames_until(patient, "message")[-1]["text"] == "bot heard: hello"
        # Rasa's callback for this conversation lands on the other replica.
        answer = a.client.post(
            "/internal/rasa/callback",
            headers={"Authorization": "Bearer internal-test-token"},
            json={"recipient_id": public_id, "text": "and one more thing"},
        )
        assert answer.json() == {"stored": True}
        assert frames_until(patient, "message")[-1]["text"] == "and one more thing"


def test_a_frame_reaches_each_socket_once_and_in_order(replicas: tuple[Console, Console]) -> None:
    a, b = replicas
    with a.client.websocket_connect(WIDGET) as on_a:
        public_id = on_a.receive_json()["conversation_id"]
        portal_a, portal_b = portal_of(a.client), portal_of(b.client)
        fanout_a = app_of(a.client).state.live.fanout
        assert isinstance(fanout_a, RedisFanout) and fanout_a.connected
        frames = [{"type": "message", "id": n, "text": f"frame {n}"} for n in (1, 2, 3)]
        assert portal_a.call(services_of(a.client).hub.publish, public_id, frames[0]) == 1
        assert portal_a.call(services_of(a.client).hub.publish, public_id, frames[1]) == 1
        portal_a.call(_until, lambda: fanout_a.stats.published == 2)
        # B holds no socket for it: 0 locally, and the frame reaches A through Redis, after
        # A's own two frames came back from Redis (and were skipped, not shown twice).
        assert portal_b.call(services_of(b.client).hub.publish, public_id, frames[2]) == 0
        assert [on_a.receive_json() for _ in frames] == frames


def test_without_a_redis_url_the_hub_and_bus_stay_in_process(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    with replica(sqlite_engine, tmp_path) as console:
        services = services_of(console.client)
        assert isinstance(services.hub, InProcessChatHub)
        assert isinstance(services.events, InProcessEventBus)
        assert app_of(console.client).state.live.fanout is None


def test_a_dropped_subscription_reconnects_and_delivery_resumes(
    redis_url: str, prefix: str
) -> None:
    asyncio.run(_reconnect_scenario(redis_url, prefix))


async def _reconnect_scenario(redis_url: str, prefix: str) -> None:
    sender, receiver = RedisFanout(redis_url, prefix=prefix), RedisFanout(redis_url, prefix=prefix)
    bus_a, bus_b = RedisEventBus(sender), RedisEventBus(receiver)
    await sender.start()
    await receiver.start()
    try:
        async with bus_b.subscribe() as queue:
            bus_a.publish(Event("conversation.escalated", 7, {"conversation_id": "c-1"}))
            assert await asyncio.wait_for(queue.get(), 5) == Event(
                "conversation.escalated", 7, {"conversation_id": "c-1"}
            )
            # Redis drops the receiver's connections (a restart, a network blip).
            admin = redis.Redis.from_url(redis_url)
            killed = [
                admin.client_kill_filter(_id=client["id"])
                for client in admin.client_list()
                if client.get("name") == receiver.client_name
            ]
            admin.close()
            assert killed
            await asyncio.wait_for(_until(lambda: receiver.stats.reconnects > 0), 10)
            await asyncio.wait_for(_until(lambda: receiver.connected), 10)
            bus_a.publish(Event("conversation.claimed", 7, {"conversation_id": "c-1"}))
            assert (await asyncio.wait_for(queue.get(), 5)).kind == "conversation.claimed"
        assert receiver.stats.received == 2
        assert sender.stats.published == 2
    finally:
        await sender.stop()
        await receiver.stop()


def test_with_redis_down_publishing_never_blocks_and_local_sockets_still_get_frames(
    prefix: str,
) -> None:
    asyncio.run(_redis_down_scenario(prefix))


async def _redis_down_scenario(prefix: str) -> None:
    fanout = RedisFanout("redis://127.0.0.1:1/0", prefix=prefix, buffer_size=2)
    hub = RedisChatHub(fanout)
    await fanout.start(wait_seconds=0.2)  # logs, does not raise
    try:
        assert not fanout.connected
        assert not await fanout.ping()

        class Socket:
            def __init__(self) -> None:
                self.frames: list[Any] = []

            async def send_json(self, data: Any) -> None:
                self.frames.append(data)

        socket = Socket()
        hub.attach("c-1", socket)
        for n in range(4):
            assert await asyncio.wait_for(hub.publish("c-1", {"n": n}), 1) == 1
        assert socket.frames == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}]
        assert fanout.stats.dropped >= 2  # the buffer holds two; older frames go first
        assert fanout.stats.published == 0
    finally:
        await fanout.stop()


def test_open_live_channels_picks_by_setting(redis_url: str, prefix: str) -> None:
    asyncio.run(_open_scenario(redis_url, prefix))


async def _open_scenario(redis_url: str, prefix: str) -> None:
    embedded = await open_live_channels("", prefix=prefix)
    assert embedded.fanout is None
    await embedded.close()
    shared = await open_live_channels(redis_url, prefix=prefix)
    try:
        assert isinstance(shared.hub, RedisChatHub)
        assert shared.fanout is not None and await shared.fanout.ping()
    finally:
        await shared.close()


async def _until(condition: Any) -> None:
    while not condition():  # noqa: ASYNC110 - polls counters another task updates
        await asyncio.sleep(0.05)


def test_a_redis_url_that_is_not_one_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="FRONTDESK_REDIS_URL"):
        Settings(env="development", _env_file=None, redis_url="127.0.0.1:6379")
    assert Settings(
        env="development", _env_file=None, redis_url=" redis://cache:6379/0 "
    ).redis_url == ("redis://cache:6379/0")


def test_metrics_show_the_fan_out_link(
    sqlite_engine: Engine, tmp_path: Path, redis_url: str, prefix: str
) -> None:
    token = "metrics-test-token"
    with replica(
        sqlite_engine,
        tmp_path,
        redis_url=redis_url,
        redis_channel_prefix=prefix,
        metrics_token=token,
    ) as console:
        event = Event("conversation.escalated", 1, {})
        portal_of(console.client).call(services_of(console.client).events.publish, event)
        fanout = app_of(console.client).state.live.fanout
        portal_of(console.client).call(_until, lambda: fanout.stats.published == 1)
        scrape = console.client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert "frontdesk_fanout_connected 1.0" in scrape.text
        assert 'frontdesk_fanout_messages_total{direction="published"} 1.0' in scrape.text
        assert console.client.get("/healthz").json()["fanout"] == "connected"
        assert console.client.get("/readyz").json()["checks"]["fanout"] == "connected"
