"""The reminder tick also moves waitlist offers nobody answered on to the next patients."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from frontdesk.db import make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.reminders.policy import ReminderDefaults
from frontdesk.reminders.scheduler import ReminderRunner
from frontdesk.scheduling.models import OfferStatus, WaitlistOffer
from tests.conftest import AT_NOW, NOW
from tests.scheduling.test_waitlist import _cancel_tuesday_3pm, _join, _messages, _new_patient


def test_the_tick_expires_unanswered_offers_and_asks_the_next_batch(
    sqlite_engine: Engine,
) -> None:
    factory = make_session_factory(sqlite_engine, clock=AT_NOW)
    with session_scope(factory) as db:
        practice = seed_demo(db)
        patients = [_new_patient(db, practice, n) for n in range(4)]
        for patient in patients:
            _join(db, practice, patient)
        assert len(_cancel_tuesday_3pm(db, practice)) == 3
        last_patient_id = patients[3].id

    def tick_at(minutes: int) -> None:
        ReminderRunner(
            sessions=factory,
            clock=lambda: NOW + timedelta(minutes=minutes),
            defaults=ReminderDefaults(),
        ).tick()

    tick_at(30)  # still inside the offer window: nothing moves
    with session_scope(factory) as db:
        assert db.scalars(select(WaitlistOffer.status)).all() == [OfferStatus.PENDING] * 3

    tick_at(61)
    with session_scope(factory) as db:
        offers = db.scalars(select(WaitlistOffer).order_by(WaitlistOffer.id)).all()
        assert [o.status for o in offers[:3]] == [OfferStatus.EXPIRED] * 3
        assert [(o.batch, o.entry.patient_id) for o in offers[3:]] == [(2, last_patient_id)]
        last = db.get_one(type(patients[3]), last_patient_id)
        assert any(m.payload and m.payload.get("buttons") for m in _messages(db, last))
