"""The durable queue of patient turns: enqueued with the message, claimed under a lease.

A turn is written in the transaction that stores the patient's message, whatever the
channel, so a turn that was acknowledged cannot be lost. The dispatcher
(`connectors.dispatcher`) claims the oldest due turn of a conversation that has no earlier
turn unfinished, so each conversation has one turn in flight and its turns reach Rasa in
arrival order. On PostgreSQL the claim is `FOR UPDATE SKIP LOCKED`, so two dispatchers never
take the same row; on SQLite every write transaction is `BEGIN IMMEDIATE`, so the claim runs
under the single writer. A lease that runs out (its dispatcher died) makes the turn due again;
the next attempt first asks Rasa's tracker whether the turn already arrived.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from frontdesk.conversations.models import (
    Conversation,
    Message,
    Owner,
    PatientTurn,
    TurnReply,
    TurnState,
)
from frontdesk.conversations.service import reply_language
from frontdesk.db import clock_of

UNFINISHED = (TurnState.QUEUED, TurnState.SENDING)
# Built once: an alias made per call costs more CPU than running the claim's query (it copies
# every column and foreign key of the table), and every dispatcher claim builds `claimable`.
_EARLIER = aliased(PatientTurn, name="earlier_turn")


@dataclass(frozen=True)
class ClaimedTurn:
    """A turn one dispatcher holds under a lease (ids and the bot's text, nothing else)."""

    id: int
    practice_id: int
    conversation_id: int
    public_id: str
    text: str
    attempts: int  # including this one
    created_at: datetime
    bot_owns_conversation: bool
    language: str  # the conversation's reply language when claimed ("en", "es")

    @property
    def rasa_message_id(self) -> str:
        """The id Rasa's tracker keeps for this turn."""
        return rasa_message_id(self.id)


def rasa_message_id(turn_id: int) -> str:
    """The id a turn carries into Rasa's tracker: opaque, no patient data."""
    return f"frontdesk-turn-{turn_id}"


def enqueue_turn(
    *,
    session: Session,
    conversation: Conversation,
    text: str,
    message_id: int | None = None,
) -> PatientTurn:
    """Queue one turn for the bot in the caller's transaction (the one storing the message)."""
    turn = PatientTurn(
        practice_id=conversation.practice_id,
        conversation_id=conversation.id,
        message_id=message_id,
        text=text,
        state=TurnState.QUEUED,
        attempts=0,
    )
    session.add(turn)
    session.flush()
    return turn


def has_turn(*, session: Session, message_id: int) -> bool:
    """Whether this patient message is already queued (a resend must not queue it twice)."""
    return (
        session.scalar(select(PatientTurn.id).where(PatientTurn.message_id == message_id))
        is not None
    )


def claimable(now: datetime) -> ColumnElement[bool]:
    """Turns a dispatcher may claim at `now`: due, and first in their conversation.

    Due means queued with its next attempt reached, or sending with its lease run out.
    """
    blocked = exists().where(
        _EARLIER.conversation_id == PatientTurn.conversation_id,
        _EARLIER.id < PatientTurn.id,
        _EARLIER.state.in_(UNFINISHED),
    )
    due = ((PatientTurn.state == TurnState.QUEUED) & (PatientTurn.next_attempt_at <= now)) | (
        (PatientTurn.state == TurnState.SENDING) & (PatientTurn.lease_until < now)
    )
    return due & ~blocked


def claim_next_turn(*, session: Session, now: datetime, lease: timedelta) -> ClaimedTurn | None:
    """Claim the oldest claimable turn (`claimable`) for `lease`, or None."""
    query = select(PatientTurn).where(claimable(now)).order_by(PatientTurn.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=PatientTurn)
    turn = session.scalar(query)
    if turn is None:
        return None
    turn.state = TurnState.SENDING
    turn.lease_until = now + lease
    turn.attempts += 1
    conversation = session.get_one(Conversation, turn.conversation_id)
    session.flush()
    return ClaimedTurn(
        id=turn.id,
        practice_id=turn.practice_id,
        conversation_id=turn.conversation_id,
        public_id=conversation.public_id,
        text=turn.text,
        attempts=turn.attempts,
        created_at=turn.created_at,
        bot_owns_conversation=conversation.owner is Owner.BOT,
        language=reply_language(session=session, conversation=conversation).value,
    )


def held(turn_id: int, attempt: int) -> ColumnElement[bool]:
    """The turn is still held by the claim that made attempt `attempt` (a fencing token).

    A dispatcher whose lease ran out (it stalled, its database connection hung) may wake up
    after another one claimed the turn again; what it then does to the row must be a no-op,
    or it would end the other's attempt and let the conversation's next turn overtake it.
    """
    return (
        (PatientTurn.id == turn_id)
        & (PatientTurn.state == TurnState.SENDING)
        & (PatientTurn.attempts == attempt)
    )


def renew_lease(*, session: Session, turn_id: int, attempt: int, until: datetime) -> bool:
    """Keep a turn this dispatcher is still sending from being claimed by another.

    False when the claim was lost (the lease ran out and another dispatcher took the turn).
    """
    result = session.execute(
        update(PatientTurn).where(held(turn_id, attempt)).values(lease_until=until)
    )
    return bool(getattr(result, "rowcount", 0))


def finish_turn(
    *, session: Session, turn_id: int, attempt: int, state: TurnState, now: datetime
) -> bool:
    """Record how a turn ended; its message counts as handed to the bot when Rasa has it.

    Only the claim that made attempt `attempt` may end it (`held`); False, and nothing
    written, when that claim was lost or staff ended the turn meanwhile.
    """
    # One UPDATE whose WHERE is the fence: on PostgreSQL it waits for a concurrent holder's
    # row lock and then checks `held` again on the row as that one left it.
    ended = session.execute(
        update(PatientTurn)
        .where(held(turn_id, attempt))
        .values(state=state, finished_at=now, lease_until=None)
        .returning(PatientTurn.message_id)
    ).first()
    if ended is None:
        return False
    if state in (TurnState.SENT, TurnState.ANSWERED) and ended.message_id is not None:
        session.execute(
            update(Message)
            .where(Message.id == ended.message_id, Message.forwarded_at.is_(None))
            .values(forwarded_at=now)
        )
    return True


def retry_turn(*, session: Session, turn_id: int, attempt: int, at: datetime) -> bool:
    """Put a turn back in the queue, to be tried again from `at` (only by its holder, `held`)."""
    result = session.execute(
        update(PatientTurn)
        .where(held(turn_id, attempt))
        .values(state=TurnState.QUEUED, next_attempt_at=at, lease_until=None)
    )
    return bool(getattr(result, "rowcount", 0))


def end_unfinished_turns(
    *, session: Session, conversation_id: int, state: TurnState, now: datetime
) -> int:
    """End every unfinished turn of a conversation (staff have it now); returns how many."""
    result = session.execute(
        update(PatientTurn)
        .where(PatientTurn.conversation_id == conversation_id, PatientTurn.state.in_(UNFINISHED))
        .values(state=state, finished_at=now, lease_until=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def claim_waiting_notice(*, session: Session, turn_id: int, now: datetime) -> bool:
    """Whether the patient should be told "one moment" now: once per conversation."""
    turn = session.get_one(PatientTurn, turn_id)
    told = session.scalar(
        select(func.count())
        .select_from(PatientTurn)
        .where(
            PatientTurn.conversation_id == turn.conversation_id,
            PatientTurn.waiting_notice_at.is_not(None),
        )
    )
    if told:
        return False
    turn.waiting_notice_at = now
    session.flush()
    return True


def record_reply(*, session: Session, conversation_id: int, body: dict[str, Any]) -> bool:
    """Note a bot message the callback delivered; False when it was delivered already.

    The reply belongs to the conversation's turn in flight (there is at most one): the first
    unfinished turn once it was sent at least once, being sent or waiting for its retry (a
    Rasa slower than two client timeouts answers the first send after the turn went back to
    the queue, and the re-send again). A message outside any turn (a reminder, a hand-back)
    is not deduplicated.
    """
    turn_id = session.scalar(
        select(PatientTurn.id)
        .where(
            PatientTurn.conversation_id == conversation_id,
            PatientTurn.state.in_(UNFINISHED),
            PatientTurn.attempts > 0,
        )
        .order_by(PatientTurn.id)
        .limit(1)
    )
    if turn_id is None:
        return True
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    # The unique (turn, digest) constraint decides, as a savepoint and a caught IntegrityError
    # did before, in one statement instead of four (SAVEPOINT, INSERT, RELEASE, or ROLLBACK TO).
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
    stored = session.scalar(
        insert(TurnReply)
        .values(turn_id=turn_id, digest=digest, created_at=clock_of(session)())
        .on_conflict_do_nothing(index_elements=["turn_id", "digest"])
        .returning(TurnReply.id)
    )
    return stored is not None
