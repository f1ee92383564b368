"""Recording each patient turn's NLU result after the reply, and queueing misunderstood ones.

The turn path makes one call, `ReviewRecorder.note_turn`, once the bot has answered: it
starts a background task and returns, so a patient never waits for the tracker lookup. The
task reads Rasa's tracker, scrubs the text again (Rasa holds tokenised text; the scrubber
catches what tokenising may have missed) and stores an `NluTurn`, plus a `ReviewItem` when
the bot did not understand.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from frontdesk.conversations.models import Conversation
from frontdesk.db import session_scope
from frontdesk.review.models import NluTurn, ReviewItem, ReviewReason
from frontdesk.review.tracker import ParsedTurn, TrackerReader

logger = logging.getLogger(__name__)

# A patient telling the bot it got the previous turn wrong; the intents asking for a person.
_CORRECTION = re.compile(
    r"\b(that'?s not what i (said|meant|asked)|not what i (said|meant|asked)|"
    r"you (misunderstood|got it wrong|don'?t understand)|that'?s wrong)\b",
    re.IGNORECASE,
)
PERSON_INTENTS = frozenset({"request_human"})


def review_reason(turn: ParsedTurn, *, threshold: float) -> ReviewReason | None:
    """Why this turn needs a look by staff, or None when the bot understood it."""
    if turn.escalated_for_misunderstanding:
        return ReviewReason.MISUNDERSTOOD
    if turn.fell_back:
        return ReviewReason.FALLBACK
    if not turn.text.startswith("/") and turn.confidence < threshold:
        return ReviewReason.LOW_CONFIDENCE  # a button payload carries no NLU confidence
    return None


def corrects_previous(turn: ParsedTurn) -> bool:
    """The turn says the bot misread the one before, or asks for a person instead."""
    return turn.intent in PERSON_INTENTS or bool(_CORRECTION.search(turn.text))


def store_turn(
    *,
    session: Session,
    public_id: str,
    turn: ParsedTurn,
    scrub: Callable[[str], str],
    threshold: float,
) -> NluTurn | None:
    """Store the turn once, queue it if misunderstood, and flag the turn it corrects."""
    conversation = session.scalar(select(Conversation).where(Conversation.public_id == public_id))
    if conversation is None:
        return None
    if session.scalar(select(NluTurn.id).where(NluTurn.rasa_message_id == turn.message_id)):
        return None  # already recorded
    previous = session.scalar(
        select(NluTurn)
        .where(NluTurn.conversation_id == conversation.id)
        .order_by(NluTurn.id.desc())
        .limit(1)
    )
    reason = review_reason(turn, threshold=threshold)
    row = NluTurn(
        practice_id=conversation.practice_id,
        conversation_id=conversation.id,
        rasa_message_id=turn.message_id[:64],
        text=scrub(turn.text),
        intent=turn.intent,
        confidence=turn.confidence,
        fallback=turn.fell_back,
        model_id=turn.model_id,
    )
    session.add(row)
    session.flush()
    if reason is not None:
        session.add(ReviewItem(practice_id=row.practice_id, nlu_turn_id=row.id, reason=reason))
    if previous is not None and corrects_previous(turn):
        queued = session.scalar(select(ReviewItem.id).where(ReviewItem.nlu_turn_id == previous.id))
        if queued is None:
            session.add(
                ReviewItem(
                    practice_id=row.practice_id,
                    nlu_turn_id=previous.id,
                    reason=ReviewReason.CORRECTED,
                )
            )
    return row


def store_new_turns(
    *,
    session: Session,
    public_id: str,
    turns: list[ParsedTurn],
    scrub: Callable[[str], str],
    threshold: float,
) -> list[NluTurn]:
    """Store the turns not recorded yet (`store_turn`), oldest first, in one transaction.

    A tracker holds every turn of the conversation, so all but the newest are usually
    recorded already: one lookup finds those, instead of a transaction per turn.
    """
    stored_ids = {turn.message_id[:64] for turn in turns}
    known = set(
        session.scalars(
            select(NluTurn.rasa_message_id).where(NluTurn.rasa_message_id.in_(stored_ids))
        )
    )
    rows = []
    for turn in turns:
        if turn.message_id[:64] in known:
            continue
        row = store_turn(
            session=session, public_id=public_id, turn=turn, scrub=scrub, threshold=threshold
        )
        if row is not None:
            rows.append(row)
            known.add(row.rasa_message_id)
    return rows


def fast_scrub(text: str) -> str:
    """`text` through the process-wide fast PHI scrubber."""
    # Imported on first use: presidio takes a second to load, which start-up need not pay.
    from frontdesk.phi.scrubber import default_scrubber

    return default_scrubber("fast").scrub(text)


class ReviewRecorder:
    """Records turns in background tasks; `aclose` waits for those still running."""

    def __init__(
        self,
        reader: TrackerReader,
        sessions: sessionmaker[Session],
        *,
        threshold: float,
        scrub: Callable[[str], str] | None = None,
    ) -> None:
        """Create a recorder (`scrub` defaults to the process-wide fast PHI scrubber)."""
        self._reader = reader
        self._sessions = sessions
        self._threshold = threshold
        self._scrub = scrub or fast_scrub
        self._tasks: set[asyncio.Task[None]] = set()
        self._storing = asyncio.Lock()

    def note_turn(self, public_id: str) -> None:
        """Record the conversation's latest turn, later: never delays the caller."""
        task = asyncio.get_running_loop().create_task(self._record(public_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(self, public_id: str) -> None:
        try:
            # Every turn not yet recorded, in order: by the time this runs the patient may
            # have written again, and a record keyed on "the latest" would skip a turn.
            turns = await self._reader.turns(public_id)
            async with self._storing:  # one writer: two records never race on one turn
                if turns:
                    await run_in_threadpool(self._store, public_id, turns)
        except Exception:  # a lost record must never surface in the patient's turn
            logger.exception("recording an NLU turn failed")

    def _store(self, public_id: str, turns: list[ParsedTurn]) -> None:
        with session_scope(self._sessions) as session:
            store_new_turns(
                session=session,
                public_id=public_id,
                turns=turns,
                scrub=self._scrub,
                threshold=self._threshold,
            )

    async def drain(self) -> None:
        """Wait for the turns being recorded (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def aclose(self) -> None:
        """Finish pending records and close the tracker reader."""
        await self.drain()
        await self._reader.aclose()
