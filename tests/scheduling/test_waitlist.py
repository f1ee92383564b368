"""The waitlist: join with a preference; freed time goes to a batch; first to accept wins."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.conversations.models import Conversation, Message
from frontdesk.models import Appointment, Patient, Practice, Provider, VisitType
from frontdesk.scheduling.booking import book_appointment, cancel_appointment
from frontdesk.scheduling.matching import match_provider
from frontdesk.scheduling.models import OfferStatus, WaitlistEntry, WaitlistOffer, WaitlistStatus
from frontdesk.scheduling.timeprefs import TimePreferenceError
from frontdesk.scheduling.waitlist import (
    OfferGoneError,
    accept_waitlist_offer,
    decline_waitlist_offer,
    expire_waitlist_offers,
    join_waitlist,
    leave_waitlist,
)
from tests import factories
from tests.conftest import NOW

NY = ZoneInfo("America/New_York")
TUE_3PM = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # Tuesday 1 Dec, 15:00 in New York


def _visit(session: Session, practice: Practice, code: str = "sick-visit") -> VisitType:
    found = session.scalar(
        select(VisitType).where(VisitType.practice_id == practice.id, VisitType.code == code)
    )
    assert found is not None
    return found


def _patel(session: Session, practice: Practice) -> Provider:
    found = match_provider(session=session, practice_id=practice.id, text="patel")
    assert found is not None
    return found


def _new_patient(session: Session, practice: Practice, n: int) -> Patient:
    """A patient with a web chat conversation, so offers have somewhere to go."""
    patient = factories.patient(
        session,
        practice=practice,
        first_name="Waiting",
        last_name=f"Person{n}",
        date_of_birth=date(1980, 1, 1) + timedelta(days=n),
        phone=None,
    )
    factories.conversation(session, practice=practice, patient=patient, verified_at=NOW)
    return patient


def _join(
    session: Session, practice: Practice, patient: Patient, text: str = "tuesday afternoon"
) -> WaitlistEntry:
    return join_waitlist(
        session=session,
        practice_id=practice.id,
        patient_id=patient.id,
        visit_type_id=_visit(session, practice).id,
        provider_id=None,
        preference_text=text,
        now=NOW,
    )


def _messages(session: Session, patient: Patient) -> list[Message]:
    conversation_ids = select(Conversation.id).where(Conversation.patient_id == patient.id)
    return list(
        session.scalars(
            select(Message)
            .where(Message.conversation_id.in_(conversation_ids))
            .order_by(Message.id)
        )
    )


def _cancel_tuesday_3pm(session: Session, practice: Practice) -> list[WaitlistOffer]:
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
    return cancel_appointment(
        session=session, appointment_id=appointment.id, patient_id=holder.id, now=NOW
    ).offers


def test_joining_parses_the_preference_once(session: Session, practice: Practice) -> None:
    patient = _new_patient(session, practice, 1)
    entry = _join(session, practice, patient, "mornings next week")
    assert entry.status == WaitlistStatus.WAITING
    assert (entry.first_day, entry.last_day) == (date(2026, 11, 30), date(2026, 12, 6))
    assert entry.latest is not None and entry.latest <= time(12, 0)
    # Joining again for the same visit updates the entry and keeps the place in the queue.
    again = _join(session, practice, patient, "any time")
    assert again.id == entry.id and again.created_at == entry.created_at
    with pytest.raises(TimePreferenceError):
        _join(session, practice, patient, "last tuesday")


def test_a_freed_slot_is_offered_to_the_first_batch_in_joining_order(
    session: Session, practice: Practice
) -> None:
    patients = [_new_patient(session, practice, n) for n in range(5)]
    _join(session, practice, patients[0], "wednesday morning")  # does not match Tuesday 3 PM
    for patient in patients[1:]:
        _join(session, practice, patient)
    offers = _cancel_tuesday_3pm(session, practice)
    assert [o.entry.patient_id for o in offers] == [p.id for p in patients[1:4]]  # batch of 3
    assert all(o.start_at == TUE_3PM and o.status == OfferStatus.PENDING for o in offers)
    assert len({o.token for o in offers}) == 3
    message = _messages(session, patients[1])[-1]
    assert "Tue, Dec 1 at 3:00 PM" in (message.text or "")
    assert "Dr. Amara Patel" in (message.text or "")
    assert "Sick" not in (message.text or "")  # no visit reason in what may become an SMS
    payloads = [b["payload"] for b in (message.payload or {})["buttons"]]
    intent, _, entities = payloads[0].partition("{")
    assert intent == "/accept_waitlist_offer"
    token = json.loads("{" + entities)["offer_token"]
    assert token == offers[0].token
    assert _messages(session, patients[0]) == []
    assert _messages(session, patients[4]) == []


def test_first_to_accept_wins_and_the_others_are_told_it_is_gone(
    session: Session, practice: Practice
) -> None:
    patients = [_new_patient(session, practice, n) for n in range(3)]
    for patient in patients:
        _join(session, practice, patient)
    offers = _cancel_tuesday_3pm(session, practice)
    later = NOW + timedelta(minutes=5)
    appointment = accept_waitlist_offer(
        session=session, offer_token=offers[1].token, patient_id=patients[1].id, now=later
    )
    assert (appointment.patient_id, appointment.start_at) == (patients[1].id, TUE_3PM)
    assert appointment.source == "waitlist"
    assert offers[1].status == OfferStatus.ACCEPTED and offers[1].appointment_id == appointment.id
    assert offers[1].entry.status == WaitlistStatus.BOOKED
    assert {offers[0].status, offers[2].status} == {OfferStatus.GONE}
    assert "just been taken" in (_messages(session, patients[0])[-1].text or "")
    with pytest.raises(OfferGoneError) as gone:
        accept_waitlist_offer(
            session=session, offer_token=offers[0].token, patient_id=patients[0].id, now=later
        )
    assert gone.value.reason == "taken"
    assert (
        len(session.scalars(select(Appointment).where(Appointment.start_at == TUE_3PM)).all()) == 2
    )


def test_a_race_lost_in_the_database_is_a_clean_offer_gone(
    session: Session, practice: Practice
) -> None:
    patients = [_new_patient(session, practice, n) for n in range(2)]
    for patient in patients:
        _join(session, practice, patient)
    offers = _cancel_tuesday_3pm(session, practice)
    # Someone books the time directly (web chat) before either waitlisted patient answers.
    book_appointment(
        session=session,
        practice=practice,
        patient=_new_patient(session, practice, 50),
        visit_type=_visit(session, practice),
        provider_id=_patel(session, practice).id,
        start=TUE_3PM,
        now=NOW,
    )
    with pytest.raises(OfferGoneError) as gone:
        accept_waitlist_offer(
            session=session, offer_token=offers[0].token, patient_id=patients[0].id, now=NOW
        )
    assert gone.value.reason == "taken"
    assert gone.value.alternatives  # "here are the next ones"
    assert offers[0].status == OfferStatus.GONE


def test_unanswered_offers_expire_and_the_next_batch_is_asked(
    session: Session, practice: Practice
) -> None:
    patients = [_new_patient(session, practice, n) for n in range(4)]
    for patient in patients:
        _join(session, practice, patient)
    first_batch = _cancel_tuesday_3pm(session, practice)
    assert len(first_batch) == 3
    assert expire_waitlist_offers(session=session, now=NOW + timedelta(minutes=30)) == 0
    later = NOW + timedelta(minutes=61)
    assert expire_waitlist_offers(session=session, now=later) == 3
    assert {o.status for o in first_batch} == {OfferStatus.EXPIRED}
    second = session.scalars(select(WaitlistOffer).where(WaitlistOffer.batch == 2)).all()
    assert [o.entry.patient_id for o in second] == [patients[3].id]
    with pytest.raises(OfferGoneError) as gone:
        accept_waitlist_offer(
            session=session, offer_token=first_batch[0].token, patient_id=patients[0].id, now=later
        )
    assert gone.value.reason == "expired"


def test_when_everyone_declines_the_next_batch_is_asked(
    session: Session, practice: Practice
) -> None:
    patients = [_new_patient(session, practice, n) for n in range(4)]
    for patient in patients:
        _join(session, practice, patient)
    offers = _cancel_tuesday_3pm(session, practice)
    for offer in offers[:2]:
        decline_waitlist_offer(
            session=session, offer_token=offer.token, patient_id=offer.entry.patient_id, now=NOW
        )
    assert not session.scalars(select(WaitlistOffer).where(WaitlistOffer.batch == 2)).all()
    decline_waitlist_offer(
        session=session, offer_token=offers[2].token, patient_id=patients[2].id, now=NOW
    )
    second = session.scalars(select(WaitlistOffer).where(WaitlistOffer.batch == 2)).all()
    assert [o.entry.patient_id for o in second] == [patients[3].id]
    assert offers[0].entry.status == WaitlistStatus.WAITING  # still on the list


def test_offers_cannot_be_claimed_by_someone_else(session: Session, practice: Practice) -> None:
    patients = [_new_patient(session, practice, n) for n in range(2)]
    _join(session, practice, patients[0])
    offers = _cancel_tuesday_3pm(session, practice)
    for token, patient in ((offers[0].token, patients[1]), ("made-up-token", patients[0])):
        with pytest.raises(OfferGoneError) as gone:
            accept_waitlist_offer(
                session=session, offer_token=token, patient_id=patient.id, now=NOW
            )
        assert gone.value.reason == "unknown"
    assert offers[0].status == OfferStatus.PENDING


def test_offers_respect_provider_choice_and_visit_rules(
    session: Session, practice: Practice
) -> None:
    nguyen = match_provider(session=session, practice_id=practice.id, text="nguyen")
    assert nguyen is not None
    wants_nguyen, wants_physical, left = (_new_patient(session, practice, n) for n in range(3))
    join_waitlist(
        session=session,
        practice_id=practice.id,
        patient_id=wants_nguyen.id,
        visit_type_id=_visit(session, practice).id,
        provider_id=nguyen.id,
        preference_text="tuesday",
        now=NOW,
    )
    # The physical's 45 minutes (+10 buffer) do not fit the 20 minutes freed.
    join_waitlist(
        session=session,
        practice_id=practice.id,
        patient_id=wants_physical.id,
        visit_type_id=_visit(session, practice, "annual-physical").id,
        provider_id=None,
        preference_text="tuesday",
        now=NOW,
    )
    entry = _join(session, practice, left)
    leave_waitlist(session=session, entry_id=entry.id, patient_id=left.id)
    assert _cancel_tuesday_3pm(session, practice) == []


def test_a_patient_without_a_conversation_still_gets_an_offer_row(
    session: Session, practice: Practice
) -> None:
    patient = session.scalars(select(Patient).where(Patient.practice_id == practice.id)).first()
    assert patient is not None
    _join(session, practice, patient)
    offers = _cancel_tuesday_3pm(session, practice)
    assert [o.entry.patient_id for o in offers] == [patient.id]
    assert _messages(session, patient) == []
