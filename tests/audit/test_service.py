"""The audit log's hash chain and its append-only guard, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from frontdesk.audit.models import GENESIS_HASH, AuditEvent
from frontdesk.audit.service import (
    AuditError,
    AuditFilter,
    chain_hash,
    current_audit_key,
    event_fields,
    iter_audit,
    record_audit,
    search_audit,
    verify_chain,
)
from frontdesk.auth.models import StaffRole
from frontdesk.models import Practice
from tests import factories
from tests.auth.support import insert_staff
from tests.conftest import NOW


@pytest.fixture
def practice(session: Session) -> Practice:
    """A practice of its own: the audit log needs nothing from the demo."""
    return factories.practice(session)


def staff_id(session: Session, practice: Practice, email: str = "a@example.org") -> int:
    # Set-up only: the audited `create_staff_account` would put an event in the chain.
    return insert_staff(session, practice.id, email, name="Avery", role=StaffRole.ADMIN)


def views(session: Session, actor: int, count: int) -> list[AuditEvent]:
    return [
        record_audit(
            session=session,
            actor_id=actor,
            action="conversation.view",
            subject_type="conversation",
            subject_id=f"c_{n}",
            reason="queue: patient_request",
            now=NOW + timedelta(seconds=n),
        )
        for n in range(count)
    ]


def test_each_event_hashes_the_previous_hash_and_its_canonical_json(
    session: Session, practice: Practice
) -> None:
    actor = staff_id(session, practice)
    first, second = views(session, actor, 2)
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH and second.prev_hash == first.hash
    fields = {
        "practice_id": practice.id,
        "seq": 2,
        "actor_id": actor,
        "action": "conversation.view",
        "subject_type": "conversation",
        "subject_id": "c_1",
        "reason": "queue: patient_request",
        "at": "2026-11-28T15:00:01.000000+00:00",
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    key = current_audit_key()  # the process's key (the app sets it from its settings)
    keyed = hmac.new(key, (first.hash + canonical).encode(), hashlib.sha256)
    assert second.hash == keyed.hexdigest()
    check = verify_chain(session=session, practice_id=practice.id)
    assert check.ok and check.checked == 2 and check.head_hash == second.hash


def test_the_database_refuses_updates_and_deletes(session: Session, practice: Practice) -> None:
    (event,) = views(session, staff_id(session, practice), 1)
    for statement in (
        "UPDATE audit_events SET reason = 'nothing to see' WHERE id = :id",
        "DELETE FROM audit_events WHERE id = :id",
    ):
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(text(statement), {"id": event.id})
    session.expire_all()
    assert session.get_one(AuditEvent, event.id).reason == "queue: patient_request"


def _tamper(session: Session, statement: str, **params: object) -> None:
    """Change rows behind the guard's back, as someone with database superpowers could."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
    else:
        session.execute(text("DROP TRIGGER audit_events_no_update"))
        session.execute(text("DROP TRIGGER audit_events_no_delete"))
    session.execute(text(statement), params)
    session.expire_all()  # the test's transaction rolls all of this back afterwards


@pytest.mark.parametrize(
    ("statement", "broken_seq", "intact", "problem"),
    [
        ("UPDATE audit_events SET reason = 'edited' WHERE seq = 3", 3, 2, "changed"),
        ("UPDATE audit_events SET actor_id = NULL WHERE seq = 2", 2, 1, "changed"),
        ("DELETE FROM audit_events WHERE seq = 2", 3, 1, "missing"),
        ("UPDATE audit_events SET prev_hash = hash WHERE seq = 4", 4, 3, "previous"),
    ],
)
def test_verify_chain_reports_the_first_broken_link(
    session: Session,
    practice: Practice,
    statement: str,
    broken_seq: int,
    intact: int,
    problem: str,
) -> None:
    views(session, staff_id(session, practice), 5)
    _tamper(session, statement)
    check = verify_chain(session=session, practice_id=practice.id)
    assert not check.ok
    assert check.broken_seq == broken_seq
    assert check.checked == intact
    assert check.problem and problem in check.problem


def test_rewriting_an_event_and_its_hash_still_breaks_the_next_link(
    session: Session, practice: Practice
) -> None:
    events = views(session, staff_id(session, practice), 3)
    _tamper(session, "UPDATE audit_events SET hash = :h WHERE seq = 2", h="f" * 64)
    check = verify_chain(session=session, practice_id=practice.id)
    assert not check.ok and check.broken_seq == 2
    assert events[2].prev_hash != "f" * 64


def test_each_practice_has_its_own_chain_and_staff_write_only_their_own(
    session: Session, practice: Practice
) -> None:
    other = factories.practice(session, slug="other", name="Other Clinic")
    mine, theirs = staff_id(session, practice), staff_id(session, other, "b@example.org")
    views(session, mine, 2)
    (first_other,) = views(session, theirs, 1)
    assert first_other.seq == 1 and first_other.practice_id == other.id
    with pytest.raises(AuditError, match="own practice"):
        record_audit(
            session=session,
            actor_id=theirs,
            action="patient.view",
            subject_type="patient",
            subject_id="1",
            reason=None,
            now=NOW,
            practice_id=practice.id,
        )
    rows, total = search_audit(
        session=session, practice_id=practice.id, where=AuditFilter(), page=1
    )
    assert total == 2 and {r.event.actor_id for r in rows} == {mine}


def test_system_events_need_a_practice_and_fields_are_checked(
    session: Session, practice: Practice
) -> None:
    with pytest.raises(AuditError):
        record_audit(
            session=session,
            actor_id=None,
            action="x",
            subject_type="y",
            subject_id="z",
            reason=None,
            now=NOW,
        )
    with pytest.raises(AuditError):
        record_audit(
            session=session,
            actor_id=None,
            action="a" * 65,
            subject_type="y",
            subject_id="z",
            reason=None,
            now=NOW,
            practice_id=practice.id,
        )
    event = record_audit(
        session=session,
        actor_id=None,
        action="ehr.retry",
        subject_type="appointment",
        subject_id="42",
        reason="r" * 2000,
        now=NOW,
        practice_id=practice.id,
    )
    assert event.reason is not None and len(event.reason) == 500
    assert verify_chain(session=session, practice_id=practice.id).ok


def test_search_filters_and_pages(session: Session, practice: Practice) -> None:
    actor = staff_id(session, practice)
    views(session, actor, 7)
    record_audit(
        session=session,
        actor_id=actor,
        action="patient.view",
        subject_type="patient",
        subject_id="99",
        reason="context panel",
        now=NOW + timedelta(days=2),
    )
    page, total = search_audit(
        session=session, practice_id=practice.id, where=AuditFilter(), page=2, page_size=3
    )
    assert total == 8 and [r.event.seq for r in page] == [5, 4, 3]
    only, total = search_audit(
        session=session,
        practice_id=practice.id,
        where=AuditFilter(action="patient.view"),
        page=1,
    )
    assert total == 1 and only[0].actor_name == "Avery"
    later, total = search_audit(
        session=session,
        practice_id=practice.id,
        where=AuditFilter(since=NOW + timedelta(days=1)),
        page=1,
    )
    assert total == 1 and later[0].event.subject_id == "99"
    exported = list(
        iter_audit(session=session, practice_id=practice.id, where=AuditFilter(subject_id="c_3"))
    )
    assert [r.as_record()["seq"] for r in exported] == [4]


def _rechain(session: Session, practice: Practice, key: bytes | None, *, edit_seq: int) -> None:
    """Edit one event, then recompute every hash after it, as SQL access alone allows."""
    _tamper(
        session, "UPDATE audit_events SET reason = 'nothing happened' WHERE seq = :s", s=edit_seq
    )
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.practice_id == practice.id).order_by(AuditEvent.seq)
    ).all()
    prev = GENESIS_HASH
    for event in events:
        digest = chain_hash(prev, event_fields(event), key)
        session.execute(
            text("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE id = :id"),
            {"p": prev, "h": digest, "id": event.id},
        )
        prev = digest
    session.expire_all()


@pytest.mark.parametrize("guess", [None, b"a guessed key"], ids=["sha256", "wrong-key"])
def test_sql_access_alone_cannot_rewrite_and_rechain(
    session: Session, practice: Practice, guess: bytes | None
) -> None:
    views(session, staff_id(session, practice), 4)
    assert verify_chain(session=session, practice_id=practice.id).ok
    _rechain(session, practice, guess, edit_seq=2)
    check = verify_chain(session=session, practice_id=practice.id)
    assert not check.ok and check.broken_seq == 1  # nothing verifies under the real key
    assert check.problem and "without the audit key" in check.problem
