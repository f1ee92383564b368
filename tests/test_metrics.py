"""`GET /metrics`: token-protected, Prometheus text format, PHI-free, moved by real traffic."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, select

from connectors import dispatcher
from frontdesk import texts
from frontdesk.app import create_app
from frontdesk.bot import BotUnavailableError
from frontdesk.metrics import MeteredBot, Metrics
from frontdesk.models import Patient, Provider, VisitType
from frontdesk.reminders.models import ReminderKind, ReminderStatus, ScheduledReminder
from frontdesk.settings import Settings
from frontdesk.sms.models import OutboundSms, OutboundStatus
from tests import factories
from tests.auth.support import Console, make_console
from tests.conftest import NOW
from tests.doubles import DownBot, ScriptedBot

WAITING_NOTICE = texts.text(dispatcher.WAITING_NOTICE, "en")

TOKEN = "metrics-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PHONE = "+15005550006"  # made up (Twilio's magic test number)
SECRET_TEXT = "my name is Zebulon Quux and my DOB is 02/03/1961"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by name and labels (parsed as Prometheus would)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def console(sqlite_engine: Engine, tmp_path: Path) -> Iterator[Console]:
    yield from make_console(sqlite_engine, tmp_path, metrics_token=TOKEN)


def test_metrics_need_the_bearer_token(console: Console) -> None:
    assert console.client.get("/metrics").status_code == 401
    assert console.client.get("/metrics").headers["www-authenticate"] == "Bearer"
    wrong = {"Authorization": "Bearer not-the-token"}
    assert console.client.get("/metrics", headers=wrong).status_code == 401
    assert console.client.get("/metrics", params={"token": TOKEN}).status_code == 401
    scrape = console.client.get("/metrics", headers=AUTH)
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain; version=0.0.4")


def test_without_a_token_configured_metrics_are_off(sqlite_engine: Engine, tmp_path: Path) -> None:
    for console in make_console(sqlite_engine, tmp_path):
        assert console.client.get("/metrics", headers=AUTH).status_code == 404


def test_queues_reminders_and_processes_are_reported_without_phi(console: Console) -> None:
    with console.client.websocket_connect("/chat/ws?practice=riverside") as patient:
        public_id = patient.receive_json()["conversation_id"]
        patient.send_json({"type": "message", "text": SECRET_TEXT, "client_id": "c1"})
        while patient.receive_json().get("type") != "message":
            pass
    with console.db() as session:
        person = session.scalars(select(Patient)).first()
        provider = session.scalars(select(Provider)).first()
        visit = session.scalars(select(VisitType)).first()
        assert person and provider and visit
        visit_row = factories.appointment(
            session,
            patient=person,
            provider=provider,
            visit_type=visit,
            start=NOW + timedelta(days=2),
        )
        for offset, status in ((2880, ReminderStatus.SENT), (120, ReminderStatus.PLANNED)):
            session.add(
                ScheduledReminder(
                    practice_id=console.practice_id,
                    appointment_id=visit_row.id,
                    patient_id=person.id,
                    kind=ReminderKind.REMINDER,
                    offset_minutes=offset,
                    appointment_start=visit_row.start_at,
                    due_at=visit_row.start_at - timedelta(minutes=offset),
                    status=status,
                )
            )
        session.add(
            OutboundSms(
                practice_id=console.practice_id,
                to_phone=PHONE,
                body=SECRET_TEXT,
                kind="bot",
                created_at=NOW - timedelta(minutes=3),
                next_attempt_at=NOW - timedelta(minutes=1),
            )
        )
        session.add(
            OutboundSms(
                practice_id=console.practice_id,
                to_phone=PHONE,
                body=SECRET_TEXT,
                kind="bot",
                status=OutboundStatus.DEAD,
                created_at=NOW - timedelta(hours=1),
            )
        )
    scrape = console.client.get("/metrics", headers=AUTH).text
    got = samples(scrape)
    assert got[("frontdesk_queue_depth", (("queue", "sms_outbox"),))] == 1
    assert got[("frontdesk_queue_oldest_age_seconds", (("queue", "sms_outbox"),))] == 180
    assert got[("frontdesk_queue_overdue_seconds", (("queue", "sms_outbox"),))] == 60
    # No EHR configured: its outbox (an appointment's row waiting for one) is not a queue.
    assert ("frontdesk_queue_depth", (("queue", "ehr_outbox"),)) not in got
    assert got[("frontdesk_reminders_sent_total", (("kind", "reminder"),))] == 1
    assert got[("frontdesk_dead_letters", (("queue", "sms_outbox"),))] == 1
    assert got[("frontdesk_dead_letters", (("queue", "ehr_outbox"),))] == 0
    assert got[("frontdesk_reminders_sent_total", (("kind", "no_show"),))] == 0
    assert got[("frontdesk_rasa_up", ())] == 1
    assert got[("frontdesk_leader", ())] == 1  # SQLite: the single process leads
    assert got[("frontdesk_database_up", ())] == 1
    # Nothing that identifies a patient or a conversation, in names, labels or values.
    for needle in (public_id, PHONE, "5550006", "Zebulon", "Quux", "1961", person.last_name):
        assert needle not in scrape


def test_a_turn_rasa_could_not_take_is_timed_and_rasa_shows_down(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    for console in make_console(sqlite_engine, tmp_path, metrics_token=TOKEN):
        settings = console.settings.model_copy(update={"rasa_url": "http://127.0.0.1:9"})
        # No bot injected: the service's own Rasa client, metered, to a closed port.
        with TestClient(create_app(settings, engine=sqlite_engine)) as client:
            with client.websocket_connect("/chat/ws?practice=riverside") as patient:
                patient.receive_json()
                patient.send_json({"type": "message", "text": "hello", "client_id": "c1"})
                # Kept for a retry; the patient hears "one moment" once the first send failed.
                while patient.receive_json().get("text") != WAITING_NOTICE:
                    pass
            got = samples(client.get("/metrics", headers=AUTH).text)
        assert got[("frontdesk_turn_seconds_count", (("outcome", "unavailable"),))] >= 1
        assert got.get(("frontdesk_turn_seconds_count", (("outcome", "ok"),)), 0) == 0
        assert got[("frontdesk_rasa_up", ())] == 0


def test_the_metered_bot_times_turns_and_counts_other_calls() -> None:
    metrics = Metrics()

    async def scenario() -> None:
        up = MeteredBot(_Quiet(), metrics)
        await up.send_user_turn("c-1", "hi")
        await up.trigger_intent("c-1", "EXTERNAL_appointment_reminder")
        await up.pause("c-1")
        await up.resume("c-1")
        assert await up.is_ready()
        await up.aclose()
        down = MeteredBot(DownBot(), metrics)
        with pytest.raises(BotUnavailableError):
            await down.send_user_turn("c-2", "hi")
        with pytest.raises(BotUnavailableError):
            await down.pause("c-2")

    asyncio.run(scenario())
    got = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in metrics.registry.collect()
        for s in family.samples
    }
    assert got[("frontdesk_turn_seconds_count", (("outcome", "ok"),))] == 1
    assert got[("frontdesk_turn_seconds_count", (("outcome", "unavailable"),))] == 1
    assert got[("frontdesk_bot_calls_total", (("call", "trigger_intent"), ("outcome", "ok")))] == 1
    assert got[("frontdesk_bot_calls_total", (("call", "pause"), ("outcome", "unavailable")))] == 1
    assert got[("frontdesk_bot_calls_total", (("call", "resume"), ("outcome", "ok")))] == 1


class _Quiet(ScriptedBot):
    """Takes every turn without answering (no app to call back)."""

    async def send_user_turn(
        self,
        conversation_id: str,
        text: str,
        *,
        message_id: str | None = None,
        language: str | None = None,
    ) -> None:
        self.turns.append((conversation_id, text))


def test_settings_keep_the_token_out_of_repr() -> None:
    assert TOKEN not in repr(Settings(env="development", _env_file=None, metrics_token=TOKEN))


@pytest.mark.parametrize("token", ["change-me", "secret"])
def test_a_placeholder_metrics_token_is_refused(token: str) -> None:
    with pytest.raises(ValueError, match="FRONTDESK_METRICS_TOKEN"):
        Settings(env="development", _env_file=None, metrics_token=token)
