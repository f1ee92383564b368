"""The outbox worker: claims due SMS, hands them to the transport, records what happened.

Never twice: a message is claimed (`pending` -> `sending`, conditional UPDATE) in a committed
transaction before it is handed over, so two workers never send the same row. Each result is
recorded in its own short transaction the moment the provider answers, before the next
message to that number is handed over, and a number with a message in `sending` is not
claimed again. So at most one message per number can be in doubt after a crash: when its
claim expires it is looked up in the provider's log, where the only candidate is a message
with its body, created since the claim, whose sid no outbox row holds yet. The status
callback URL carries our outbox id, so a callback binds the sid to its row even when the
worker died before recording it. A lookup that keeps failing is retried with backoff and,
past `reconcile_give_up_seconds`, dead-lettered for staff ("sent or not unknown"): never
resent blind, never left in `sending`. Transient failures (5xx, 429, timeouts) are retried
with exponential backoff; after `max_attempts` the message is dead-lettered for staff.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Table, bindparam, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from frontdesk.db import session_scope
from frontdesk.reminders.gate import OUTREACH_KINDS, Claimed, Verdict, outreach_gate
from frontdesk.reminders.policy import DEFAULT_REMINDERS, ReminderDefaults
from frontdesk.settings import Settings
from frontdesk.sms.models import OutboundSms, OutboundStatus
from frontdesk.sms.outbox import RETRY_CAP, stale_claims
from frontdesk.sms.transport import (
    AmbiguousSendError,
    PermanentSendError,
    SendResult,
    SmsTransport,
    TransientSendError,
)

logger = logging.getLogger(__name__)
# Serialises claims across processes on PostgreSQL (SQLite's BEGIN IMMEDIATE already does):
# two claimers must not both see "nothing in flight" for one number and both take it.
CLAIM_LOCK_KEY = 0x5F_0B_0C_5E
LOOKUP_SLACK = timedelta(seconds=5)  # clock skew between us and the provider's log
_HELD = {
    Verdict.TOO_LATE: "not sent: held back by quiet hours until it was too late",
    Verdict.CAPPED: "not sent: the patient's outreach cap (TCPA) is reached",
}


T = TypeVar("T")


@dataclass
class _Waiter(Generic[T]):
    item: T
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class GroupCommit(Generic[T]):
    """Many threads' writes, committed by one writer thread, together when they coincide.

    The writer takes everything waiting, commits it in one transaction, and starts again at
    once: no timer, no full batch to wait for, and the senders never stall on a commit
    (`fsync`) themselves. `submit(wait=True)` returns once the item is committed (or raises
    what the write raised); `wait=False` returns at once (nothing depends on it yet), and
    `flush` returns once everything submitted so far is committed.
    """

    def __init__(self, write: Callable[[list[T]], None]) -> None:
        """Create it around `write`, which commits a list of items in one transaction."""
        self._write = write
        self._pending: list[_Waiter[T]] = []
        self._busy = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, item: T, *, wait: bool = True) -> None:
        """Hand `item` to the writer; with `wait`, return once it is committed."""
        waiter = _Waiter(item)
        with self._changed:
            self._pending.append(waiter)
            self._changed.notify_all()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sms-results", daemon=True)
                self._thread.start()
        if wait:
            waiter.done.wait()
            if waiter.error is not None:
                raise waiter.error

    def flush(self) -> None:
        """Return once everything submitted so far is committed."""
        with self._changed:
            while self._pending or self._busy:
                self._changed.wait()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._pending:
                    if not self._changed.wait(timeout=30):
                        self._thread = None  # idle: a later submit starts a new one
                        return
                batch, self._pending = self._pending, []
                self._busy = True
            try:
                self._write_batch(batch)
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()

    def _write_batch(self, batch: list[_Waiter[T]]) -> None:
        try:
            self._write([w.item for w in batch])
        except Exception as exc:  # those waiting get it; the rest stay for reconciliation
            logger.warning("recording %s sms results failed: %s", len(batch), type(exc).__name__)
            for w in batch:
                w.error = exc
        finally:
            for w in batch:
                w.done.set()


@dataclass(frozen=True)
class _Job:
    id: int
    to: str
    body: str
    from_phone: str | None
    messaging_service_sid: str | None
    attempts: int


@dataclass(frozen=True)
class _Outcome:
    job: _Job
    result: SendResult | None = None
    error: Exception | None = None


class OutboxWorker:
    """Sends the SMS outbox. `run_once` is one pass; `start` runs passes in a thread."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        transport: SmsTransport,
        clock: Callable[[], datetime],
        status_callback_url: str | None = None,
        threads: int = 8,
        batch_size: int = 100,
        max_attempts: int = 6,
        retry_base_seconds: float = 2.0,
        lease_seconds: float = 120.0,
        poll_seconds: float = 0.5,
        reconcile_give_up_seconds: float = 3600.0,
        outreach_defaults: ReminderDefaults = DEFAULT_REMINDERS,
    ) -> None:
        """Create a worker; nothing runs until `run_once` or `start`."""
        self._sessions = sessions
        self._transport = transport
        self._clock = clock
        self._status_callback_url = status_callback_url
        self._threads = max(1, threads)
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._retry_base = retry_base_seconds
        self._lease = timedelta(seconds=lease_seconds)
        self._poll = poll_seconds
        self._give_up = timedelta(seconds=reconcile_give_up_seconds)
        self._outreach_defaults = outreach_defaults
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._results = GroupCommit(self._write_results)

    # --- one pass -------------------------------------------------------------------------

    def run_once(self) -> int:
        """Reconcile expired claims, then send one batch of due messages; returns how many
        were claimed (handed to the transport, or held back by the outreach checks)."""
        self._reconcile_stale()
        jobs, claimed = self._claim()
        if not jobs:
            return claimed
        # One recipient's messages go out one after another, in order (a reply must not
        # overtake the question before it); different recipients in parallel.
        by_recipient: dict[str, list[_Job]] = {}
        for job in jobs:
            by_recipient.setdefault(job.to, []).append(job)
        groups = list(by_recipient.values())
        if self._threads == 1 or len(groups) == 1:
            for group in groups:
                self._send_in_order(group)
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="sms-send")
            list(self._pool.map(self._send_in_order, groups))
        self._results.flush()
        return claimed

    def drain(self, *, max_passes: int = 10_000) -> int:
        """Run passes until nothing is due (tests, benchmarks, the CLI)."""
        total = 0
        for _ in range(max_passes):
            sent = self.run_once()
            if sent == 0:
                break
            total += sent
        return total

    def _claim(self) -> tuple[list[_Job], int]:
        now = self._clock()
        with session_scope(self._sessions) as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(select(func.pg_advisory_xact_lock(CLAIM_LOCK_KEY)))
            # A number with a message still in `sending` waits: its outcome is not known yet.
            in_flight = select(OutboundSms.to_phone).where(
                OutboundSms.status == OutboundStatus.SENDING
            )
            ids = list(
                session.scalars(
                    select(OutboundSms.id)
                    .where(
                        OutboundSms.status == OutboundStatus.PENDING,
                        OutboundSms.next_attempt_at <= now,
                        OutboundSms.to_phone.not_in(in_flight),
                    )
                    # Conversation first: a reply to a patient never waits behind a fan-out.
                    .order_by(
                        case((OutboundSms.kind.in_(OUTREACH_KINDS), 1), else_=0), OutboundSms.id
                    )
                    .limit(self._batch_size)
                )
            )
            if not ids:
                return [], 0
            # Conditional: a row another worker claimed meanwhile is not ours.
            claimed = set(
                session.scalars(
                    update(OutboundSms)
                    .where(OutboundSms.id.in_(ids), OutboundSms.status == OutboundStatus.PENDING)
                    .values(
                        status=OutboundStatus.SENDING,
                        claimed_until=now + self._lease,
                        attempts=OutboundSms.attempts + 1,
                        updated_at=now,
                    )
                    .returning(OutboundSms.id)
                )
            )
            rows = session.execute(
                select(
                    OutboundSms.id,
                    OutboundSms.to_phone,
                    OutboundSms.body,
                    OutboundSms.from_phone,
                    OutboundSms.messaging_service_sid,
                    OutboundSms.attempts,
                    OutboundSms.practice_id,
                    OutboundSms.kind,
                    OutboundSms.message_id,
                    OutboundSms.not_after,
                )
                .where(OutboundSms.id.in_(claimed))
                .order_by(OutboundSms.id)
            ).all()
            held = self._hold_back(session, rows, now)
        return [_Job(*row[:6]) for row in rows if row.id not in held], len(rows)

    def _hold_back(self, session: Session, rows: Sequence[Any], now: datetime) -> set[int]:
        """Outreach that may not leave now (quiet hours, caps, too late), in the claim's
        transaction: put back for later, or dead-lettered with the reason."""
        decisions = outreach_gate(
            session=session,
            rows=[
                Claimed(r.id, r.practice_id, r.to_phone, r.kind, r.message_id, r.not_after)
                for r in rows
            ],
            now=now,
            defaults=self._outreach_defaults,
        )
        held = {i for i, d in decisions.items() if d.verdict is not Verdict.SEND}
        for outbound_id in sorted(held):
            decision = decisions[outbound_id]
            values: dict[str, object] = {
                "claimed_until": None,
                "attempts": OutboundSms.attempts - 1,  # not an attempt: nothing was tried
                "updated_at": now,
            }
            if decision.verdict is Verdict.LATER:
                values |= {
                    "status": OutboundStatus.PENDING,
                    "next_attempt_at": decision.retry_at,
                    "last_error": "quiet hours: held until the window opens",
                }
            else:
                values |= {"status": OutboundStatus.DEAD, "last_error": _HELD[decision.verdict]}
            session.execute(
                update(OutboundSms)
                .where(OutboundSms.id == outbound_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        if held:
            logger.info("%s outreach sms held back at send time", len(held))
        return held

    def _send_in_order(self, jobs: list[_Job]) -> None:
        """Send one recipient's messages in order, recording each result before the next."""
        previous: _Outcome | None = None
        for index, job in enumerate(jobs):
            if previous is not None and isinstance(previous.error, TransientSendError):
                # An earlier message to this number failed: keep the order, retry both later.
                outcome = _Outcome(job, error=TransientSendError("an earlier one failed"))
            else:
                outcome = self._send(job)
            # The next message to this number leaves only once this result is committed.
            self._record(outcome, wait=index + 1 < len(jobs))
            previous = outcome

    def _send(self, job: _Job) -> _Outcome:
        try:
            result = self._transport.send(
                to=job.to,
                body=job.body,
                from_phone=job.from_phone,
                messaging_service_sid=job.messaging_service_sid,
                status_callback=self._callback_for(job.id),
            )
        except (TransientSendError, PermanentSendError) as exc:
            return _Outcome(job, error=exc)
        except Exception as exc:  # an unexpected failure is retried, never fatal to the pass
            logger.exception("sms %s: unexpected send failure", job.id)
            return _Outcome(job, error=TransientSendError(type(exc).__name__))
        return _Outcome(job, result=result)

    def _callback_for(self, outbound_id: int) -> str | None:
        """The status callback URL, naming our outbox row (Twilio signs the whole URL)."""
        if not self._status_callback_url:
            return None
        joiner = "&" if "?" in self._status_callback_url else "?"
        return f"{self._status_callback_url}{joiner}outbox={outbound_id}"

    def _record(self, outcome: _Outcome, *, wait: bool) -> None:
        """Record one result as soon as it is known (with `wait`, return once committed).

        Results that arrive while another thread is writing are committed together with the
        next write (group commit): nothing waits for the batch, and a recipient's next
        message leaves only after the previous result is durable. The pass ends with a
        flush, so every result of a pass is committed before the next claim.
        """
        self._results.submit(outcome, wait=wait)

    def _write_results(self, outcomes: list[_Outcome]) -> None:
        """Write results in one short transaction; one at a time if a sid clashes."""
        try:
            with session_scope(self._sessions) as session:
                self._write(session, outcomes)
        except IntegrityError:
            for outcome in outcomes:
                self._write_one_alone(outcome)

    def _write(self, session: Session, outcomes: list[_Outcome]) -> None:
        now = self._clock()
        accepted = [o for o in outcomes if o.result is not None]
        if accepted:  # the common case in one executemany: Twilio took it
            table = cast(Table, OutboundSms.__table__)
            session.connection().execute(
                update(table)
                .where(table.c.id == bindparam("job_id"), table.c.status == "sending")
                .values(
                    status=bindparam("new_status"),
                    twilio_sid=bindparam("sid"),
                    sent_at=now,
                    updated_at=now,
                    claimed_until=None,
                ),
                [
                    {
                        "job_id": o.job.id,
                        "new_status": _twilio_status(o.result.status).value,
                        "sid": o.result.sid,
                    }
                    for o in accepted
                    if o.result is not None
                ],
            )
        for outcome in outcomes:
            if outcome.result is None:
                session.execute(self._update_for(outcome, self._values_for(outcome, now)))

    def _update_for(self, outcome: _Outcome, values: dict[str, object]) -> Any:
        return (
            update(OutboundSms)
            .where(OutboundSms.id == outcome.job.id, OutboundSms.status == OutboundStatus.SENDING)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    def _write_one_alone(self, outcome: _Outcome) -> None:
        values = self._values_for(outcome, self._clock())
        try:
            with session_scope(self._sessions) as session:
                session.execute(self._update_for(outcome, values))
        except IntegrityError:
            # The provider's sid is already on another row (a mistaken reconciliation): keep
            # what we know without it rather than fail the pass.
            logger.error("sms %s: provider sid already recorded elsewhere", outcome.job.id)
            values.pop("twilio_sid", None)
            values["last_error"] = "provider sid already recorded on another message"
            with session_scope(self._sessions) as session:
                session.execute(self._update_for(outcome, values))

    def _values_for(self, outcome: _Outcome, now: datetime) -> dict[str, object]:
        job = outcome.job
        values: dict[str, object] = {"updated_at": now, "claimed_until": None}
        if outcome.result is not None:
            status = _twilio_status(outcome.result.status)
            values |= {"status": status, "twilio_sid": outcome.result.sid, "sent_at": now}
        elif isinstance(outcome.error, PermanentSendError):
            values |= {
                "status": OutboundStatus.DEAD,
                "last_error": str(outcome.error)[:200],
                "error_code": outcome.error.code,
            }
            logger.warning("sms %s dead-lettered: %s", job.id, outcome.error)
        elif isinstance(outcome.error, AmbiguousSendError):
            # Twilio may have it: the next pass looks it up before sending it again.
            values |= {
                "status": OutboundStatus.SENDING,
                "claimed_until": now,
                "last_error": str(outcome.error)[:200],
            }
            logger.info("sms %s: outcome unknown; will check with the provider", job.id)
        elif job.attempts >= self._max_attempts:
            values |= {"status": OutboundStatus.DEAD, "last_error": str(outcome.error)[:200]}
            logger.warning("sms %s dead-lettered after %s attempts", job.id, job.attempts)
        else:
            delay = min(timedelta(seconds=self._retry_base * 2 ** (job.attempts - 1)), RETRY_CAP)
            values |= {
                "status": OutboundStatus.PENDING,
                "next_attempt_at": now + delay,
                "last_error": str(outcome.error)[:200],
            }
            logger.info("sms %s will be retried in %.0f s", job.id, delay.total_seconds())
        return values

    # --- after a crash --------------------------------------------------------------------

    def _reconcile_stale(self) -> None:
        """Settle expired claims one by one, oldest first; one failure never stops the rest."""
        now = self._clock()
        with session_scope(self._sessions) as session:
            stale = [
                _Stale(r.id, r.to_phone, r.body, r.claimed_until or now, r.attempts, r.twilio_sid)
                for r in stale_claims(session=session, now=now)
            ]
        for row in stale:
            try:
                self._reconcile_one(row, now)
            except Exception:  # a clash or a blink: this row waits, the outbox goes on
                logger.exception("sms %s: reconciliation failed; will retry", row.id)

    def _reconcile_one(self, row: _Stale, now: datetime) -> None:
        if row.twilio_sid is not None:  # a status callback named it after the crash
            self._settle(row, now, status=OutboundStatus.QUEUED)
            return
        # Look back over the whole lease (the claim may have been cut short).
        since = row.claimed_until - self._lease - LOOKUP_SLACK
        try:  # outside any transaction: no database lock is held across the network
            found = self._transport.sent_to(to=row.to, since=since)
        except TransientSendError as exc:
            self._lookup_failed(row, now, exc)
            return
        candidates = [m for m in found if m.body == row.body]
        with session_scope(self._sessions) as session:
            taken = (
                set(
                    session.scalars(
                        select(OutboundSms.twilio_sid).where(
                            OutboundSms.twilio_sid.in_([m.sid for m in candidates])
                        )
                    )
                )
                if candidates
                else set()
            )
        match = next((m for m in candidates if m.sid not in taken), None)
        if match is not None:
            self._settle(row, now, status=OutboundStatus.QUEUED, sid=match.sid)
            logger.info("sms %s was handed over before a restart; not resent", row.id)
        elif row.attempts >= self._max_attempts:
            self._settle(row, now, status=OutboundStatus.DEAD, error="not sent; attempts used up")
            logger.warning("sms %s dead-lettered after %s attempts", row.id, row.attempts)
        else:
            self._settle(row, now, status=OutboundStatus.PENDING)
            logger.info("sms %s claim expired unsent; queued again", row.id)

    def _lookup_failed(self, row: _Stale, now: datetime, exc: Exception) -> None:
        """The provider's log could not be read: ask again later, then hand it to staff."""
        waited = now - row.claimed_until
        if waited >= self._give_up:
            self._settle(
                row,
                now,
                status=OutboundStatus.DEAD,
                error=f"sent or not unknown: the provider could not be asked ({exc})",
            )
            logger.warning("sms %s dead-lettered: could not check with the provider", row.id)
            return
        backoff = min(max(timedelta(seconds=self._retry_base), waited), RETRY_CAP)
        with session_scope(self._sessions) as session:
            session.execute(
                update(OutboundSms)
                .where(OutboundSms.id == row.id, OutboundSms.status == OutboundStatus.SENDING)
                .values(next_attempt_at=now + backoff, last_error=f"lookup failed: {exc}"[:200])
                .execution_options(synchronize_session=False)
            )
        logger.info("sms %s: provider lookup failed; asking again later", row.id)

    def _settle(
        self,
        row: _Stale,
        now: datetime,
        *,
        status: OutboundStatus,
        sid: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record what reconciliation found, unless someone else settled the row first."""
        values: dict[str, object] = {"status": status, "claimed_until": None, "updated_at": now}
        if status is OutboundStatus.PENDING:
            values["next_attempt_at"] = now
        if sid is not None:
            values |= {"twilio_sid": sid, "sent_at": now}
        if error is not None:
            values["last_error"] = error[:200]
        with session_scope(self._sessions) as session:
            session.execute(
                update(OutboundSms)
                .where(
                    OutboundSms.id == row.id,
                    OutboundSms.status == OutboundStatus.SENDING,
                    OutboundSms.claimed_until == row.claimed_until,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    # --- background thread ----------------------------------------------------------------

    def wake(self) -> None:
        """Start the next pass now (new messages were queued in this process)."""
        self._wake.set()

    def start(self) -> None:
        """Run passes in a daemon thread until `stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="sms-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the current pass and stop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once() > 0
            except Exception:  # the database blinked: log, wait, try again
                logger.exception("sms outbox pass failed")
                busy = False
            if not busy:
                self._wake.wait(self._poll)
                self._wake.clear()


@dataclass(frozen=True)
class _Stale:
    """An expired claim, as read before looking it up (no transaction stays open)."""

    id: int
    to: str
    body: str
    claimed_until: datetime
    attempts: int
    twilio_sid: str | None


def _twilio_status(status: str) -> OutboundStatus:
    try:
        value = OutboundStatus(status)
    except ValueError:
        return OutboundStatus.QUEUED  # "accepted", "scheduled": Twilio has it
    if value in (OutboundStatus.PENDING, OutboundStatus.SENDING, OutboundStatus.DEAD):
        return OutboundStatus.QUEUED
    return value


def worker_from_settings(
    settings: Settings,
    *,
    sessions: sessionmaker[Session],
    transport: SmsTransport,
    clock: Callable[[], datetime],
) -> OutboxWorker:
    """An outbox worker configured from settings (status callbacks need a public URL)."""
    callback = (
        f"{settings.base_url}/webhooks/twilio/status"
        if settings.public_url and settings.twilio_account_sid
        else None
    )
    return OutboxWorker(
        sessions=sessions,
        transport=transport,
        clock=clock,
        status_callback_url=callback,
        threads=settings.sms_worker_threads,
        max_attempts=settings.sms_max_attempts,
        retry_base_seconds=settings.sms_retry_base_seconds,
        lease_seconds=settings.sms_claim_lease_seconds,
        outreach_defaults=ReminderDefaults(
            offsets_minutes=tuple(settings.reminder_offsets_minutes),
            quiet_start=settings.quiet_hours_start,
            quiet_end=settings.quiet_hours_end,
        ),
    )
