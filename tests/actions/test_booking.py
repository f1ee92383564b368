"""Booking actions with rasa-sdk's CollectingDispatcher, against a real database.

Each test asserts the events returned and the responses dispatched.
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.booking import (
    ActionAskPatientVerified,
    ActionAskSlotChoice,
    ActionAskVisitType,
    ActionBookAppointment,
    ActionResetBooking,
    ValidateBookAppointmentForm,
)
from actions.common import ActionReferToOffice
from actions.context import ActionContext
from actions.form_slots import BOOKING_SLOTS
from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Conversation
from frontdesk.models import Appointment, Patient
from frontdesk.scheduling.matching import active_providers, match_provider
from frontdesk.scheduling.slots import parse_slot_key
from tests.actions.conftest import make_tracker
from tests.conftest import NOW

BOT_DOMAIN_DIR = Path(__file__).resolve().parents[2] / "bot" / "domain"

DOMAIN: dict[str, Any] = {}


def tracker(
    conversation: Conversation, slots: dict[str, Any] | None = None, intent: str = "inform"
) -> Tracker:
    return make_tracker(
        conversation.public_id,
        slots={"requested_slot": None, **(slots or {})},
        intent=intent,
        loop="book_appointment_form",
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    return [m.get("response") for m in dispatcher.messages if m.get("response")]


def test_visit_types_are_offered_as_buttons(
    context: ActionContext,
    conversation: Conversation,
    dispatcher: CollectingDispatcher,
) -> None:
    events = run(ActionAskVisitType(context).run(dispatcher, tracker(conversation), DOMAIN))
    assert events == []
    assert responses(dispatcher) == ["utter_ask_visit_type"]
    payloads = [b["payload"] for b in dispatcher.messages[0]["buttons"]]
    assert payloads == [
        '/inform{"visit_type":"annual-physical"}',
        '/inform{"visit_type":"sick-visit"}',
        '/inform{"visit_type":"new-patient"}',
    ]


def test_free_text_visit_type_is_mapped_or_reasked(
    context: ActionContext,
    conversation: Conversation,
    dispatcher: CollectingDispatcher,
) -> None:
    form = ValidateBookAppointmentForm(context)
    ok = run(
        form.validate_visit_type(
            "i think i have the flu", dispatcher, tracker(conversation), DOMAIN
        )
    )
    assert ok == {"visit_type": "sick-visit"}
    bad = run(form.validate_visit_type("a tattoo", dispatcher, tracker(conversation), DOMAIN))
    assert bad == {"visit_type": None}
    assert responses(dispatcher) == ["utter_visit_type_unknown"]


def _bot_domain() -> dict[str, Any]:
    """The slots and forms of bot/domain, which rasa-sdk's form validation reads."""
    merged: dict[str, Any] = {"slots": {}, "forms": {}}
    for path in sorted(BOT_DOMAIN_DIR.glob("*.yml")):
        data = yaml.safe_load(path.read_text()) or {}
        merged["slots"].update(data.get("slots") or {})
        merged["forms"].update(data.get("forms") or {})
    return merged


@pytest.mark.parametrize(
    ("text", "intent", "requested", "expected"),
    [
        ("I'd like to book a physical", "book_appointment", None, "annual-physical"),
        ("i need a sick visit", "book_appointment", None, "sick-visit"),
        ("i need to book an appointment", "book_appointment", None, None),
        # Not the opening message of a booking: left to the form's own question.
        ("a physical", "book_appointment", "time_preference", None),
        ("where do i park for my physical", "ask_question", None, None),
    ],
)
def test_the_message_that_starts_a_booking_can_name_the_visit_type(
    context: ActionContext,
    conversation: Conversation,
    text: str,
    intent: str,
    requested: str | None,
    expected: str | None,
    dispatcher: CollectingDispatcher,
) -> None:
    # As Rasa calls the validator when the form activates: no active loop yet, the opening
    # message as the latest one. "book a physical" used to be asked "What kind of visit?".
    opening = Tracker(
        sender_id=conversation.public_id,
        slots={"requested_slot": requested},
        latest_message={
            "intent": {"name": intent, "confidence": 1.0},
            "entities": [],
            "text": text,
        },
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )
    events = run(ValidateBookAppointmentForm(context).run(dispatcher, opening, _bot_domain()))
    set_visit = [e["value"] for e in events if e.get("name") == "visit_type"]
    assert set_visit == ([expected] if expected else [])
    assert responses(dispatcher) == []


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("any", "any"),
        ("no preference", "any"),
        ("whoever", "any"),
        ("dr patel", "patel"),
        ("Nguyen", "nguyen"),
        ("dr house", None),
    ],
)
def test_provider_preference(
    context: ActionContext,
    conversation: Conversation,
    session: Session,
    answer: str,
    expected: str | None,
    dispatcher: CollectingDispatcher,
) -> None:
    form = ValidateBookAppointmentForm(context)
    result = run(
        form.validate_provider_preference(answer, dispatcher, tracker(conversation), DOMAIN)
    )
    value = result["provider_preference"]
    if expected in (None, "any"):
        assert value == expected
    else:
        provider = match_provider(
            session=session, practice_id=conversation.practice_id, text=expected
        )
        assert provider is not None and value == str(provider.id)
    assert responses(dispatcher) == ([] if expected else ["utter_provider_unknown"])


def test_a_time_typed_at_the_provider_question_is_kept(
    context: ActionContext,
    conversation: Conversation,
    dispatcher: CollectingDispatcher,
) -> None:
    # Used to answer "Sorry, I didn't recognise that provider" and forget the time.
    result = run(
        ValidateBookAppointmentForm(context).validate_provider_preference(
            "next tue after 3", dispatcher, tracker(conversation), DOMAIN
        )
    )
    assert result == {"provider_preference": None, "time_preference": "next tue after 3"}
    assert responses(dispatcher) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("next tue after 3", None),
        ("tomorrow morning", None),
        ("yesterday", "utter_time_in_past"),
        ("purple", "utter_time_unrecognised"),
    ],
)
def test_time_preference_is_parsed_in_the_practice_zone(
    context: ActionContext,
    conversation: Conversation,
    text: str,
    problem: str | None,
    dispatcher: CollectingDispatcher,
) -> None:
    form = ValidateBookAppointmentForm(context)
    result = run(form.validate_time_preference(text, dispatcher, tracker(conversation), DOMAIN))
    if problem is None:
        assert result == {"time_preference": text, "slot_choice": None, "offered_slots": None}
        assert responses(dispatcher) == []
    else:
        assert result == {"time_preference": None}
        assert responses(dispatcher) == [problem]


def test_slots_are_offered_with_a_way_out(
    context: ActionContext,
    conversation: Conversation,
    dispatcher: CollectingDispatcher,
) -> None:
    slots = {
        "visit_type": "sick-visit",
        "provider_preference": "any",
        "time_preference": "next tue after 3",
    }
    events = run(ActionAskSlotChoice(context).run(dispatcher, tracker(conversation, slots), DOMAIN))
    assert responses(dispatcher) == ["utter_offer_slots"]
    buttons = dispatcher.messages[0]["buttons"]
    assert len(buttons) == 4 and buttons[-1]["title"] == "None of these"
    assert "Tue, Dec 1" in buttons[0]["title"]
    offered = events[0]["value"]
    assert events == [SlotSet("offered_slots", offered)]
    assert [b["payload"] for b in buttons[:3]] == [
        f'/inform{{"slot_choice":"{k}"}}' for k in offered
    ]


def test_no_slots_asks_for_another_time(
    context: ActionContext, conversation: Conversation, dispatcher: CollectingDispatcher
) -> None:
    slots = {"visit_type": "sick-visit", "provider_preference": "any", "time_preference": "sunday"}
    events = run(ActionAskSlotChoice(context).run(dispatcher, tracker(conversation, slots), DOMAIN))
    assert responses(dispatcher) == ["utter_no_slots"]
    # The preference stays (a new day typed now is a correction; the waitlist keeps it) and
    # the patient is shown the ways out.
    assert events == [SlotSet("offered_slots", None)]
    titles = [b["title"] for b in dispatcher.messages[0]["buttons"]]
    assert titles == ["Another provider", "Join the waitlist"]


def _offered(context: ActionContext, conversation: Conversation) -> list[str]:
    dispatcher = CollectingDispatcher()
    slots = {
        "visit_type": "sick-visit",
        "provider_preference": "any",
        "time_preference": "next tue after 3",
    }
    events = run(ActionAskSlotChoice(context).run(dispatcher, tracker(conversation, slots), DOMAIN))
    return list(events[0]["value"])


@pytest.mark.parametrize("answer", ["first", "the first one", "1"])
def test_slot_choice_by_position(
    context: ActionContext, conversation: Conversation, answer: str
) -> None:
    offered = _offered(context, conversation)
    form = ValidateBookAppointmentForm(context)
    slots = {"visit_type": "sick-visit", "offered_slots": offered}
    result = run(
        form.validate_slot_choice(
            answer, CollectingDispatcher(), tracker(conversation, slots), DOMAIN
        )
    )
    assert result == {"slot_choice": offered[0]}


def test_none_of_these_with_nothing_offered_promises_no_other_options(
    context: ActionContext,
    conversation: Conversation,
    dispatcher: CollectingDispatcher,
) -> None:
    # After "no openings on Sunday", "none of these" used to get "No problem, here are other
    # options." followed by the same "no openings" message.
    slots = {"visit_type": "sick-visit", "offered_slots": None}
    result = run(
        ValidateBookAppointmentForm(context).validate_slot_choice(
            "none of these", dispatcher, tracker(conversation, slots), DOMAIN
        )
    )
    assert result == {"slot_choice": None}
    assert responses(dispatcher) == []


def test_slot_choice_correction_and_none_of_these(
    context: ActionContext,
    conversation: Conversation,
    dispatcher: CollectingDispatcher,
) -> None:
    offered = _offered(context, conversation)
    form = ValidateBookAppointmentForm(context)
    slots = {"visit_type": "sick-visit", "offered_slots": offered}
    corrected = run(
        form.validate_slot_choice(
            "actually thursday", CollectingDispatcher(), tracker(conversation, slots), DOMAIN
        )
    )
    assert corrected == {
        "slot_choice": None,
        "time_preference": "actually thursday",
        "offered_slots": None,
    }
    none = run(form.validate_slot_choice("none", dispatcher, tracker(conversation, slots), DOMAIN))
    assert none == {"slot_choice": None, "offered_slots": None, "excluded_slots": offered}
    assert responses(dispatcher) == ["utter_none_of_these"]
    typed = run(
        form.validate_slot_choice(
            "none of those work", CollectingDispatcher(), tracker(conversation, slots), DOMAIN
        )
    )
    assert typed == none
    # Asked again for the same time, the patient sees other slots.
    again = CollectingDispatcher()
    retry = {
        **slots,
        "provider_preference": "any",
        "time_preference": "next tue after 3",
        "excluded_slots": offered,
    }
    events = run(ActionAskSlotChoice(context).run(again, tracker(conversation, retry), DOMAIN))
    assert events and not set(events[0]["value"]) & set(offered)
    # Having turned offers down, the patient also sees another provider and the waitlist.
    assert [b["title"] for b in again.messages[0]["buttons"]][-3:] == [
        "None of these",
        "Another provider",
        "Join the waitlist",
    ]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("waitlist", {"slot_choice": "waitlist", "time_preference": "next tue after 3"}),
        (
            "put me on the wait list",
            {"slot_choice": "waitlist", "time_preference": "next tue after 3"},
        ),
        (
            "other_provider",
            {"slot_choice": None, "provider_preference": None, "offered_slots": None},
        ),
        (
            "can i see a different doctor",
            {"slot_choice": None, "provider_preference": None, "offered_slots": None},
        ),
    ],
)
def test_slot_choice_waitlist_and_another_provider(
    context: ActionContext, conversation: Conversation, reply: str, expected: dict[str, Any]
) -> None:
    form = ValidateBookAppointmentForm(context)
    slots = {
        "visit_type": "sick-visit",
        "time_preference": "next tue after 3",
        "offered_slots": _offered(context, conversation),
    }
    result = run(
        form.validate_slot_choice(
            reply, CollectingDispatcher(), tracker(conversation, slots), DOMAIN
        )
    )
    assert result == expected


def test_identity_comes_from_the_service_not_from_a_slot(
    context: ActionContext,
    conversation: Conversation,
    session: Session,
    dispatcher: CollectingDispatcher,
) -> None:
    form = ValidateBookAppointmentForm(context)
    assert run(form.extract_patient_verified(dispatcher, tracker(conversation), DOMAIN)) == {}
    _identify(session, conversation, "Jordan Sample", date(1985, 4, 12))
    assert run(form.extract_patient_verified(dispatcher, tracker(conversation), DOMAIN)) == {
        "patient_verified": True
    }
    ask = CollectingDispatcher()
    run(ActionAskPatientVerified(context).run(ask, tracker(conversation), DOMAIN))
    assert ask.messages[1]["custom"]["type"] == "identity_request"


def _identify(session: Session, conversation: Conversation, name: str, born: date) -> None:
    """What the widget's identity form does through the service."""
    conversations.identify_patient(
        session=session, conversation=conversation, full_name=name, date_of_birth=born, now=NOW
    )
    session.flush()


def _book(
    context: ActionContext, conversation: Conversation, key: str
) -> tuple[list[Any], CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    slots = {
        "visit_type": "sick-visit",
        "provider_preference": "any",
        "time_preference": "next tue after 3",
        "slot_choice": key,
        "patient_verified": True,
    }
    events = run(
        ActionBookAppointment(context).run(dispatcher, tracker(conversation, slots), DOMAIN)
    )
    return events, dispatcher


def test_booking_confirms_details_and_clears_the_form(
    context: ActionContext, conversation: Conversation, session: Session
) -> None:
    _identify(session, conversation, "Jordan Sample", date(1985, 4, 12))
    key = _offered(context, conversation)[0]
    events, dispatcher = _book(context, conversation, key)
    assert responses(dispatcher) == ["utter_booked"]
    message = dispatcher.messages[0]
    assert message["day"] == "Tuesday, December 1"
    assert message["time"].endswith("PM")
    assert message["provider"].startswith("Dr. ")
    assert "Riverside Main Clinic" in message["location"]
    assert SlotSet("slot_choice", None) in events
    appointment = session.scalars(select(Appointment)).one()
    patient = session.get_one(Patient, appointment.patient_id)
    assert patient.last_name == "Sample"
    assert appointment.start_at == parse_slot_key(key)[1]


def test_a_slot_taken_a_second_ago_offers_the_next_ones(
    context: ActionContext, conversation: Conversation, session: Session
) -> None:
    _identify(session, conversation, "Casey Example", date(1990, 9, 30))
    key = _offered(context, conversation)[0]
    first_events, _ = _book(context, conversation, key)
    assert SlotSet("slot_choice", None) in first_events
    events, dispatcher = _book(context, conversation, key)
    assert responses(dispatcher) == ["utter_slot_taken"]
    assert events == [
        SlotSet("slot_choice", None),
        SlotSet("offered_slots", None),
        FollowupAction("book_appointment_form"),
    ]
    assert len(session.scalars(select(Appointment)).all()) == 1


def test_refer_to_office_gives_the_practice_phone(
    context: ActionContext,
    conversation: Conversation,
    dispatcher: CollectingDispatcher,
) -> None:
    run(ActionReferToOffice(context).run(dispatcher, tracker(conversation), DOMAIN))
    assert dispatcher.messages[0]["response"] == "utter_call_office"
    assert dispatcher.messages[0]["phone"] == "(555) 555-0100"


def test_unknown_sender_is_an_error_not_a_crash_of_the_service(context: ActionContext) -> None:
    fake = Tracker("c_unknown", {}, {}, [], False, None, None, "action_listen")
    with pytest.raises(LookupError):
        run(ActionAskVisitType(context).run(CollectingDispatcher(), fake, DOMAIN))


def test_booking_a_second_visit_at_the_same_time_is_refused_kindly(
    context: ActionContext, conversation: Conversation, session: Session
) -> None:
    _identify(session, conversation, "Riley Placeholder", date(1978, 1, 5))
    first = _offered(context, conversation)[0]
    _book(context, conversation, first)
    provider_id, start = parse_slot_key(first)
    other_provider = next(
        p.id
        for p in active_providers(session=session, practice_id=conversation.practice_id)
        if p.id != provider_id
    )
    key = f"{other_provider}@{start:%Y%m%dT%H%MZ}"
    events, dispatcher = _book(context, conversation, key)
    assert responses(dispatcher) == ["utter_patient_busy"]
    assert FollowupAction("book_appointment_form") in events


def test_reset_clears_every_booking_slot(conversation: Conversation) -> None:
    events = run(ActionResetBooking().run(CollectingDispatcher(), tracker(conversation), DOMAIN))
    assert events == [SlotSet(slot, None) for slot in BOOKING_SLOTS]
    assert "excluded_slots" in BOOKING_SLOTS and "slot_choice" in BOOKING_SLOTS


def test_a_verified_slot_value_alone_does_not_pass(
    context: ActionContext, conversation: Conversation
) -> None:
    form = ValidateBookAppointmentForm(context)
    result = run(
        form.validate_patient_verified(True, CollectingDispatcher(), tracker(conversation), DOMAIN)
    )
    assert result == {"patient_verified": None}
