"""One clock: rows are stamped with the time of the unit of work that wrote them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from frontdesk.clock import fixed_clock, shifted_clock, system_clock
from frontdesk.db import SessionWithoutClockError, make_session_factory, session_scope
from frontdesk.models import Practice

LONG_AGO = datetime(2001, 2, 3, 4, 5, tzinfo=UTC)


def test_new_rows_take_their_creation_time_from_the_session_clock(sqlite_engine: Engine) -> None:
    with session_scope(make_session_factory(sqlite_engine, clock=fixed_clock(LONG_AGO))) as db:
        practice = Practice(slug="stamped", name="Stamped", timezone="America/New_York")
        db.add(practice)
    assert practice.created_at == LONG_AGO


def test_a_time_set_by_the_caller_is_kept(sqlite_engine: Engine) -> None:
    chosen = datetime(2020, 1, 1, tzinfo=UTC)
    with session_scope(make_session_factory(sqlite_engine, clock=system_clock)) as db:
        practice = Practice(slug="chosen", name="Chosen", timezone="UTC", created_at=chosen)
        db.add(practice)
    assert practice.created_at == chosen


def test_a_session_without_a_clock_refuses_to_guess_the_time(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as db:
        db.add(Practice(slug="clockless", name="Clockless", timezone="UTC"))
        with pytest.raises(SessionWithoutClockError):
            db.flush()


def test_a_fixed_clock_needs_an_aware_time() -> None:
    assert fixed_clock(LONG_AGO)() == LONG_AGO
    with pytest.raises(ValueError, match="time zone"):
        fixed_clock(datetime(2001, 2, 3))


def test_a_shifted_clock_moves_its_base_by_the_offset() -> None:
    shifted = shifted_clock(90, base=fixed_clock(LONG_AGO))
    assert shifted() == datetime(2001, 2, 3, 4, 6, 30, tzinfo=UTC)
