"""The outbox worker: claims due SMS, hands them to the transport, records what happened.

Never twice: a message is claimed (`pending` -> `sending`, conditional UPDATE) in a committed
transaction before it is handed over, so two workers never send the same row. If a worker
dies after handing a message over but before recording it, the claim expires and the message
is looked up at the provider before it is sent again. Transient failures (5xx, 429,
timeouts) are retried with exponential backoff; after `max_attempts` the message is
dead-lettered for staff.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from frontdesk.db import session_scope
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
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    # --- one pass -------------------------------------------------------------------------

    def run_once(self) -> int:
        """Reconcile expired claims, then send one batch of due messages; returns how many
        were handed to the transport."""
        self._reconcile_stale()
        jobs = self._claim()
        if not jobs:
            return 0
        # One recipient's messages go out one after another, in order (a reply must not
        # overtake the question before it); different recipients in parallel.
        by_recipient: dict[str, list[_Job]] = {}
        for job in jobs:
            by_recipient.setdefault(job.to, []).append(job)
        groups = list(by_recipient.values())
        if self._threads == 1 or len(groups) == 1:
            results = [self._send_in_order(group) for group in groups]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="sms-send")
            results = list(self._pool.map(self._send_in_order, groups))
        self._record([outcome for group in results for outcome in group])
        return len(jobs)

    def drain(self, *, max_passes: int = 10_000) -> int:
        """Run passes until nothing is due (tests, benchmarks, the CLI)."""
        total = 0
        for _ in range(max_passes):
            sent = self.run_once()
            if sent == 0:
                break
            total += sent
        return total

    def _claim(self) -> list[_Job]:
        now = self._clock()
        with session_scope(self._sessions) as session:
            ids = list(
                session.scalars(
                    select(OutboundSms.id)
                    .where(
                        OutboundSms.status == OutboundStatus.PENDING,
                        OutboundSms.next_attempt_at <= now,
                    )
                    .order_by(OutboundSms.id)
                    .limit(self._batch_size)
                )
            )
            if not ids:
                return []
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
                )
                .where(OutboundSms.id.in_(claimed))
                .order_by(OutboundSms.id)
            ).all()
        return [_Job(*row) for row in rows]

    def _send_in_order(self, jobs: list[_Job]) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        for job in jobs:
            if outcomes and isinstance(outcomes[-1].error, TransientSendError):
                # An earlier message to this number failed: keep the order, retry both later.
                outcomes.append(_Outcome(job, error=TransientSendError("an earlier one failed")))
                continue
            outcomes.append(self._send(job))
        return outcomes

    def _send(self, job: _Job) -> _Outcome:
        try:
            result = self._transport.send(
                to=job.to,
                body=job.body,
                from_phone=job.from_phone,
                messaging_service_sid=job.messaging_service_sid,
                status_callback=self._status_callback_url,
            )
        except (TransientSendError, PermanentSendError) as exc:
            return _Outcome(job, error=exc)
        except Exception as exc:  # an unexpected failure is retried, never fatal to the pass
            logger.exception("sms %s: unexpected send failure", job.id)
            return _Outcome(job, error=TransientSendError(type(exc).__name__))
        return _Outcome(job, result=result)

    def _record(self, outcomes: list[_Outcome]) -> None:
        now = self._clock()
        accepted = [o for o in outcomes if o.result is not None]
        with session_scope(self._sessions) as session:
            if accepted:
                # The common case in one executemany: Twilio took it.
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
                logger.info("%s sms handed over", len(accepted))
            for outcome in outcomes:
                if outcome.result is None:
                    self._record_one(session, outcome, now)

    def _record_one(self, session: Session, outcome: _Outcome, now: datetime) -> None:
        job = outcome.job
        values: dict[str, object] = {"updated_at": now, "claimed_until": None}
        if outcome.result is not None:
            status = _twilio_status(outcome.result.status)
            values |= {"status": status, "twilio_sid": outcome.result.sid, "sent_at": now}
            logger.info("sms %s handed over (%s)", job.id, status.value)
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
        else:
            if job.attempts >= self._max_attempts:
                values |= {"status": OutboundStatus.DEAD, "last_error": str(outcome.error)[:200]}
                logger.warning("sms %s dead-lettered after %s attempts", job.id, job.attempts)
            else:
                delay = min(
                    timedelta(seconds=self._retry_base * 2 ** (job.attempts - 1)), RETRY_CAP
                )
                values |= {
                    "status": OutboundStatus.PENDING,
                    "next_attempt_at": now + delay,
                    "last_error": str(outcome.error)[:200],
                }
                logger.info("sms %s will be retried in %.0f s", job.id, delay.total_seconds())
        session.execute(
            update(OutboundSms)
            .where(OutboundSms.id == job.id, OutboundSms.status == OutboundStatus.SENDING)
            .values(**values)
        )

    def _reconcile_stale(self) -> None:
        now = self._clock()
        with session_scope(self._sessions) as session:
            for row in stale_claims(session=session, now=now):
                # Look back over the whole lease (the claim may have been cut short).
                since = (row.claimed_until or now) - self._lease - timedelta(seconds=5)
                try:
                    sid = self._transport.find_sent(to=row.to_phone, body=row.body, since=since)
                except TransientSendError:
                    continue  # ask again on the next pass; sending blind could double it
                if sid is not None:
                    row.status = OutboundStatus.QUEUED
                    row.twilio_sid = sid
                    row.sent_at = row.sent_at or now
                    logger.info("sms %s was handed over before a restart; not resent", row.id)
                elif row.attempts >= self._max_attempts:
                    row.status = OutboundStatus.DEAD
                    logger.warning("sms %s dead-lettered after %s attempts", row.id, row.attempts)
                else:
                    row.status = OutboundStatus.PENDING
                    row.next_attempt_at = now
                    logger.info("sms %s claim expired unsent; queued again", row.id)
                row.claimed_until = None
                row.updated_at = now

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
    )
