"""The turn dispatcher: hands queued patient turns to Rasa, each exactly once.

One asyncio task per pool slot (`FRONTDESK_TURN_WORKERS`) in the service's lifespan. Each
claims a turn (`frontdesk.conversations.turn_queue`), sends it carrying our message id, and
records the outcome. When Rasa is down, loading or too slow, the turn goes back to the queue
with a backoff and the patient is told "one moment" once; before any retry the conversation's
tracker is read, and a turn Rasa already has is not sent again (a send can die after Rasa took
the turn, or a dispatcher can die mid-send). While a send runs its lease is renewed, so no
other dispatcher takes the turn. A turn still unanswered after
`FRONTDESK_TURN_ANSWER_LIMIT_SECONDS` goes to staff as an escalation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from starlette.concurrency import run_in_threadpool

from frontdesk.bot import BotTimeoutError, BotUnavailableError, BotUnreachableError
from frontdesk.conversations import service as conversations
from frontdesk.conversations import turn_queue
from frontdesk.conversations.handoff import escalate
from frontdesk.conversations.models import Conversation, EscalationReason, Role, TurnState
from frontdesk.events import Event
from frontdesk.runtime import Services
from frontdesk.texts import text

logger = logging.getLogger(__name__)

# Catalogue keys (frontdesk.texts) of what the patient is told, in the conversation's language.
WAITING_NOTICE = "notice.waiting"
UNANSWERED_NOTICE = "notice.unanswered"
RETRY_CAP_SECONDS = 30.0


class TurnDispatcher:
    """Hands the queue's turns to the bot, a few at a time, one per conversation."""

    def __init__(self, services: Services, *, workers: int, poll_seconds: float = 1.0) -> None:
        """Create a dispatcher; `start` runs it.

        Args:
            services: the process's collaborators (the bot, sessions, hub, clock, settings).
            workers: how many turns may be with Rasa at once (different conversations).
            poll_seconds: how often an idle worker looks for due turns without a wake-up
                (retries coming due, turns queued by another process).
        """
        self._services = services
        self._workers = workers
        self._poll = poll_seconds
        timeout = services.settings.rasa_timeout_seconds
        # Longer than a whole send, renewed meanwhile: a live send is never taken over.
        self._lease = timedelta(seconds=2 * timeout + 5)
        self._renew_every = max(0.05, timeout / 2)
        # Idle workers, each waiting on its own future: a wake-up starts one of them, not all
        # (the others' claims would find nothing and still take the write lock on SQLite).
        self._idle: list[asyncio.Future[None]] = []
        self._wakes = 0  # wake-ups so far; a claim that overlapped one looks again at once
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the workers on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._tasks = [
            asyncio.create_task(self._run(), name=f"turn-dispatcher-{n}")
            for n in range(self._workers)
        ]

    async def stop(self) -> None:
        """Stop the workers; a turn mid-send keeps its lease and is retried after it."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def wake(self) -> None:
        """A turn was queued: look now rather than at the next poll (safe from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._wake_one)

    def _wake_one(self) -> None:
        self._wakes += 1
        while self._idle:
            waiter = self._idle.pop()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            wakes = self._wakes
            try:
                handled = await self.dispatch_one()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a database hiccup must not end the worker
                logger.error("turn dispatch failed: %s", type(exc).__name__)
                handled = False
            # A turn queued while this worker looked may have committed after its claim's
            # query: with no idle worker to start, that wake-up is this worker's to take.
            if handled or self._wakes != wakes:
                continue
            waiter: asyncio.Future[None] = loop.create_future()
            self._idle.append(waiter)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter, self._poll)
            finally:
                with contextlib.suppress(ValueError):
                    self._idle.remove(waiter)

    async def dispatch_one(self) -> bool:
        """Claim one due turn and see it through; False when none was due."""
        turn = await run_in_threadpool(self._claim)
        if turn is None:
            return False
        await self._handle(turn)
        return True

    def _claim(self) -> turn_queue.ClaimedTurn | None:
        services = self._services
        with services.unit_of_work() as db:
            return turn_queue.claim_next_turn(session=db, now=services.clock(), lease=self._lease)

    async def _handle(self, turn: turn_queue.ClaimedTurn) -> None:
        services = self._services
        if not turn.bot_owns_conversation:  # staff took over while it waited: theirs now
            await self._finish(turn, TurnState.ESCALATED)
            return
        waited = (services.clock() - turn.created_at).total_seconds()
        if waited > services.settings.turn_answer_limit_seconds:
            await self._escalate(turn)
            return
        if turn.attempts > 1:
            try:
                arrived = await services.bot.has_user_turn(turn.public_id, turn.rasa_message_id)
            except BotUnavailableError as exc:
                await self._retry(turn, exc, tell_patient=True)
                return
            if arrived:  # Rasa took it on an earlier attempt; its replies came by callback
                await self._finish(turn, TurnState.SENT)
                return
        renewing = asyncio.create_task(self._keep_lease(turn))
        await services.hub.publish(turn.public_id, {"type": "typing", "active": True})
        try:
            await services.bot.send_user_turn(
                turn.public_id, turn.text, message_id=turn.rasa_message_id, language=turn.language
            )
        except BotUnavailableError as exc:
            # "One moment" only when Rasa surely lacks the turn: it was unreachable, or this
            # is a retry. After a timeout or a dropped answer Rasa may have answered already.
            unanswered = isinstance(exc, BotUnreachableError) or turn.attempts > 1
            await self._retry(turn, exc, tell_patient=unanswered)
            return
        finally:
            renewing.cancel()
            await services.hub.publish(turn.public_id, {"type": "typing", "active": False})
        await self._finish(turn, TurnState.ANSWERED)
        if services.review is not None:
            services.review.note_turn(turn.public_id)  # its NLU result, in the background

    async def _keep_lease(self, turn: turn_queue.ClaimedTurn) -> None:
        services = self._services
        while True:
            await asyncio.sleep(self._renew_every)

            def renew() -> bool:
                with services.unit_of_work() as db:
                    return turn_queue.renew_lease(
                        session=db,
                        turn_id=turn.id,
                        attempt=turn.attempts,
                        until=services.clock() + self._lease,
                    )

            if not await run_in_threadpool(renew):
                logger.warning("turn %s: lease lost (attempt %s)", turn.id, turn.attempts)
                return

    async def _finish(self, turn: turn_queue.ClaimedTurn, state: TurnState) -> None:
        services = self._services

        def finish() -> bool:
            with services.unit_of_work() as db:
                return turn_queue.finish_turn(
                    session=db,
                    turn_id=turn.id,
                    attempt=turn.attempts,
                    state=state,
                    now=services.clock(),
                )

        if not await run_in_threadpool(finish):
            logger.warning(
                "turn %s: not ended as %s, its claim was lost (attempt %s)",
                turn.id,
                state.value,
                turn.attempts,
            )

    async def _retry(
        self, turn: turn_queue.ClaimedTurn, error: BotUnavailableError, *, tell_patient: bool
    ) -> None:
        """Back off; after a timeout, give Rasa a whole client timeout to finish first.

        With `tell_patient`, the patient hears "one moment" (once per conversation).
        """
        services = self._services
        base = services.settings.turn_retry_base_seconds
        delay = min(RETRY_CAP_SECONDS, base * 2 ** (turn.attempts - 1))
        if isinstance(error, BotTimeoutError):
            delay = max(delay, services.settings.rasa_timeout_seconds)
        logger.warning(
            "turn %s not taken by the bot (attempt %s, %s); retry in %.1f s",
            turn.id,
            turn.attempts,
            error,
            delay,
        )

        def requeue() -> conversations.StoredMessage | None:
            with services.unit_of_work() as db:
                now = services.clock()
                requeued = turn_queue.retry_turn(
                    session=db,
                    turn_id=turn.id,
                    attempt=turn.attempts,
                    at=now + timedelta(seconds=delay),
                )
                if (
                    not requeued
                    or not tell_patient
                    or not turn_queue.claim_waiting_notice(session=db, turn_id=turn.id, now=now)
                ):
                    return None
                conversation = db.get_one(Conversation, turn.conversation_id)
                language = conversations.reply_language(session=db, conversation=conversation)
                notice = conversations.record_outgoing_message(
                    session=db,
                    conversation=conversation,
                    role=Role.BOT,
                    text=text(WAITING_NOTICE, language),
                )
                return conversations.StoredMessage.of(notice)

        notice = await run_in_threadpool(requeue)
        if notice is not None:
            await services.hub.publish(turn.public_id, {"type": "message", **notice.as_frame()})

    async def _escalate(self, turn: turn_queue.ClaimedTurn) -> None:
        """Too long without an answer: staff own the conversation, and the patient knows."""
        services = self._services
        limit_minutes = services.settings.turn_answer_limit_seconds / 60

        def hand_over() -> conversations.StoredMessage | None:
            with services.unit_of_work() as db:
                now = services.clock()
                conversation = db.get_one(Conversation, turn.conversation_id)
                escalated = escalate(
                    session=db,
                    conversation=conversation,
                    reason=EscalationReason.BOT_UNANSWERED,
                    now=now,
                    detail=f"the assistant did not answer within {limit_minutes:g} min",
                )
                turn_queue.end_unfinished_turns(
                    session=db,
                    conversation_id=turn.conversation_id,
                    state=TurnState.ESCALATED,
                    now=now,
                )
                if not escalated:
                    return None
                language = conversations.reply_language(session=db, conversation=conversation)
                notice = conversations.record_outgoing_message(
                    session=db,
                    conversation=conversation,
                    role=Role.BOT,
                    text=text(UNANSWERED_NOTICE, language),
                )
                return conversations.StoredMessage.of(notice)

        notice = await run_in_threadpool(hand_over)
        logger.warning("turn %s unanswered past the limit: escalated to staff", turn.id)
        if notice is None:
            return
        await services.hub.publish(turn.public_id, {"type": "message", **notice.as_frame()})
        await services.hub.publish(
            turn.public_id, {"type": "handoff", "owner": "staff", "sender_name": None}
        )
        services.events.publish(
            Event("conversation.escalated", turn.practice_id, {"conversation_id": turn.public_id})
        )
