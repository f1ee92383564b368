"""Reminders checked again when they leave: two patients sharing one phone (a parent booking
for a child) get one text a day between them, and the other reminder says why it was not sent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from frontdesk.db import make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.models import Patient
from frontdesk.reminders.models import ReminderStatus, ScheduledReminder
from frontdesk.reminders.policy import ReminderDefaults
from frontdesk.reminders.scheduler import ReminderRunner
from frontdesk.sms.transport import TwilioTransport
from frontdesk.sms.worker import OutboxWorker
from tests.conftest import NOW
from tests.reminders.test_outreach import book
from tests.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, TwilioFake, running_fake

FAMILY_PHONE = "+15555550150"
LATER = NOW + timedelta(hours=1)  # 11:00 in New York: the two-day reminders are due


@pytest.fixture(scope="module")
def fake() -> Iterator[TwilioFake]:
    with running_fake() as served:
        yield served


@pytest.fixture
def sessions(sqlite_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(sqlite_engine, clock=lambda: LATER)


def test_one_phone_shared_by_two_patients_gets_one_reminder_a_day(
    sessions: sessionmaker[Session], fake: TwilioFake
) -> None:
    fake.messages.clear()
    with session_scope(sessions) as db:
        practice = seed_demo(db)
        parent, child = db.scalars(
            select(Patient).where(Patient.practice_id == practice.id).order_by(Patient.id)
        ).all()[:2]
        parent.phone = child.phone = FAMILY_PHONE
        book(db, practice, NOW + timedelta(days=2, hours=1), patient=0)
        book(db, practice, NOW + timedelta(days=2, hours=-1), patient=1)
    result = ReminderRunner(
        sessions=sessions, clock=lambda: LATER, defaults=ReminderDefaults()
    ).tick()
    assert result.sent == 2  # each patient's own cap allows it when queued
    transport = TwilioTransport(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, base_url=fake.url, timeout=5.0
    )
    OutboxWorker(sessions=sessions, transport=transport, clock=lambda: LATER).drain()
    assert len(fake.bodies_to(FAMILY_PHONE)) == 1  # the number's cap holds when they leave
    with sessions() as db:
        outcomes = sorted(
            (r.status, r.skip_reason)
            for r in db.scalars(
                select(ScheduledReminder).where(ScheduledReminder.offset_minutes == 2 * 24 * 60)
            )
        )
    assert outcomes == [(ReminderStatus.SENT, None), (ReminderStatus.SKIPPED, "capped")]
