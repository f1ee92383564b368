"""Two workers never claim the same outbox row (PostgreSQL: FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from frontdesk.db import make_session_factory, session_scope
from frontdesk.ehr.worker import claim_due
from tests.conftest import AT_NOW, NOW
from tests.ehr.helpers import TUESDAY_9, book, clinic


@pytest.mark.postgres
def test_two_workers_claim_disjoint_rows(fresh_postgres_engine: Engine) -> None:
    sessions = make_session_factory(fresh_postgres_engine, clock=AT_NOW)
    with session_scope(sessions) as session:
        practice = clinic(session)
        for hour in range(3):
            book(session, practice, start=TUESDAY_9 + timedelta(hours=hour))

    first, second = sessions(), sessions()
    try:
        claimed_first = claim_due(session=first, now=NOW, limit=2)  # still uncommitted
        # Without SKIP LOCKED the second worker would wait on the first: fail, don't hang.
        second.execute(text("SET LOCAL lock_timeout = '2s'"))
        claimed_second = claim_due(session=second, now=NOW, limit=10)
        first.commit()
        second.commit()
    finally:
        first.close()
        second.close()
    ids_first = {claim.entry_id for claim in claimed_first}
    ids_second = {claim.entry_id for claim in claimed_second}
    assert len(ids_first) == 2
    assert len(ids_second) == 1
    assert not ids_first & ids_second
    with session_scope(sessions) as session:
        assert claim_due(session=session, now=NOW) == []  # all in flight now
