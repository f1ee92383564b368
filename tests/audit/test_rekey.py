"""Migration 0013: chains written before the audit key are checked, then re-chained under it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from frontdesk.audit.models import GENESIS_HASH, AuditEvent
from frontdesk.audit.service import (
    ChainRekeyError,
    audit_key_for,
    chain_hash,
    event_fields,
    use_audit_key,
    verify_chain,
)
from frontdesk.db import make_engine, make_session_factory, session_scope
from frontdesk.migrate import upgrade
from frontdesk.settings import Settings, get_settings
from tests import factories
from tests.conftest import AT_NOW, NOW, TEST_AUDIT_KEY

AUDIT_KEY = "an-audit-key-held-outside-the-database"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def old_database(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    """A database at 0012 (before the key) whose deployment now sets FRONTDESK_AUDIT_KEY."""
    for variable, value in {
        "FRONTDESK_ENV": "production",
        "FRONTDESK_SECRET_KEY": "s" * 32,
        "FRONTDESK_INTERNAL_TOKEN": "i" * 32,
        "FRONTDESK_RASA_TOKEN": "r" * 32,
        "FRONTDESK_AUDIT_KEY": AUDIT_KEY,
    }.items():
        monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:  # a database of its own: the migration commits
        admin = create_engine(
            request.getfixturevalue("postgres_database"), isolation_level="AUTOCOMMIT"
        )
        name = f"frontdesk_rekey_{uuid.uuid4().hex[:10]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = admin.url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine, "0012")  # the revision before the audit key
    yield engine
    engine.dispose()
    if request.param == "postgres":
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    get_settings.cache_clear()
    use_audit_key(TEST_AUDIT_KEY)


def write_unkeyed_chain(engine: Engine, events: int) -> int:
    """Events as the code before the key wrote them: plain SHA-256."""
    with session_scope(make_session_factory(engine, clock=AT_NOW)) as session:
        practice = factories.practice(session)
        prev = GENESIS_HASH
        for seq in range(1, events + 1):
            event = AuditEvent(
                practice_id=practice.id,
                seq=seq,
                actor_id=None,
                action="patient.view",
                subject_type="patient",
                subject_id=str(seq),
                reason=None,
                at=NOW,
                prev_hash=prev,
            )
            event.hash = prev = chain_hash(prev, event_fields(event))
            session.add(event)
            session.flush()
        return practice.id


def test_existing_chains_are_rechained_under_the_key(old_database: Engine) -> None:
    practice_id = write_unkeyed_chain(old_database, 4)
    upgrade(old_database)
    key = audit_key_for(Settings())
    assert key == AUDIT_KEY.encode()
    use_audit_key(key)
    with Session(old_database) as session:
        check = verify_chain(session=session, practice_id=practice_id)
        assert check.ok and check.checked == 4
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        assert events[-1].hash == chain_hash(events[-1].prev_hash, event_fields(events[-1]), key)
        use_audit_key(b"not the key")
        assert not verify_chain(session=session, practice_id=practice_id).ok
        # The append-only guard is back after the migration.
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text("UPDATE audit_events SET reason = 'x' WHERE seq = 1"))


def test_a_chain_broken_before_the_upgrade_is_not_laundered(old_database: Engine) -> None:
    write_unkeyed_chain(old_database, 3)
    with old_database.begin() as connection:
        if old_database.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER audit_events_no_update"))
        connection.execute(text("UPDATE audit_events SET subject_id = '99' WHERE seq = 2"))
    with pytest.raises(ChainRekeyError, match="broken at event 2"):
        upgrade(old_database)
    with old_database.connect() as connection:  # nothing changed: still at 0012, same hashes
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version == "0012"
