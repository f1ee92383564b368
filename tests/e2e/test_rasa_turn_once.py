"""Rasa runs a patient turn's dialogue once, however often the service delivers it.

The service resends a turn whose send timed out unless Rasa's tracker shows it, and Rasa saves
the tracker only at the end of a turn; so a resend can reach Rasa while it is still on the
first delivery. Our callback channel (bot/channels/frontdesk_callback.py) looks for the turn
inside the conversation's lock. Here both deliveries go to the running stack's real Rasa at
once, through the service's own client, so the second waits for the lock the first holds:
with Rasa's in-memory lock store (the group's stack) and with the Redis lock store and the
PostgreSQL tracker store of bot/endpoints.scale.yml (a stack of its own, about 25 s).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from connectors.rasa import TURN_METADATA_KEY, RasaClient
from frontdesk.settings import PROJECT_ROOT
from tests.e2e.conversations.runner import STACK_ENV
from tests.support.stack import Stack, running_stack
from tests.test_fanout import REDIS_URL
from tests.test_rasa_scale import tracker_database  # noqa: F401 - a fixture, used below

GREETING = "hello"  # no patient data: the conversation is unknown to the service


async def _send(
    client: RasaClient,
    conversation: str,
    message_id: str | None,
    spans: list[tuple[float, float]],
) -> None:
    started = time.monotonic()
    await client.send_user_turn(conversation, GREETING, message_id=message_id, language="en")
    spans.append((started, time.monotonic()))


def _events(stack: Stack, conversation: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{stack.env['FRONTDESK_RASA_URL']}/conversations/{conversation}/tracker",
        params={"token": stack.env["FRONTDESK_RASA_TOKEN"], "include_events": "ALL"},
        timeout=30,
    )
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def _turns(events: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    """Per user event: our message id, the bot messages and `action_listen`s that followed."""
    turns: list[tuple[str, int, int]] = []
    for event in events:
        if event["event"] == "user":
            turns.append(((event.get("metadata") or {}).get(TURN_METADATA_KEY, ""), 0, 0))
        elif turns and event["event"] == "bot":
            message_id, bots, listens = turns[-1]
            turns[-1] = (message_id, bots + 1, listens)
        elif turns and event["event"] == "action" and event.get("name") == "action_listen":
            message_id, bots, listens = turns[-1]
            turns[-1] = (message_id, bots, listens + 1)
    return turns


async def _deliver_twice_at_once(
    stack: Stack, conversation: str, message_id: str | None
) -> list[tuple[float, float]]:
    client = RasaClient(
        stack.env["FRONTDESK_RASA_URL"], stack.env["FRONTDESK_RASA_TOKEN"], timeout=60
    )
    spans: list[tuple[float, float]] = []
    try:
        await asyncio.gather(
            _send(client, conversation, message_id, spans),
            _send(client, conversation, message_id, spans),
        )
    finally:
        await client.aclose()
    return spans


async def _deliver(stack: Stack, conversation: str, message_id: str) -> None:
    client = RasaClient(
        stack.env["FRONTDESK_RASA_URL"], stack.env["FRONTDESK_RASA_TOKEN"], timeout=60
    )
    try:
        await _send(client, conversation, message_id, [])
    finally:
        await client.aclose()


def test_a_turn_delivered_again_while_rasa_is_on_it_runs_once(stack: Stack) -> None:
    _check_a_turn_delivered_twice_at_once_runs_once(stack)


@pytest.fixture
def scaled_stack(tmp_path: Path, tracker_database: str) -> Iterator[Stack]:  # noqa: F811
    """A stack whose Rasa uses bot/endpoints.scale.yml: Redis locks, PostgreSQL trackers."""
    extra = {
        "FRONTDESK_RASA_ENDPOINTS": str(PROJECT_ROOT / "bot" / "endpoints.scale.yml"),
        "FRONTDESK_RASA_TRACKER_URL": tracker_database,
        "FRONTDESK_REDIS_URL": REDIS_URL,
    }
    with running_stack(tmp_path / "stack", extra_env=STACK_ENV | extra) as running:
        yield running


@pytest.mark.rasa
@pytest.mark.postgres
@pytest.mark.timeout(1200)
def test_with_the_redis_lock_store_a_turn_delivered_again_runs_once(
    scaled_stack: Stack,
    tracker_database: str,  # noqa: F811
) -> None:
    conversation = _check_a_turn_delivered_twice_at_once_runs_once(scaled_stack)
    # The turns are in PostgreSQL, so Rasa read bot/endpoints.scale.yml, Redis lock and all.
    engine = create_engine(make_url(tracker_database).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as connection:
            users = connection.execute(
                text("SELECT count(*) FROM events WHERE sender_id = :c AND type_name = 'user'"),
                {"c": conversation},
            ).scalar_one()
    finally:
        engine.dispose()
    assert users == 2  # the turn once, and the next turn


def _check_a_turn_delivered_twice_at_once_runs_once(stack: Stack) -> str:
    """Deliver a turn twice at once, then another turn; return the conversation's id."""
    conversation = f"turn-once-{uuid.uuid4().hex[:12]}"
    turn, next_turn = f"m-{uuid.uuid4().hex}", f"m-{uuid.uuid4().hex}"

    spans = asyncio.run(_deliver_twice_at_once(stack, conversation, turn))
    # Both deliveries were in Rasa's hands together: the second came while the first ran.
    assert max(start for start, _ in spans) < min(end for _, end in spans), spans
    once = _turns(_events(stack, conversation))
    assert [message_id for message_id, _, _ in once] == [turn], once
    _, bots, listens = once[0]
    assert bots >= 1  # the bot answered the turn, once: one prediction loop ran
    assert listens == 1
    # Rasa says so in its log, naming the turn and not what the patient wrote.
    noted = [
        line
        for line in (stack.data_dir / "logs" / "rasa.log").read_text().splitlines()
        if turn in line
    ]
    assert len(noted) == 1, noted
    assert "delivered again" in noted[0]
    assert GREETING not in noted[0]

    # Another turn of the same conversation is processed as usual.
    asyncio.run(_deliver(stack, conversation, next_turn))
    both = _turns(_events(stack, conversation))
    assert [message_id for message_id, _, _ in both] == [turn, next_turn], both
    assert both[0] == once[0]
    assert both[1][1] >= 1
    assert both[1][2] == 1
    return conversation


def test_a_message_without_our_id_keeps_rasas_behaviour(stack: Stack) -> None:
    # Rasa itself never dedupes: a message sent twice is two turns.
    conversation = f"turn-once-{uuid.uuid4().hex[:12]}"
    asyncio.run(_deliver_twice_at_once(stack, conversation, None))
    turns = _turns(_events(stack, conversation))
    assert [(message_id, listens) for message_id, _, listens in turns] == [("", 1), ("", 1)]
