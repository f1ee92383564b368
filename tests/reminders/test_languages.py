"""Outreach in the patient's language: the scheduler's reminder reaches the phone in Spanish
for a patient remembered as Spanish-speaking (and unchanged in English), and "C" still
confirms that appointment."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from frontdesk.db import make_session_factory, session_scope
from frontdesk.models import Practice
from frontdesk.patients.models import Patient
from frontdesk.reminders.policy import ReminderDefaults
from frontdesk.reminders.scheduler import ReminderRunner, bot_notifier
from frontdesk.sms.text import segment_info
from tests.conftest import AT_NOW, NOW
from tests.connectors.test_twilio_sms import PATIENT, make_client, send_outbox, text_in
from tests.doubles import ScriptedBot
from tests.reminders.test_outreach import book
from tests.support.apps import app_of, portal_of, services_of, settle_turns
from tests.twilio_fake import TwilioFake, running_fake


@pytest.fixture(scope="module")
def fake() -> Iterator[TwilioFake]:
    with running_fake() as served:
        yield served


@pytest.mark.parametrize(
    ("preferred", "answers", "english_words"),
    [
        ("es-MX", "Responda C para confirmar, R para cambiar o X para cancelar.", False),
        ("en", "Reply C to confirm, R to reschedule, X to cancel.", True),
        (None, "Reply C to confirm, R to reschedule, X to cancel.", True),
    ],
)
def test_a_reminder_goes_out_in_the_patients_language_and_c_still_confirms(
    sqlite_engine: Engine,
    fake: TwilioFake,
    tmp_path: Path,
    preferred: str | None,
    answers: str,
    english_words: bool,
) -> None:
    bot = ScriptedBot(lambda text: [])
    for client in make_client(sqlite_engine, bot, fake, tmp_path):
        factory = make_session_factory(sqlite_engine, clock=AT_NOW)
        with session_scope(factory) as db:
            practice = db.scalars(select(Practice)).one()
            appointment = book(db, practice, NOW + timedelta(days=2, hours=1))
            appointment_id = appointment.id
            patient = db.get_one(Patient, appointment.patient_id)
            assert patient.phone == PATIENT
            patient.preferred_language = preferred
        services = services_of(client)
        runner = ReminderRunner(
            sessions=factory,
            clock=lambda: NOW + timedelta(hours=1),  # the 2-day reminder is due
            defaults=ReminderDefaults(),
            notify=bot_notifier(services.bot, portal_of(client).call(asyncio.get_running_loop)),
        )
        assert runner.tick().sent == 1
        send_outbox(client)
        [reminder] = fake.bodies_to(PATIENT)
        assert reminder.endswith(answers)
        assert ("reminder of your appointment" in reminder) is english_words
        assert segment_info(reminder).segments == 1  # GSM-7 and short, in either language
        deadline = time.monotonic() + 5
        while not bot.triggered and time.monotonic() < deadline:
            time.sleep(0.01)
        text_in(client, "C")
        settle_turns(app_of(client))
        assert bot.turns[-1][1] == f'/confirm_appointment{{"appointment_ref":"a_{appointment_id}"}}'


def test_a_spanish_reminder_names_the_day_and_time_in_spanish(
    sqlite_engine: Engine, fake: TwilioFake, tmp_path: Path
) -> None:
    bot = ScriptedBot(lambda text: [])
    for client in make_client(sqlite_engine, bot, fake, tmp_path):
        factory = make_session_factory(sqlite_engine, clock=AT_NOW)
        with session_scope(factory) as db:
            practice = db.scalars(select(Practice)).one()
            start = NOW + timedelta(days=2, hours=1)
            appointment = book(db, practice, start)
            db.get_one(Patient, appointment.patient_id).preferred_language = "es"
        runner = ReminderRunner(
            sessions=factory, clock=lambda: NOW + timedelta(hours=1), defaults=ReminderDefaults()
        )
        assert runner.tick().sent == 1
        send_outbox(client)
        [reminder] = fake.bodies_to(PATIENT)
        assert ": le recordamos su cita del " in reminder
        assert " a las " in reminder and ("a. m." in reminder or "p. m." in reminder)
        assert any(
            day in reminder
            for day in ("lunes", "martes", "miércoles", "jueves", "viernes", "sabado", "domingo")
        )
