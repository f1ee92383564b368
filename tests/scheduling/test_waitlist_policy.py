"""The waitlist's rules arrive as a `WaitlistPolicy` from whoever was configured with them."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.orm import Session

from frontdesk.models import Practice
from frontdesk.scheduling.booking import book_appointment, cancel_appointment
from frontdesk.scheduling.waitlist import join_waitlist
from frontdesk.scheduling.waitlist_policy import WaitlistPolicy
from frontdesk.settings import Settings
from tests.conftest import NOW
from tests.scheduling.test_waitlist import TUE_3PM, _join, _new_patient, _patel, _visit


def test_the_default_policy_is_the_settings_default() -> None:
    defaults = Settings.model_construct()  # field defaults only, no environment
    assert WaitlistPolicy.from_settings(defaults) == WaitlistPolicy()


def test_the_policy_sets_the_batch_and_how_long_offers_stay_open(
    session: Session, practice: Practice
) -> None:
    for n in range(3):
        _join(session, practice, _new_patient(session, practice, n))
    holder = _new_patient(session, practice, 99)
    appointment = book_appointment(
        session=session,
        practice=practice,
        patient=holder,
        visit_type=_visit(session, practice),
        provider_id=_patel(session, practice).id,
        start=TUE_3PM,
        now=NOW,
    )
    offers = cancel_appointment(
        session=session,
        appointment_id=appointment.id,
        patient_id=holder.id,
        now=NOW,
        waitlist_policy=WaitlistPolicy(batch_size=1, offer_minutes=15),
    ).offers
    assert [o.expires_at for o in offers] == [NOW + timedelta(minutes=15)]


def test_an_entry_without_days_looks_as_far_ahead_as_the_policy_says(
    session: Session, practice: Practice
) -> None:
    entry = join_waitlist(
        session=session,
        practice_id=practice.id,
        patient_id=_new_patient(session, practice, 1).id,
        visit_type_id=_visit(session, practice).id,
        provider_id=None,
        preference_text="",
        now=NOW,
        policy=WaitlistPolicy(days=5),
    )
    assert (entry.first_day, entry.last_day) == (date(2026, 11, 28), date(2026, 12, 2))
