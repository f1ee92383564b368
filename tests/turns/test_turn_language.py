"""The conversation's language reaches the bot with every turn and every reminder.

Through the real entry points: a signed Twilio webhook in, the durable turn queue and its
dispatcher, the reminder runner; the bot double records what it was sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from frontdesk.db import make_session_factory, session_scope
from frontdesk.models import Patient, Practice
from frontdesk.reminders.policy import ReminderDefaults
from frontdesk.reminders.scheduler import ReminderRunner, bot_notifier
from tests.conftest import AT_NOW, NOW
from tests.connectors.test_twilio_sms import make_client, text_in
from tests.doubles import ScriptedBot
from tests.reminders.test_outreach import book
from tests.support.apps import portal_of, services_of
from tests.twilio_fake import TwilioFake, running_fake


@pytest.fixture(scope="module")
def fake() -> Iterator[TwilioFake]:
    with running_fake() as served:
        yield served


def test_each_turn_carries_the_language_the_conversation_is_in(
    sqlite_engine: Engine, fake: TwilioFake, tmp_path: Path
) -> None:
    bot = ScriptedBot()
    for client in make_client(sqlite_engine, bot, fake, tmp_path):
        text_in(client, "hola, necesito una cita para mi hijo por favor")
        text_in(client, "ok")  # too short to change anything: still Spanish
        text_in(client, "English please")
        assert bot.languages == ["es", "es", "en"]


def test_a_reminder_tells_the_bot_the_patient_language(
    sqlite_engine: Engine, fake: TwilioFake, tmp_path: Path
) -> None:
    bot = ScriptedBot()
    for client in make_client(sqlite_engine, bot, fake, tmp_path):
        factory = make_session_factory(sqlite_engine, clock=AT_NOW)
        with session_scope(factory) as db:
            practice = db.scalars(select(Practice)).one()
            appointment = book(db, practice, NOW + timedelta(days=2, hours=1))
            db.get_one(Patient, appointment.patient_id).preferred_language = "es-US"
        runner = ReminderRunner(
            sessions=factory,
            clock=lambda: NOW + timedelta(hours=1),  # the 2-day reminder is due
            defaults=ReminderDefaults(),
            notify=bot_notifier(
                services_of(client).bot, portal_of(client).call(asyncio.get_running_loop)
            ),
        )
        assert runner.tick().sent == 1
        deadline = time.monotonic() + 5
        while not bot.trigger_entities and time.monotonic() < deadline:
            time.sleep(0.01)
        [entities] = bot.trigger_entities
        assert entities == {"appointment_ref": f"a_{appointment.id}", "language": "es"}
