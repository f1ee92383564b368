"""Freed provider time is announced, and whoever offers it on listens.

Cancelling, rescheduling and the EHR mirror free provider time; the waitlist offers that time
to waiting patients. The waitlist books through the booking module, so booking must not call
the waitlist itself: it announces the freed time here, and every listener subscribed at
start-up (`frontdesk.wiring.connect_ports`) answers with the offers it made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from frontdesk.scheduling.models import WaitlistOffer
from frontdesk.scheduling.waitlist_notices import WaitlistNotifier
from frontdesk.scheduling.waitlist_policy import DEFAULT_WAITLIST_POLICY, WaitlistPolicy


@dataclass(frozen=True)
class FreedTime:
    """Provider time that became free.

    Attributes:
        provider_id: Whose time it is.
        start: Start of the free time (never before `now`).
        end: End of the free time.
        now: When it was freed.
        notifier: How offers reach patients, when the one freeing the time chose; None leaves
            it to the listener.
        policy: The service's waitlist rules, as the one freeing the time was configured.
    """

    provider_id: int
    start: datetime
    end: datetime
    now: datetime
    notifier: WaitlistNotifier | None = None
    policy: WaitlistPolicy = DEFAULT_WAITLIST_POLICY


class FreedTimeListener(Protocol):
    """Acts on freed time, in the announcer's transaction; returns the offers it made."""

    def __call__(self, *, session: Session, freed: FreedTime) -> list[WaitlistOffer]:
        """Handle one announcement."""
        ...


_listeners: list[FreedTimeListener] = []


def subscribe_to_freed_time(listener: FreedTimeListener) -> None:
    """Tell `listener` about freed time from now on (subscribing it again changes nothing)."""
    if listener not in _listeners:
        _listeners.append(listener)


def unsubscribe_from_freed_time(listener: FreedTimeListener) -> None:
    """Stop telling `listener` (no error if it was not subscribed)."""
    if listener in _listeners:
        _listeners.remove(listener)


def announce_freed_time(
    session: Session,
    *,
    provider_id: int,
    start: datetime,
    end: datetime,
    now: datetime,
    notifier: WaitlistNotifier | None = None,
    policy: WaitlistPolicy = DEFAULT_WAITLIST_POLICY,
) -> list[WaitlistOffer]:
    """Tell every listener that provider time [start, end) was freed at `now`.

    Time already over is not announced; time already under way counts from `now`.

    Returns:
        Every listener's offers, in subscription order.
    """
    if end <= now:
        return []
    freed = FreedTime(
        provider_id=provider_id,
        start=max(start, now),
        end=end,
        now=now,
        notifier=notifier,
        policy=policy,
    )
    offers: list[WaitlistOffer] = []
    for listener in list(_listeners):
        offers.extend(listener(session=session, freed=freed))
    return offers
