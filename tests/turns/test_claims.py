"""Dispatchers claiming from the durable turn queue, on SQLite and PostgreSQL: no turn is
claimed twice, each conversation has one turn in flight, and its turns go in arrival order."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from frontdesk.conversations import turn_queue
from frontdesk.conversations.models import PatientTurn, TurnState
from frontdesk.db import make_session_factory, session_scope
from tests import factories
from tests.conftest import AT_NOW, NOW, empty_database

CONVERSATIONS = 3
TURNS_EACH = 3
DISPATCHERS = 6
LEASE = timedelta(seconds=65)


@pytest.fixture
def queued(engine: Engine) -> Iterator[dict[int, list[int]]]:
    """Three conversations with three queued turns each, committed; turn ids by conversation."""
    turns: dict[int, list[int]] = {}
    with session_scope(make_session_factory(engine, clock=AT_NOW)) as session:
        practice = factories.practice(session)
        conversations = [
            factories.conversation(session, practice=practice) for _ in range(CONVERSATIONS)
        ]
        for n in range(TURNS_EACH):  # interleaved arrivals across conversations
            for conversation in conversations:
                turn = turn_queue.enqueue_turn(
                    session=session, conversation=conversation, text=f"turn {n}"
                )
                turns.setdefault(conversation.id, []).append(turn.id)
    try:
        yield turns
    finally:
        empty_database(engine)


def claim_all_at_once(engine: Engine, now_offset: timedelta = timedelta()) -> list[int]:
    """Every dispatcher claims once, all at the same moment; the ids they got."""
    factory = make_session_factory(engine, clock=AT_NOW)
    barrier = threading.Barrier(DISPATCHERS)
    claimed: list[int] = []
    lock = threading.Lock()

    def dispatcher() -> None:
        barrier.wait()
        with session_scope(factory) as session:
            turn = turn_queue.claim_next_turn(session=session, now=NOW + now_offset, lease=LEASE)
        if turn is not None:
            with lock:
                claimed.append(turn.id)

    threads = [threading.Thread(target=dispatcher) for _ in range(DISPATCHERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return claimed


def finish(engine: Engine, turn_ids: list[int], attempt: int = 1) -> None:
    with session_scope(make_session_factory(engine, clock=AT_NOW)) as session:
        for turn_id in turn_ids:
            assert turn_queue.finish_turn(
                session=session, turn_id=turn_id, attempt=attempt, state=TurnState.ANSWERED, now=NOW
            )


def test_dispatchers_never_share_a_turn_and_each_conversation_goes_in_order(
    engine: Engine, queued: dict[int, list[int]]
) -> None:
    for n in range(TURNS_EACH):
        claimed = claim_all_at_once(engine)
        # Six dispatchers, three conversations: one turn each, the next in arrival order.
        assert sorted(claimed) == sorted(turns[n] for turns in queued.values())
        assert claim_all_at_once(engine) == []  # nothing more while those are in flight
        finish(engine, claimed)
    assert claim_all_at_once(engine) == []


def test_a_turn_whose_lease_ran_out_is_claimed_again_and_counts_the_attempt(
    engine: Engine, queued: dict[int, list[int]]
) -> None:
    first = sorted(claim_all_at_once(engine))
    assert claim_all_at_once(engine, LEASE - timedelta(seconds=1)) == []  # leases still held
    again = sorted(claim_all_at_once(engine, LEASE + timedelta(seconds=1)))
    assert again == first  # the dispatcher that held them died: the same turns, once each
    with session_scope(make_session_factory(engine, clock=AT_NOW)) as session:
        attempts = session.scalars(select(PatientTurn.attempts).where(PatientTurn.id.in_(first)))
        assert set(attempts) == {2}


def test_a_dispatcher_that_lost_its_lease_can_no_longer_end_or_requeue_the_turn(
    engine: Engine, queued: dict[int, list[int]]
) -> None:
    # Dispatcher A stalled past its lease; B claimed the turns again (attempt 2) and is
    # sending them. A wakes up: renewing, finishing or re-queueing must all be no-ops, or A
    # would end B's attempt and let each conversation's next turn overtake it.
    first = sorted(claim_all_at_once(engine))
    assert sorted(claim_all_at_once(engine, LEASE + timedelta(seconds=1))) == first
    factory = make_session_factory(engine, clock=AT_NOW)
    with session_scope(factory) as session:
        for turn_id in first:
            assert not turn_queue.renew_lease(
                session=session, turn_id=turn_id, attempt=1, until=NOW + 2 * LEASE
            )
            assert not turn_queue.finish_turn(
                session=session, turn_id=turn_id, attempt=1, state=TurnState.ANSWERED, now=NOW
            )
            assert not turn_queue.retry_turn(session=session, turn_id=turn_id, attempt=1, at=NOW)
    with session_scope(factory) as session:
        states = set(session.scalars(select(PatientTurn.state).where(PatientTurn.id.in_(first))))
    assert states == {TurnState.SENDING}
    assert claim_all_at_once(engine, LEASE + timedelta(seconds=2)) == []  # still B's
    finish(engine, first, attempt=2)  # B, the holder, can
    assert sorted(claim_all_at_once(engine, LEASE + timedelta(seconds=2))) == sorted(
        turns[1] for turns in queued.values()
    )


def test_a_retried_turn_waits_for_its_time_and_still_blocks_its_conversation(
    engine: Engine, queued: dict[int, list[int]]
) -> None:
    first = sorted(claim_all_at_once(engine))
    retry_at = NOW + timedelta(seconds=30)
    with session_scope(make_session_factory(engine, clock=AT_NOW)) as session:
        for turn_id in first:
            assert turn_queue.retry_turn(session=session, turn_id=turn_id, attempt=1, at=retry_at)
    assert claim_all_at_once(engine, timedelta(seconds=29)) == []  # later turns wait behind
    assert sorted(claim_all_at_once(engine, timedelta(seconds=30))) == first


def test_a_late_reply_to_a_turn_waiting_for_its_retry_is_deduplicated(
    engine: Engine, queued: dict[int, list[int]]
) -> None:
    # Rasa worked on the turn past the client's timeout (the turn went back to the queue)
    # and then answered it twice, the second time for the re-send: one reply is kept.
    conversation_id, turn_ids = next(iter(queued.items()))
    body = {"recipient_id": "c_1", "text": "Your visit is booked."}
    with session_scope(make_session_factory(engine, clock=AT_NOW)) as session:
        claimed = turn_queue.claim_next_turn(session=session, now=NOW, lease=LEASE)
        assert claimed is not None and claimed.conversation_id == conversation_id
        turn_queue.retry_turn(session=session, turn_id=claimed.id, attempt=1, at=NOW + LEASE)
        first = turn_queue.record_reply(session=session, conversation_id=conversation_id, body=body)
        again = turn_queue.record_reply(session=session, conversation_id=conversation_id, body=body)
    assert (first, again) == (True, False)
    assert claimed.id == turn_ids[0]


def test_a_reply_before_any_attempt_is_outside_every_turn(
    engine: Engine, queued: dict[int, list[int]]
) -> None:
    # Nothing was sent to Rasa yet: a bot message now (a reminder) belongs to no turn.
    conversation_id = next(iter(queued))
    body = {"recipient_id": "c_1", "text": "A reminder."}
    with session_scope(make_session_factory(engine, clock=AT_NOW)) as session:
        results = [
            turn_queue.record_reply(session=session, conversation_id=conversation_id, body=body)
            for _ in range(2)
        ]
    assert results == [True, True]
