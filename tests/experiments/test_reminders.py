"""Reminders follow the patient's arm: its wording reaches the Twilio fake through the real
outbox, and its cadence decides which reminders are planned."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from frontdesk.db import make_session_factory, session_scope
from frontdesk.models import Practice
from frontdesk.patients.models import Patient
from frontdesk.reminders.models import ReminderKind, ScheduledReminder
from frontdesk.reminders.planning import plan_outreach
from frontdesk.reminders.policy import ReminderDefaults
from frontdesk.reminders.scheduler import ReminderRunner
from tests.conftest import AT_NOW, NOW
from tests.connectors.test_twilio_sms import PATIENT, make_client, send_outbox
from tests.doubles import ScriptedBot
from tests.experiments.support import set_up, wording_spec
from tests.reminders.test_outreach import book
from tests.twilio_fake import TwilioFake, running_fake

OTHER = "+15555550102"  # Casey Example in the demo data


@pytest.fixture(scope="module")
def fake() -> Iterator[TwilioFake]:
    with running_fake() as served:
        yield served


def _patient_ids(db: object, practice: Practice) -> list[int]:
    return list(
        db.scalars(  # type: ignore[attr-defined]
            select(Patient.id).where(Patient.practice_id == practice.id).order_by(Patient.id)
        )
    )


def test_each_patient_gets_the_wording_of_their_arm_through_the_outbox(
    sqlite_engine: Engine, fake: TwilioFake, tmp_path: Path
) -> None:
    for client in make_client(sqlite_engine, ScriptedBot(), fake, tmp_path):
        factory = make_session_factory(sqlite_engine, clock=AT_NOW)
        with session_scope(factory) as db:
            practice = db.scalars(select(Practice)).one()
            first, second = _patient_ids(db, practice)[:2]
            start = NOW + timedelta(days=2, hours=1)
            set_up(
                db,
                practice_id=practice.id,
                spec=wording_spec(start.astimezone(ZoneInfo(practice.timezone)).date()),
                arms=[(first, "held-for-you"), (second, "standard")],
            )
            book(db, practice, start, patient=0)
            book(db, practice, start + timedelta(hours=2), patient=1)
        runner = ReminderRunner(
            sessions=factory, clock=lambda: NOW + timedelta(hours=3), defaults=ReminderDefaults()
        )
        result = runner.tick()
        assert (result.claimed, result.sent) == (2, 2)
        assert send_outbox(client) == 2
        [held] = fake.bodies_to(PATIENT)
        [standard] = fake.bodies_to(OTHER)
        assert held.startswith("Riverside Family Medicine: we are holding Mon, Nov 30 at ")
        assert "for you. Can't come? Tell us so we can offer it." in held
        assert held.endswith("Reply C to confirm, R to reschedule, X to cancel.")
        assert standard.startswith("Riverside Family Medicine: reminder of your appointment ")
        assert "holding" not in standard


def test_a_cadence_arm_plans_its_own_offsets_and_the_control_the_practices(
    sqlite_engine: Engine,
) -> None:
    factory = make_session_factory(sqlite_engine, clock=AT_NOW)
    with session_scope(factory) as db:
        from frontdesk.demo import seed_demo

        practice = seed_demo(db)
        first, second = _patient_ids(db, practice)[:2]
        start = NOW + timedelta(days=10)
        spec = wording_spec(
            start.astimezone(ZoneInfo(practice.timezone)).date(),
            name="three-days",
            wording=None,
            offsets=["3d"],
        )
        set_up(
            db,
            practice_id=practice.id,
            spec=spec,
            arms=[(first, "three-days"), (second, "standard")],
        )
        treated = book(db, practice, start, patient=0).id
        control = book(db, practice, start + timedelta(hours=1), patient=1).id
        plan_outreach(session=db, now=NOW, defaults=ReminderDefaults())
        planned = {
            (row.appointment_id, row.offset_minutes)
            for row in db.scalars(
                select(ScheduledReminder).where(ScheduledReminder.kind == ReminderKind.REMINDER)
            )
        }
    assert {o for a, o in planned if a == treated} == {3 * 24 * 60}
    assert {o for a, o in planned if a == control} == {7 * 24 * 60, 2 * 24 * 60, 120}
