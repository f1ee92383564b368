"""Reschedule / cancel / check / confirm and waitlist actions, with rasa-sdk's
CollectingDispatcher against a real database. Each test asserts events and response names."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.appointment_forms import (
    ValidateCancelAppointmentForm,
    ValidateConfirmAppointmentForm,
    ValidateRescheduleAppointmentForm,
)
from actions.appointments import (
    RESET,
    ActionAskAppointmentRef,
    ActionAskChangeConfirmed,
    ActionCancelAppointment,
    ActionCheckAppointments,
    ActionConfirmAppointment,
    ActionRescheduleAppointment,
)
from actions.booking import ActionAskPatientVerified, ActionBookAppointment
from actions.context import ActionContext
from actions.form_slots import NO_APPOINTMENT
from actions.identity import ActionAskIdentityVerified
from actions.waitlist import ActionAcceptWaitlistOffer, ActionDeclineWaitlistOffer
from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Channel, Conversation
from frontdesk.models import Appointment, Patient, Practice
from frontdesk.patients.service import find_patient
from frontdesk.reminders.messages import appointment_ref
from frontdesk.scheduling.booking import book_appointment, cancel_appointment
from frontdesk.scheduling.matching import match_visit_type
from frontdesk.scheduling.models import AppointmentStatus, VisitType, WaitlistEntry, WaitlistOffer
from frontdesk.scheduling.slots import OpenSlot, find_open_slots, parse_slot_key
from frontdesk.scheduling.timeprefs import parse_time_preference
from frontdesk.scheduling.waitlist import join_waitlist
from tests.actions.conftest import context_at, make_tracker
from tests.conftest import NOW

DOMAIN: dict[str, Any] = {}
NY = ZoneInfo("America/New_York")


def _conversation(session: Session, practice: Practice, channel: Channel) -> Conversation:
    convo, _ = conversations.start_conversation(session=session, practice=practice, channel=channel)
    return convo


def tracker(
    conversation: Conversation,
    slots: dict[str, Any] | None = None,
    *,
    loop: str | None = None,
    text: str = "",
    intent: str = "inform",
    entities: list[dict[str, Any]] | None = None,
) -> Tracker:
    return make_tracker(
        conversation.public_id,
        slots={"requested_slot": None, **(slots or {})},
        intent=intent,
        text=text,
        entities=entities,
        loop=loop,
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    return [m["response"] for m in dispatcher.messages if m.get("response")]


def patient(session: Session, practice: Practice, name: str, born: date) -> Patient:
    found = find_patient(
        session=session, practice_id=practice.id, full_name=name, date_of_birth=born
    )
    assert found is not None
    return found


def jordan(session: Session, practice: Practice) -> Patient:
    return patient(session, practice, "Jordan Sample", date(1985, 4, 12))


def casey(session: Session, practice: Practice) -> Patient:
    return patient(session, practice, "Casey Example", date(1990, 9, 30))


def verify(session: Session, conversation: Conversation, who: Patient) -> None:
    """What a right one-time code (web) or number + DOB (SMS) leaves behind."""
    conversations.link_patient(
        session=session, conversation=conversation, patient_id=who.id, verified_at=NOW
    )


def sick_visit(session: Session, practice: Practice) -> VisitType:
    found = match_visit_type(session=session, practice_id=practice.id, text="sick")
    assert found is not None
    return found


def open_slots(session: Session, practice: Practice, when: str) -> list[OpenSlot]:
    return find_open_slots(
        session=session,
        practice=practice,
        visit_type=sick_visit(session, practice),
        preference=parse_time_preference(when, now=NOW, tz=NY),
        now=NOW,
    )


def book(session: Session, practice: Practice, who: Patient, when: str) -> Appointment:
    slot = open_slots(session, practice, when)[0]
    return book_appointment(
        session=session,
        practice=practice,
        patient=who,
        visit_type=sick_visit(session, practice),
        provider_id=slot.provider_id,
        start=slot.start,
        now=NOW,
    )


def reload(session: Session, appointment_id: int) -> Appointment:
    """The row as the actions left it (they work in their own session)."""
    session.expire_all()
    return session.get_one(Appointment, appointment_id)


# --- identity -------------------------------------------------------------------------------


def test_identity_is_asked_the_way_the_channel_supports(
    context: ActionContext, session: Session, practice: Practice, conversation: Conversation
) -> None:
    web = CollectingDispatcher()
    assert run(ActionAskIdentityVerified(context).run(web, tracker(conversation), DOMAIN)) == []
    assert responses(web) == ["utter_ask_identity_web"]
    assert web.messages[1]["custom"]["type"] == "identity_request"
    assert web.messages[1]["custom"]["purpose"] == "verify"
    sms = CollectingDispatcher()
    texting = _conversation(session, practice, Channel.SMS)
    run(ActionAskIdentityVerified(context).run(sms, tracker(texting), DOMAIN))
    # Only the request: the SMS channel asks for the date of birth in its own words, and a
    # bot line as well made two texts asking the same thing.
    assert responses(sms) == []
    assert len(sms.messages) == 1
    assert sms.messages[0]["custom"] == {
        "type": "identity_request",
        "purpose": "verify",
        "channel": "sms",
    }
    # Booking by SMS also asks for the date of birth (checked with the number on file).
    booking = CollectingDispatcher()
    run(ActionAskPatientVerified(context).run(booking, tracker(texting), DOMAIN))
    assert responses(booking) == []
    assert [m["custom"]["purpose"] for m in booking.messages] == ["book"]


def test_identified_for_booking_is_not_verified_for_appointments(
    context: ActionContext,
    session: Session,
    practice: Practice,
    conversation: Conversation,
    dispatcher: CollectingDispatcher,
) -> None:
    form = ValidateCancelAppointmentForm(context)
    # Linked by name + date of birth only (the booking path): no PHI yet.
    conversation.patient_id = jordan(session, practice).id
    session.flush()
    assert run(form.extract_identity_verified(dispatcher, tracker(conversation), DOMAIN)) == {}
    # A slot value alone never counts.
    assert run(
        form.validate_identity_verified(True, dispatcher, tracker(conversation), DOMAIN)
    ) == {"identity_verified": None}
    verify(session, conversation, jordan(session, practice))
    assert run(form.extract_identity_verified(dispatcher, tracker(conversation), DOMAIN)) == {
        "identity_verified": True
    }


def test_check_lists_upcoming_appointments_only_when_verified(
    context: ActionContext, session: Session, practice: Practice, conversation: Conversation
) -> None:
    book(session, practice, jordan(session, practice), "next tue after 3")
    refused = CollectingDispatcher()
    events = run(ActionCheckAppointments(context).run(refused, tracker(conversation), DOMAIN))
    assert responses(refused) == ["utter_identity_failed"]
    assert events == RESET
    verify(session, conversation, jordan(session, practice))
    shown = CollectingDispatcher()
    events = run(ActionCheckAppointments(context).run(shown, tracker(conversation), DOMAIN))
    assert responses(shown) == ["utter_upcoming_appointments"]
    listing = shown.messages[0]["appointments"]
    assert "Sick visit with Dr." in listing and "Tue, Dec 1" in listing
    assert events == RESET


def test_no_upcoming_appointment_ends_the_form_with_an_offer_to_book(
    context: ActionContext,
    session: Session,
    practice: Practice,
    conversation: Conversation,
    dispatcher: CollectingDispatcher,
) -> None:
    verify(session, conversation, jordan(session, practice))
    form = ValidateCancelAppointmentForm(context)
    extracted = run(form.extract_appointment_ref(dispatcher, tracker(conversation), DOMAIN))
    assert extracted == {"appointment_ref": NO_APPOINTMENT}
    slots = ["identity_verified", "appointment_ref", "change_confirmed"]
    required = run(form.required_slots(slots, dispatcher, tracker(conversation, extracted), DOMAIN))
    assert required == ["identity_verified", "appointment_ref"]
    events = run(
        ActionCancelAppointment(context).run(dispatcher, tracker(conversation, extracted), DOMAIN)
    )
    assert responses(dispatcher) == ["utter_no_upcoming_appointments"]
    assert events == RESET


def test_which_appointment_one_is_picked_several_are_offered(
    context: ActionContext, session: Session, practice: Practice, conversation: Conversation
) -> None:
    who = jordan(session, practice)
    first = book(session, practice, who, "next tue after 3")
    verify(session, conversation, who)
    form = ValidateCancelAppointmentForm(context)
    one = run(form.extract_appointment_ref(CollectingDispatcher(), tracker(conversation), DOMAIN))
    assert one == {"appointment_ref": appointment_ref(first.id)}
    second = book(session, practice, who, "next thursday morning")
    assert (
        run(form.extract_appointment_ref(CollectingDispatcher(), tracker(conversation), DOMAIN))
        == {}
    )
    ask = CollectingDispatcher()
    run(ActionAskAppointmentRef(context).run(ask, tracker(conversation), DOMAIN))
    assert responses(ask) == ["utter_ask_appointment_ref"]
    assert [b["payload"] for b in ask.messages[0]["buttons"]] == [
        f'/inform{{"appointment_ref":"a_{first.id}"}}',
        f'/inform{{"appointment_ref":"a_{second.id}"}}',
    ]
    typed = tracker(conversation, {"requested_slot": "appointment_ref"}, text="the second one")
    picked = run(form.extract_appointment_ref(CollectingDispatcher(), typed, DOMAIN))
    assert picked == {"appointment_ref": appointment_ref(second.id)}


def test_someone_elses_appointment_is_never_accepted(
    context: ActionContext,
    session: Session,
    practice: Practice,
    conversation: Conversation,
    dispatcher: CollectingDispatcher,
) -> None:
    others = book(session, practice, casey(session, practice), "next tue after 3")
    verify(session, conversation, jordan(session, practice))
    form = ValidateCancelAppointmentForm(context)
    result = run(
        form.validate_appointment_ref(
            appointment_ref(others.id), dispatcher, tracker(conversation), DOMAIN
        )
    )
    assert result == {"appointment_ref": None}
    assert responses(dispatcher) == ["utter_appointment_not_found"]
    # Even if a forged ref reached the action, it re-checks and changes nothing.
    slots = {"appointment_ref": appointment_ref(others.id), "change_confirmed": True}
    cancel = CollectingDispatcher()
    run(ActionCancelAppointment(context).run(cancel, tracker(conversation, slots), DOMAIN))
    assert responses(cancel) == ["utter_appointment_not_found"]
    assert reload(session, others.id).status == AppointmentStatus.BOOKED


# --- cancel -----------------------------------------------------------------------------------


def test_cancel_tells_the_policy_first_then_cancels(
    context: ActionContext, session: Session, practice: Practice, conversation: Conversation
) -> None:
    who = jordan(session, practice)
    appointment = book(session, practice, who, "next tue after 3")
    verify(session, conversation, who)
    slots = {"appointment_ref": appointment_ref(appointment.id)}
    ask = CollectingDispatcher()
    events = run(
        ActionAskChangeConfirmed(context).run(
            ask, tracker(conversation, slots, loop="cancel_appointment_form"), DOMAIN
        )
    )
    assert events == []
    assert responses(ask) == ["utter_ask_cancel_confirmed"]
    assert ask.messages[0]["notice"].startswith("Cancelling or rescheduling is free until")
    assert "Sick visit with Dr." in ask.messages[0]["appointment"]
    assert [b["payload"] for b in ask.messages[0]["buttons"]] == ["/affirm", "/deny"]
    # "No": nothing changes.
    declined = CollectingDispatcher()
    no = {**slots, "change_confirmed": False}
    run(ActionCancelAppointment(context).run(declined, tracker(conversation, no), DOMAIN))
    assert responses(declined) == ["utter_change_declined"]
    assert reload(session, appointment.id).status == AppointmentStatus.BOOKED
    # "Yes": cancelled, not late.
    done = CollectingDispatcher()
    yes = {**slots, "change_confirmed": True}
    events = run(ActionCancelAppointment(context).run(done, tracker(conversation, yes), DOMAIN))
    assert responses(done) == ["utter_cancelled"]
    assert done.messages[0]["fee_note"] == ""
    assert events == RESET
    assert reload(session, appointment.id).status == AppointmentStatus.CANCELLED


def test_a_late_cancel_is_told_as_late_before_and_after(
    session: Session, practice: Practice, conversation: Conversation
) -> None:
    who = jordan(session, practice)
    appointment = book(session, practice, who, "next tue after 3")
    verify(session, conversation, who)
    # Three hours before the visit: inside the 24-hour window, and verified recently.
    soon = appointment.start_at - timedelta(hours=3)
    conversation.identity_verified_at = soon
    session.flush()
    late_context = context_at(session, soon)
    slots = {"appointment_ref": appointment_ref(appointment.id)}
    ask = CollectingDispatcher()
    run(
        ActionAskChangeConfirmed(late_context).run(
            ask, tracker(conversation, slots, loop="cancel_appointment_form"), DOMAIN
        )
    )
    notice = ask.messages[0]["notice"]
    assert "late cancellation" in notice and "$25" in notice
    done = CollectingDispatcher()
    yes = {**slots, "change_confirmed": True}
    run(ActionCancelAppointment(late_context).run(done, tracker(conversation, yes), DOMAIN))
    assert responses(done) == ["utter_cancelled"]
    assert done.messages[0]["fee_note"] == "This counts as a late cancellation."


def test_a_spanish_conversation_is_told_the_cancellation_policy_in_spanish(
    session: Session, practice: Practice, conversation: Conversation
) -> None:
    who = jordan(session, practice)
    appointment = book(session, practice, who, "next tue after 3")
    verify(session, conversation, who)
    soon = appointment.start_at - timedelta(hours=3)
    conversation.identity_verified_at = soon
    session.flush()
    slots = {"appointment_ref": appointment_ref(appointment.id), "language": "es"}
    ask = CollectingDispatcher()
    run(
        ActionAskChangeConfirmed(context_at(session, soon)).run(
            ask, tracker(conversation, slots, loop="cancel_appointment_form"), DOMAIN
        )
    )
    notice = ask.messages[0]["notice"]
    # The fee wording is the practice's own text (one language in the practice file).
    assert notice.startswith("Faltan menos de 24 horas") and "cancelación tardía" in notice


# --- reschedule -------------------------------------------------------------------------------


def test_reschedule_takes_visit_and_provider_from_the_appointment(
    context: ActionContext, session: Session, practice: Practice, conversation: Conversation
) -> None:
    who = jordan(session, practice)
    appointment = book(session, practice, who, "next tue after 3")
    verify(session, conversation, who)
    form = ValidateRescheduleAppointmentForm(context)
    result = run(
        form.validate_appointment_ref(
            appointment_ref(appointment.id), CollectingDispatcher(), tracker(conversation), DOMAIN
        )
    )
    assert result == {
        "appointment_ref": appointment_ref(appointment.id),
        "visit_type": "sick-visit",
        "provider_preference": str(appointment.provider_id),
    }


def _reschedule_slots(
    session: Session, practice: Practice, appointment: Appointment
) -> dict[str, Any]:
    target = next(
        s
        for s in open_slots(session, practice, "next thursday morning")
        if s.provider_id == appointment.provider_id
    )
    return {
        "appointment_ref": appointment_ref(appointment.id),
        "visit_type": "sick-visit",
        "provider_preference": str(appointment.provider_id),
        "time_preference": "next thursday morning",
        "slot_choice": target.key,
    }


def test_reschedule_asks_with_the_new_time_and_policy_then_moves(
    context: ActionContext, session: Session, practice: Practice, conversation: Conversation
) -> None:
    who = jordan(session, practice)
    appointment = book(session, practice, who, "next tue after 3")
    verify(session, conversation, who)
    slots = _reschedule_slots(session, practice, appointment)
    ask = CollectingDispatcher()
    run(
        ActionAskChangeConfirmed(context).run(
            ask, tracker(conversation, slots, loop="reschedule_appointment_form"), DOMAIN
        )
    )
    assert responses(ask) == ["utter_ask_reschedule_confirmed"]
    assert ask.messages[0]["new_time"].startswith("Thu, Dec 3")
    assert ask.messages[0]["notice"]
    done = CollectingDispatcher()
    yes = {**slots, "change_confirmed": True}
    events = run(ActionRescheduleAppointment(context).run(done, tracker(conversation, yes), DOMAIN))
    assert responses(done) == ["utter_rescheduled"]
    assert done.messages[0]["day"] == "Thursday, December 3"
    assert events == RESET
    moved = reload(session, appointment.id)
    assert moved.start_at == parse_slot_key(slots["slot_choice"])[1]


def test_reschedule_to_a_slot_just_taken_goes_back_to_the_offers(
    context: ActionContext,
    session: Session,
    practice: Practice,
    conversation: Conversation,
    dispatcher: CollectingDispatcher,
) -> None:
    who = jordan(session, practice)
    appointment = book(session, practice, who, "next tue after 3")
    verify(session, conversation, who)
    slots = {**_reschedule_slots(session, practice, appointment), "change_confirmed": True}
    provider_id, start = parse_slot_key(slots["slot_choice"])
    book_appointment(  # someone else, a second ago
        session=session,
        practice=practice,
        patient=casey(session, practice),
        visit_type=sick_visit(session, practice),
        provider_id=provider_id,
        start=start,
        now=NOW,
    )
    original_start = appointment.start_at
    events = run(
        ActionRescheduleAppointment(context).run(dispatcher, tracker(conversation, slots), DOMAIN)
    )
    assert responses(dispatcher) == ["utter_slot_taken"]
    assert events == [
        SlotSet("slot_choice", None),
        SlotSet("offered_slots", None),
        SlotSet("change_confirmed", None),
        FollowupAction("reschedule_appointment_form"),
    ]
    assert reload(session, appointment.id).start_at == original_start


def test_reschedule_declined_or_to_the_waitlist_keeps_the_appointment(
    context: ActionContext, session: Session, practice: Practice, conversation: Conversation
) -> None:
    who = jordan(session, practice)
    appointment = book(session, practice, who, "next tue after 3")
    verify(session, conversation, who)
    slots = _reschedule_slots(session, practice, appointment)
    no = CollectingDispatcher()
    run(
        ActionRescheduleAppointment(context).run(
            no, tracker(conversation, {**slots, "change_confirmed": False}), DOMAIN
        )
    )
    assert responses(no) == ["utter_change_declined"]
    form = ValidateRescheduleAppointmentForm(context)
    waiting = {**slots, "slot_choice": "waitlist"}
    required = run(
        form.required_slots(
            ["identity_verified", "appointment_ref", "slot_choice", "change_confirmed"],
            CollectingDispatcher(),
            tracker(conversation, waiting),
            DOMAIN,
        )
    )
    assert "change_confirmed" not in required
    joined = CollectingDispatcher()
    events = run(
        ActionRescheduleAppointment(context).run(joined, tracker(conversation, waiting), DOMAIN)
    )
    assert responses(joined) == ["utter_waitlist_joined_keep"]
    assert events == RESET
    entry = session.scalars(select(WaitlistEntry)).one()
    assert (entry.patient_id, entry.preference_text) == (who.id, "next thursday morning")
    assert reload(session, appointment.id).status == AppointmentStatus.BOOKED


# --- confirm ----------------------------------------------------------------------------------


def test_a_reminder_reply_confirms_for_the_linked_patient_without_a_code(
    context: ActionContext,
    session: Session,
    practice: Practice,
    dispatcher: CollectingDispatcher,
) -> None:
    who = jordan(session, practice)
    appointment = book(session, practice, who, "next tue after 3")
    texting = _conversation(session, practice, Channel.SMS)
    texting.patient_id = who.id  # the reminder went to this patient's conversation
    session.flush()
    ref = appointment_ref(appointment.id)
    form = ValidateConfirmAppointmentForm(context)
    required = run(
        form.required_slots(
            ["identity_verified", "appointment_ref"],
            CollectingDispatcher(),
            tracker(texting, {"appointment_ref": ref}),
            DOMAIN,
        )
    )
    assert required == ["appointment_ref"]
    events = run(
        ActionConfirmAppointment(context).run(
            dispatcher, tracker(texting, {"appointment_ref": ref}), DOMAIN
        )
    )
    assert responses(dispatcher) == ["utter_confirmed_appointment"]
    assert events == RESET
    assert reload(session, appointment.id).status == AppointmentStatus.CONFIRMED
    # Without a reminder's appointment, a code is needed as for anything else.
    unasked = run(
        form.required_slots(
            ["identity_verified", "appointment_ref"],
            CollectingDispatcher(),
            tracker(texting),
            DOMAIN,
        )
    )
    assert unasked == ["identity_verified", "appointment_ref"]


# --- waitlist ---------------------------------------------------------------------------------


def test_booking_form_waitlist_choice_joins_the_waitlist(
    context: ActionContext,
    session: Session,
    practice: Practice,
    conversation: Conversation,
    dispatcher: CollectingDispatcher,
) -> None:
    conversation.patient_id = casey(session, practice).id  # identified for booking
    session.flush()
    slots = {
        "visit_type": "sick-visit",
        "provider_preference": "any",
        "time_preference": "friday morning",
        "slot_choice": "waitlist",
        "patient_verified": True,
    }
    events = run(
        ActionBookAppointment(context).run(dispatcher, tracker(conversation, slots), DOMAIN)
    )
    assert responses(dispatcher) == ["utter_waitlist_joined"]
    assert dispatcher.messages[0]["visit"] == "Sick visit"
    assert SlotSet("slot_choice", None) in events
    assert session.scalars(select(Appointment)).all() == []
    assert session.scalars(select(WaitlistEntry)).one().preference_text == "friday morning"


def test_a_waitlist_offer_is_accepted_from_its_button_and_is_gone_the_second_time(
    context: ActionContext,
    session: Session,
    practice: Practice,
    conversation: Conversation,
    dispatcher: CollectingDispatcher,
) -> None:
    holder = book(session, practice, jordan(session, practice), "next tue after 3")
    waiting = casey(session, practice)
    conversation.patient_id = waiting.id
    session.flush()
    local = holder.start_at.astimezone(NY)
    scheduling_waitlist_join(session, practice, waiting, f"{local:%A %B} {local.day}")
    cancel_appointment(
        session=session, appointment_id=holder.id, patient_id=holder.patient_id, now=NOW
    )
    offer = session.scalars(select(WaitlistOffer)).one()
    button = tracker(
        conversation,
        intent="accept_waitlist_offer",
        entities=[{"entity": "offer_token", "value": offer.token}],
    )
    assert run(ActionAcceptWaitlistOffer(context).run(dispatcher, button, DOMAIN)) == []
    assert responses(dispatcher) == ["utter_waitlist_offer_taken"]
    booked = session.scalars(select(Appointment).where(Appointment.patient_id == waiting.id)).one()
    assert booked.start_at == offer.start_at
    again = CollectingDispatcher()
    run(ActionAcceptWaitlistOffer(context).run(again, button, DOMAIN))
    assert responses(again) == ["utter_waitlist_offer_gone"]
    declined = CollectingDispatcher()
    run(ActionDeclineWaitlistOffer(context).run(declined, button, DOMAIN))
    assert responses(declined) == ["utter_waitlist_offer_declined"]


def test_an_unknown_offer_token_is_gone_not_an_error(
    context: ActionContext,
    conversation: Conversation,
    dispatcher: CollectingDispatcher,
) -> None:
    button = tracker(
        conversation,
        intent="accept_waitlist_offer",
        entities=[{"entity": "offer_token", "value": "forged"}],
    )
    run(ActionAcceptWaitlistOffer(context).run(dispatcher, button, DOMAIN))
    assert responses(dispatcher) == ["utter_waitlist_offer_gone"]


def scheduling_waitlist_join(
    session: Session, practice: Practice, who: Patient, preference: str
) -> None:
    join_waitlist(
        session=session,
        practice_id=practice.id,
        patient_id=who.id,
        visit_type_id=sick_visit(session, practice).id,
        provider_id=None,
        preference_text=preference,
        now=NOW,
    )
