"""Freed provider time is announced to its listeners (frontdesk.scheduling.freed_time)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from frontdesk.models import Practice
from frontdesk.scheduling.freed_time import (
    FreedTime,
    FreedTimeListener,
    announce_freed_time,
    subscribe_to_freed_time,
    unsubscribe_from_freed_time,
)
from frontdesk.scheduling.models import WaitlistOffer
from frontdesk.scheduling.waitlist_notices import ConversationNotifier
from frontdesk.wiring import connect_ports
from tests.conftest import NOW
from tests.scheduling.test_waitlist import _cancel_tuesday_3pm, _join, _new_patient


class Recorder:
    """A listener that remembers what it heard and answers with one unsaved offer each time."""

    def __init__(self, token: str) -> None:
        self.heard: list[FreedTime] = []
        self.token = token

    def __call__(self, *, session: Session, freed: FreedTime) -> list[WaitlistOffer]:
        self.heard.append(freed)
        return [WaitlistOffer(token=self.token)]


@pytest.fixture
def listening() -> Iterator[list[Recorder]]:
    """Two extra listeners, subscribed for one test only."""
    recorders = [Recorder("first"), Recorder("second")]
    listeners: list[FreedTimeListener] = list(recorders)
    for listener in listeners:
        subscribe_to_freed_time(listener)
        subscribe_to_freed_time(listener)  # a second subscription changes nothing
    try:
        yield recorders
    finally:
        for listener in listeners:
            unsubscribe_from_freed_time(listener)


def test_every_listener_hears_once_and_their_offers_are_collected(
    session: Session, listening: list[Recorder]
) -> None:
    notifier = ConversationNotifier()
    offers = announce_freed_time(
        session,
        provider_id=7,
        start=NOW - timedelta(minutes=10),
        end=NOW + timedelta(minutes=20),
        now=NOW,
        notifier=notifier,
    )
    assert [o.token for o in offers] == ["first", "second"]  # no such provider: no waitlist
    for recorder in listening:
        assert recorder.heard == [
            FreedTime(
                provider_id=7,
                start=NOW,  # time already under way counts from now
                end=NOW + timedelta(minutes=20),
                now=NOW,
                notifier=notifier,
            )
        ]


def test_time_that_is_already_over_is_not_announced(
    session: Session, listening: list[Recorder]
) -> None:
    offers = announce_freed_time(
        session, provider_id=7, start=NOW - timedelta(hours=1), end=NOW, now=NOW
    )
    assert offers == []
    assert [r.heard for r in listening] == [[], []]


def test_connecting_the_ports_again_does_not_double_the_offers(
    session: Session, practice: Practice
) -> None:
    for n in range(4):
        _join(session, practice, _new_patient(session, practice, n))
    connect_ports()
    connect_ports()
    assert len(_cancel_tuesday_3pm(session, practice)) == 3  # one batch, not two
