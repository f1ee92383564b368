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
from frontdesk.ehr.interface import Ehr, EhrError, PractitionerRecord
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


def pull_practice(
    *,
    session: Session,
    ehr: Ehr,
    practice: Practice,
    identifier_prefix: str,
    now: datetime,
    cursor: PullCursor,
    seen_now: dict[tuple[int, int], datetime],
    waitlist_policy: WaitlistPolicy = DEFAULT_WAITLIST_POLICY,
) -> int:
    """Pull one practice's EHR appointments into our schedule; returns how many were applied.

    `cursor` is advanced only in `seen_now`; the caller merges it once the transaction
    committed, so a rolled-back pull is read again next time. Time the EHR freed is offered
    to the waitlist under `waitlist_policy`.

    Raises:
        EhrError: The EHR could not be read (nothing is changed for the provider that failed).
    """
    system = identifier_system(prefix=identifier_prefix, practice_slug=practice.slug)
    horizon_end = now + timedelta(days=practice.max_horizon_days + 1)
    applied = 0
    providers = session.scalars(
        select(Provider).where(Provider.practice_id == practice.id).order_by(Provider.id)
    ).all()
    for provider in providers:
        key = (practice.id, provider.id)
        since = cursor.seen.get(key)
        found = ehr.find_appointments(
            system=system,
            practitioner=PractitionerRecord(
                local_id=provider.id, display_name=provider.display_name
            ),
            start=now - timedelta(days=1),
            end=horizon_end,
            updated_since=since - CURSOR_OVERLAP if since else None,
        )
        for remote in found:
            if remote.last_updated is not None and (since is None or remote.last_updated > since):
                since = remote.last_updated
            if remote.ours:
                continue
            record_external_appointment(
                session=session,
                practice_id=practice.id,
                provider_id=provider.id,
                start=remote.start,
                end=remote.end,
                external_id=remote.remote_id,
                status="booked" if remote.holds_time else "cancelled",
                now=now,
                waitlist_policy=waitlist_policy,
            )
            applied += 1
        if since is not None:
            seen_now[key] = since
    return applied


def pull_all(
    *,
    sessions: sessionmaker[Session],
    ehr: Ehr,
    identifier_prefix: str,
    now: datetime,
    cursor: PullCursor,
    waitlist_policy: WaitlistPolicy = DEFAULT_WAITLIST_POLICY,
) -> int:
    """Pull every practice, each in its own transaction; a failing one does not stop others."""
    with session_scope(sessions) as session:
        practice_ids = list(session.scalars(select(Practice.id).order_by(Practice.id)))
    applied = 0
    for practice_id in practice_ids:
        seen_now: dict[tuple[int, int], datetime] = {}
        try:
            with session_scope(sessions) as session:
                applied += pull_practice(
                    session=session,
                    ehr=ehr,
                    practice=session.get_one(Practice, practice_id),
                    identifier_prefix=identifier_prefix,
                    now=now,
                    cursor=cursor,
                    seen_now=seen_now,
                    waitlist_policy=waitlist_policy,
                )
            cursor.seen.update(seen_now)
        except EhrError as exc:
            logger.warning("EHR pull failed for practice %s: %s", practice_id, exc)
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
