"""Pulling appointments made or cancelled in the EHR back, so the bot never offers that time.

Per practice and provider: search the EHR for appointments in the booking horizon changed
since the last pull (`Appointment?actor=Practitioner/<id>&date=ge..&date=lt..&_lastUpdated=ge..`),
skip the ones carrying our identifier (ours, already in our database), and hand the rest to
scheduling's `record_external_appointment`, which holds or frees the provider's time. It is
keyed by the EHR's id, so pulling the same appointment twice changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from frontdesk.db import session_scope
from frontdesk.ehr.interface import Ehr, EhrError, PractitionerRecord, RemoteAppointment
from frontdesk.ehr.mirror import record_external_appointment
from frontdesk.ehr.worker import identifier_system
from frontdesk.practices.models import Practice, Provider
from frontdesk.scheduling.waitlist_policy import DEFAULT_WAITLIST_POLICY, WaitlistPolicy

logger = logging.getLogger(__name__)

# Clocks differ between us and the EHR: ask again for a little before the last change seen.
CURSOR_OVERLAP = timedelta(minutes=2)


@dataclass
class PullCursor:
    """The EHR's last-change time seen per (practice, provider). In memory: after a restart
    the first pull reads the whole horizon again, which is idempotent."""

    seen: dict[tuple[int, int], datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class _PracticeToPull:
    """What a pull needs to know about a practice, read before any EHR request."""

    id: int
    system: str
    horizon_days: int
    providers: tuple[PractitionerRecord, ...]


@dataclass
class _Fetched:
    """What the EHR said for one practice: foreign appointments per provider, new cursors."""

    found: list[tuple[int, RemoteAppointment]] = field(default_factory=list)
    seen_now: dict[tuple[int, int], datetime] = field(default_factory=dict)
    failed: list[int] = field(default_factory=list)


def _practices(sessions: sessionmaker[Session], identifier_prefix: str) -> list[_PracticeToPull]:
    with session_scope(sessions) as session:
        practices = session.scalars(select(Practice).order_by(Practice.id)).all()
        providers = session.scalars(select(Provider).order_by(Provider.id)).all()
        return [
            _PracticeToPull(
                id=practice.id,
                system=identifier_system(prefix=identifier_prefix, practice_slug=practice.slug),
                horizon_days=practice.max_horizon_days,
                providers=tuple(
                    PractitionerRecord(local_id=p.id, display_name=p.display_name)
                    for p in providers
                    if p.practice_id == practice.id
                ),
            )
            for practice in practices
        ]


def _fetch(*, ehr: Ehr, practice: _PracticeToPull, now: datetime, cursor: PullCursor) -> _Fetched:
    """Ask the EHR about every provider of a practice; no database transaction is open.

    A provider the EHR could not answer for is listed in `failed`: nothing changes for it
    and its cursor stays, so the next pull asks again.
    """
    fetched = _Fetched()
    horizon_end = now + timedelta(days=practice.horizon_days + 1)
    for provider in practice.providers:
        key = (practice.id, provider.local_id)
        since = cursor.seen.get(key)
        try:
            found = ehr.find_appointments(
                system=practice.system,
                practitioner=provider,
                start=now - timedelta(days=1),
                end=horizon_end,
                updated_since=since - CURSOR_OVERLAP if since else None,
            )
        except EhrError as exc:
            logger.warning(
                "EHR pull failed for practice %s provider %s: %s",
                practice.id,
                provider.local_id,
                exc,
            )
            fetched.failed.append(provider.local_id)
            continue
        for remote in found:
            if remote.last_updated is not None and (since is None or remote.last_updated > since):
                since = remote.last_updated
            if not remote.ours:
                fetched.found.append((provider.local_id, remote))
        if since is not None:
            fetched.seen_now[key] = since
    return fetched


def _apply(
    *,
    session: Session,
    practice_id: int,
    fetched: _Fetched,
    now: datetime,
    waitlist_policy: WaitlistPolicy,
) -> int:
    """Write what the EHR said, in the caller's (short) transaction; returns how many."""
    for provider_id, remote in fetched.found:
        record_external_appointment(
            session=session,
            practice_id=practice_id,
            provider_id=provider_id,
            start=remote.start,
            end=remote.end,
            external_id=remote.remote_id,
            status="booked" if remote.holds_time else "cancelled",
            now=now,
            waitlist_policy=waitlist_policy,
        )
    return len(fetched.found)


def pull_all(
    *,
    sessions: sessionmaker[Session],
    ehr: Ehr,
    identifier_prefix: str,
    now: datetime,
    cursor: PullCursor,
    waitlist_policy: WaitlistPolicy = DEFAULT_WAITLIST_POLICY,
) -> int:
    """Pull every practice: fetch from the EHR first, then write in one short transaction.

    No database transaction is open while the EHR is asked (on SQLite that would hold the
    single write lock across network round trips and stall every patient turn). A provider
    the EHR fails for is skipped and asked again next time; the others are applied. Each
    cursor advances only once what it covers is committed, so a rolled-back write is read
    again. Time the EHR freed is offered to the waitlist under `waitlist_policy`.
    """
    applied = 0
    for practice in _practices(sessions, identifier_prefix):
        fetched = _fetch(ehr=ehr, practice=practice, now=now, cursor=cursor)
        if fetched.found:
            with session_scope(sessions) as session:
                applied += _apply(
                    session=session,
                    practice_id=practice.id,
                    fetched=fetched,
                    now=now,
                    waitlist_policy=waitlist_policy,
                )
        cursor.seen.update(fetched.seen_now)
    return applied


async def run_pull_loop(
    *,
    sessions: sessionmaker[Session],
    ehr: Ehr,
    identifier_prefix: str,
    interval_seconds: float,
    clock: Callable[[], datetime],
    stop: asyncio.Event,
    waitlist_policy: WaitlistPolicy = DEFAULT_WAITLIST_POLICY,
) -> None:
    """Pull every `interval_seconds` until `stop` is set (a task in the service's loop)."""
    cursor = PullCursor()
    while not stop.is_set():
        try:
            await asyncio.to_thread(
                pull_all,
                sessions=sessions,
                ehr=ehr,
                identifier_prefix=identifier_prefix,
                now=clock(),
                cursor=cursor,
                waitlist_policy=waitlist_policy,
            )
        except Exception:  # keep pulling next time; the error is logged without PHI
            logger.exception("EHR pull failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
