"""Liveness, readiness and the health page, through the real app."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from frontdesk import __version__
from frontdesk.app import create_app
from frontdesk.db import make_engine
from frontdesk.ehr.models import EhrOutboxEntry
from frontdesk.settings import Settings
from frontdesk.sms.models import InboundSms, OutboundSms, OutboundStatus
from tests import factories
from tests.auth.support import Console, make_console
from tests.conftest import NOW, empty_database
from tests.doubles import DownBot
from tests.support.apps import app_of, portal_of


@pytest.fixture
def console(sqlite_engine: Engine, tmp_path: Path) -> Iterator[Console]:
    yield from make_console(sqlite_engine, tmp_path, ready_max_queue_age_seconds=600)


def test_a_healthy_replica_is_live_and_ready(console: Console) -> None:
    assert console.client.get("/livez").json() == {"status": "ok"}
    ready = console.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"database": "ok", "bot": "ready", "queues": "ok", "fanout": "in-process"},
    }


def test_healthz_keeps_its_shape_and_adds_rasa_and_fanout(console: Console) -> None:
    health = console.client.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "database": "ok",
        "bot": "ready",
        "rasa": {"supervised": False},  # not started by `frontdesk run` here
        "fanout": "in-process",
        "version": __version__,
    }


def _outbound(console: Console, **columns: object) -> None:
    with console.db() as session:
        session.add(
            OutboundSms(
                practice_id=console.practice_id,
                to_phone="+15005550006",
                body="Your visit is tomorrow",
                kind="reminder",
                **columns,
            )
        )


def test_an_outbox_nobody_drains_makes_the_replica_not_ready(console: Console) -> None:
    # Due 20 minutes ago and never picked up: the worker is dead or stuck.
    _outbound(console, status=OutboundStatus.PENDING, next_attempt_at=NOW - timedelta(minutes=20))
    ready = console.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
    assert ready.json()["checks"]["queues"] == {"wedged": ["sms_outbox"]}
    assert console.client.get("/livez").status_code == 200  # alive: do not restart it


def test_a_claim_left_in_sending_counts_as_wedged(console: Console) -> None:
    _outbound(console, status=OutboundStatus.SENDING, claimed_until=NOW - timedelta(hours=1))
    assert console.client.get("/readyz").json()["checks"]["queues"] == {"wedged": ["sms_outbox"]}


def test_a_provider_outage_being_retried_is_not_a_wedge(console: Console) -> None:
    # Old, but its next attempt is in the future: the worker is doing its job (backing off).
    _outbound(
        console,
        status=OutboundStatus.PENDING,
        created_at=NOW - timedelta(hours=2),
        next_attempt_at=NOW + timedelta(minutes=5),
    )
    _outbound(console, status=OutboundStatus.DELIVERED, created_at=NOW - timedelta(days=1))
    assert console.client.get("/readyz").status_code == 200


def test_an_inbound_text_never_handed_on_makes_the_replica_not_ready(console: Console) -> None:
    with console.db() as session:
        session.add(
            InboundSms(
                message_sid="SM" + "0" * 32,
                practice_id=console.practice_id,
                from_phone="+15005550006",
                to_phone="+15005550001",
                body="hello",
                received_at=NOW - timedelta(minutes=11),
            )
        )
    assert console.client.get("/readyz").json()["checks"]["queues"] == {"wedged": ["sms_inbound"]}


def test_without_rasa_the_replica_is_live_but_not_ready(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    settings = Settings(
        _env_file=None,
        env="test",
        allowed_hosts="testserver",  # the TestClient's Host header
        data_dir=tmp_path,
        internal_token="internal-test-token",
        rasa_token="rasa-test-token",
        secret_key="secret-test-key",
        sms_worker_enabled=False,
        reminders_enabled=False,
    )
    with TestClient(create_app(settings, engine=sqlite_engine, bot=DownBot())) as client:
        assert client.get("/livez").status_code == 200
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json()["checks"]["bot"]) == (503, "unavailable")
        assert client.get("/healthz").json()["bot"] == "unavailable"


def test_without_the_database_the_replica_is_live_but_not_ready(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        env="test",
        allowed_hosts="testserver",  # the TestClient's Host header
        data_dir=tmp_path,
        internal_token="internal-test-token",
        rasa_token="rasa-test-token",
        secret_key="secret-test-key",
        sms_worker_enabled=False,
        reminders_enabled=False,
    )
    # A database file in a directory that does not exist: every connection fails.
    unreachable = make_engine(f"sqlite:///{tmp_path / 'missing' / 'frontdesk.db'}")
    with TestClient(create_app(settings, engine=unreachable, bot=DownBot())) as client:
        assert client.get("/livez").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "unavailable"
        health = client.get("/healthz").json()
        assert (health["status"], health["database"]) == ("degraded", "unavailable")
    unreachable.dispose()


def test_the_ehr_outbox_counts_only_with_an_ehr(sqlite_engine: Engine, tmp_path: Path) -> None:
    def add_old_outbox_row(console: Console) -> None:
        with console.db() as session:
            session.add(
                EhrOutboxEntry(
                    practice_id=console.practice_id,
                    appointment_id=_an_appointment(session, console),
                    operation="create",
                    next_attempt_at=NOW - timedelta(hours=1),
                )
            )

    # Without an EHR every appointment's row waits for one, and that is not a wedge.
    for console in make_console(sqlite_engine, tmp_path / "no-ehr"):
        add_old_outbox_row(console)
        assert console.client.get("/readyz").status_code == 200
    empty_database(sqlite_engine)
    # With one, a write due an hour ago that nobody sends is.
    ehr = {"ehr_fhir_url": "http://127.0.0.1:9/fhir", "ready_max_queue_age_seconds": 600}
    for console in make_console(sqlite_engine, tmp_path / "ehr", **ehr):
        portal_of(console.client).call(app_of(console.client).state.ehr_sync.stop)
        add_old_outbox_row(console)
        assert console.client.get("/readyz").json()["checks"]["queues"] == {
            "wedged": ["ehr_outbox"]
        }


def _an_appointment(session: Session, console: Console) -> int:
    from frontdesk.models import Patient, Provider, VisitType

    patient = session.scalars(select(Patient)).first()
    provider = session.scalars(select(Provider)).first()
    visit = session.scalars(select(VisitType)).first()
    assert patient and provider and visit
    row = factories.appointment(
        session, patient=patient, provider=provider, visit_type=visit, start=NOW + timedelta(days=3)
    )
    # The ORM listener recorded its outbox row already; drop it so the test sets its own.
    session.execute(delete(EhrOutboxEntry).where(EhrOutboxEntry.appointment_id == row.id))
    return row.id
