"""Reminders end to end in one process: the persistent scheduler queues them, Rasa is told
through trigger_intent, the outbox sends them to the Twilio fake, and the patient's "C" reaches
the bot as the confirm intent for that appointment. Plus the reminder action itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from actions.reminders import ActionSendReminder
from frontdesk.clock import system_clock
from frontdesk.conversations.models import Channel
from frontdesk.conversations.service import start_conversation
from frontdesk.db import make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.models import AppointmentStatus, Practice
from frontdesk.reminders.models import ReminderSettings, ReminderStatus, ScheduledReminder
from frontdesk.reminders.planning import plan_outreach
from frontdesk.reminders.policy import ReminderDefaults
from frontdesk.reminders.scheduler import (
    JOB_ID,
    REMINDER_INTENT,
    ReminderRunner,
    bot_notifier,
    start_scheduler,
)
from frontdesk.reminders.sending import send_due
from tests.actions.conftest import context_at
from tests.conftest import AT_NOW, NOW
from tests.connectors.test_twilio_sms import PATIENT, make_client, send_outbox, text_in
from tests.doubles import ScriptedBot
from tests.reminders.test_outreach import book
from tests.support.apps import portal_of, services_of
from tests.twilio_fake import TwilioFake, running_fake


@pytest.fixture(scope="module")
def fake() -> Iterator[TwilioFake]:
    with running_fake() as served:
        yield served


def test_a_reminder_goes_out_and_c_confirms_that_appointment(
    sqlite_engine: Engine, fake: TwilioFake, tmp_path: Path
) -> None:
    bot = ScriptedBot(lambda text: [{"text": "Thanks, you're confirmed."}])
    for client in make_client(sqlite_engine, bot, fake, tmp_path):
        factory = make_session_factory(sqlite_engine, clock=AT_NOW)
        with session_scope(factory) as db:
            practice = db.scalars(select(Practice)).one()
            appointment = book(db, practice, NOW + timedelta(days=2, hours=1))
            appointment_id = appointment.id
        services = services_of(client)
        runner = ReminderRunner(
            sessions=factory,
            clock=lambda: NOW + timedelta(hours=1),  # the 2-day reminder is due
            defaults=ReminderDefaults(),
            notify=bot_notifier(services.bot, portal_of(client).call(asyncio.get_running_loop)),
        )
        result = runner.tick()
        assert (result.claimed, result.sent) == (1, 1)
        send_outbox(client)
        [reminder] = fake.bodies_to(PATIENT)
        assert "Reply C to confirm, R to reschedule, X to cancel." in reminder
        deadline = time.monotonic() + 5
        while not bot.triggered and time.monotonic() < deadline:
            time.sleep(0.01)
        [(conversation_id, intent)] = bot.triggered
        assert intent == REMINDER_INTENT and conversation_id.startswith("c_")
        text_in(client, "c")
        assert bot.turns[-1] == (
            conversation_id,
            f'/confirm_appointment{{"appointment_ref":"a_{appointment_id}"}}',
        )
        send_outbox(client)
        assert fake.bodies_to(PATIENT)[-1] == "Thanks, you're confirmed."


def test_the_scheduler_keeps_its_job_in_the_database_and_runs_the_tick(
    sqlite_engine: Engine,
) -> None:
    factory = make_session_factory(sqlite_engine, clock=system_clock)
    with session_scope(factory) as db:
        practice = seed_demo(db)
        db.add(ReminderSettings(practice_id=practice.id, quiet_start="00:00", quiet_end="23:59"))
        book(db, practice, system_clock() + timedelta(hours=2) - timedelta(minutes=1))
    runner = ReminderRunner(sessions=factory, clock=system_clock, defaults=ReminderDefaults())
    scheduler = start_scheduler(
        engine=sqlite_engine, runner=runner, tick_seconds=3600, first_run_after=0
    )
    try:
        deadline = time.monotonic() + 10
        sent: list[Any] = []
        while time.monotonic() < deadline and not sent:
            with Session(sqlite_engine) as db:
                sent = list(
                    db.scalars(
                        select(ScheduledReminder).where(
                            ScheduledReminder.status == ReminderStatus.SENT
                        )
                    )
                )
            time.sleep(0.05)
        assert len(sent) == 1 and sent[0].offset_minutes == 120
        with sqlite_engine.connect() as connection:
            stored = connection.execute(text("SELECT id FROM apscheduler_jobs")).scalars().all()
        assert stored == [JOB_ID]
    finally:
        scheduler.shutdown(wait=True)


def test_the_reminder_action_sets_the_appointment_in_context(
    session: Session, practice: Practice
) -> None:
    action = ActionSendReminder(context_at(session, NOW))
    conversation, _ = start_conversation(session=session, practice=practice, channel=Channel.SMS)
    appointment = book(session, practice, NOW + timedelta(days=2))

    def tracker(ref: str) -> Tracker:
        return Tracker(
            sender_id=conversation.public_id,
            slots={},
            latest_message={
                "intent": {"name": REMINDER_INTENT, "confidence": 1.0},
                "entities": [{"entity": "appointment_ref", "value": ref}],
                "text": "",
            },
            events=[],
            paused=False,
            followup_action=None,
            active_loop={},
            latest_action_name="action_listen",
        )

    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker(f"a_{appointment.id}"), {}))
    assert events == [SlotSet("appointment_ref", f"a_{appointment.id}")]
    assert dispatcher.messages == []  # the service already sent the text
    assert asyncio.run(action.run(dispatcher, tracker("a_999999"), {})) == []
    assert asyncio.run(action.run(dispatcher, tracker("drop table"), {})) == []


def test_cancelling_after_the_reminder_keeps_the_sent_record(
    session: Session, practice: Practice
) -> None:
    appointment = book(session, practice, NOW + timedelta(days=3))
    plan_outreach(session=session, now=NOW)
    send_due(session=session, now=NOW + timedelta(days=1, hours=1))
    appointment.status = AppointmentStatus.CANCELLED
    session.flush()
    plan_outreach(session=session, now=NOW + timedelta(days=1, hours=2))
    statuses = sorted(
        r.status.value
        for r in session.scalars(
            select(ScheduledReminder).where(ScheduledReminder.appointment_id == appointment.id)
        )
    )
    assert statuses == ["cancelled", "sent"]
