"""Booking actions read and describe time preferences in the conversation's language.

The language comes from the conversation row (frontdesk.conversations.service.reply_language),
so these tests set it there, as the service does when a patient's messages decide it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.booking import ActionAskSlotChoice, ActionAskVisitType, ValidateBookAppointmentForm
from actions.context import ActionContext
from frontdesk.conversations.models import Conversation
from tests.actions.conftest import make_tracker

DOMAIN: dict[str, Any] = {}


def tracker(conversation: Conversation, slots: dict[str, Any] | None = None) -> Tracker:
    return make_tracker(
        conversation.public_id,
        slots={"requested_slot": None, **(slots or {})},
        loop="book_appointment_form",
    )


def speaking(session: Session, conversation: Conversation, language: str | None) -> Conversation:
    conversation.language = language
    session.flush()
    return conversation


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    return [m["response"] for m in dispatcher.messages if m.get("response")]


@pytest.mark.parametrize(
    ("language", "text", "problem"),
    [
        ("es", "el martes después de las 3", None),
        ("es", "manana en la tarde", None),
        ("es", "next tue after 3", None),  # English inside a Spanish conversation
        ("es", "ayer", "utter_time_in_past"),
        ("es", "el 14 de marzp", "utter_time_unrecognised"),
        ("en", "el martes después de las 3", "utter_time_unrecognised"),
        (None, "el martes después de las 3", "utter_time_unrecognised"),  # undecided: English
    ],
)
def test_time_preference_is_read_in_the_conversation_language(
    session: Session,
    context: ActionContext,
    conversation: Conversation,
    dispatcher: CollectingDispatcher,
    language: str | None,
    text: str,
    problem: str | None,
) -> None:
    form = ValidateBookAppointmentForm(context)
    convo = speaking(session, conversation, language)
    result = asyncio.run(form.validate_time_preference(text, dispatcher, tracker(convo), DOMAIN))
    if problem is None:
        assert result == {"time_preference": text, "slot_choice": None, "offered_slots": None}
        assert responses(dispatcher) == []
    else:
        assert result == {"time_preference": None}
        assert responses(dispatcher) == [problem]


@pytest.mark.parametrize(
    ("language", "said", "when"),
    [
        (
            "es",
            "el prox martes despues de las 3",
            "el martes 1 de diciembre, después de las 3 p. m.",
        ),
        ("en", "next tue after 3", "Tuesday, Dec 1 after 3:00 PM"),
    ],
)
def test_offers_describe_the_preference_in_the_conversation_language(
    session: Session,
    context: ActionContext,
    conversation: Conversation,
    dispatcher: CollectingDispatcher,
    language: str,
    said: str,
    when: str,
) -> None:
    convo = speaking(session, conversation, language)
    slots = {"visit_type": "sick-visit", "provider_preference": "any", "time_preference": said}
    events = asyncio.run(
        ActionAskSlotChoice(context).run(dispatcher, tracker(convo, slots), DOMAIN)
    )
    assert responses(dispatcher) == ["utter_offer_slots"]
    assert dispatcher.messages[0]["when"] == when
    offers = dispatcher.messages[0]["buttons"][:-1]  # the last one is "None of these"
    assert events[0]["value"] and all("Tue, Dec 1" in b["title"] for b in offers)


def test_a_spanish_correction_at_the_slot_question_is_a_new_preference(
    session: Session, context: ActionContext, conversation: Conversation
) -> None:
    convo = speaking(session, conversation, "es")
    ask = CollectingDispatcher()
    asked: dict[str, Any] = {
        "visit_type": "sick-visit",
        "provider_preference": "any",
        "time_preference": "el martes después de las 3",
    }
    events = asyncio.run(ActionAskSlotChoice(context).run(ask, tracker(convo, asked), DOMAIN))
    offered = list(events[0]["value"])
    form = ValidateBookAppointmentForm(context)
    answering = {"visit_type": "sick-visit", "offered_slots": offered}
    corrected = asyncio.run(
        form.validate_slot_choice(
            "mejor el jueves en la mañana",
            CollectingDispatcher(),
            tracker(convo, answering),
            DOMAIN,
        )
    )
    assert corrected == {
        "slot_choice": None,
        "time_preference": "mejor el jueves en la mañana",
        "offered_slots": None,
    }


@pytest.mark.parametrize(
    ("language", "titles"),
    [
        ("es", ["Examen físico anual", "Consulta por enfermedad", "Consulta de paciente nuevo"]),
        ("en", ["Annual physical", "Sick visit", "New patient visit"]),
    ],
)
def test_visit_types_are_offered_by_the_names_the_practice_gave_them_in_that_language(
    session: Session,
    context: ActionContext,
    conversation: Conversation,
    dispatcher: CollectingDispatcher,
    language: str,
    titles: list[str],
) -> None:
    convo = speaking(session, conversation, language)
    asyncio.run(ActionAskVisitType(context).run(dispatcher, tracker(convo), DOMAIN))
    buttons = dispatcher.messages[0]["buttons"]
    assert sorted(b["title"] for b in buttons) == sorted(titles)
    assert {b["payload"] for b in buttons} == {
        '/inform{"visit_type":"annual-physical"}',
        '/inform{"visit_type":"sick-visit"}',
        '/inform{"visit_type":"new-patient"}',
    }


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("consulta por enfermedad", "sick-visit"),
        ("un chequeo para mi hijo", "annual-physical"),
        ("es mi primera vez", "new-patient"),
    ],
)
def test_a_visit_type_typed_in_spanish_is_understood(
    session: Session,
    context: ActionContext,
    conversation: Conversation,
    dispatcher: CollectingDispatcher,
    typed: str,
    code: str,
) -> None:
    convo = speaking(session, conversation, "es")
    form = ValidateBookAppointmentForm(context)
    result = asyncio.run(form.validate_visit_type(typed, dispatcher, tracker(convo), DOMAIN))
    assert result == {"visit_type": code}
