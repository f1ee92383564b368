"""The `language` slot: filled from what the service sent, and followed by what actions say."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.booking import ActionAskSlotChoice
from actions.context import ActionContext
from actions.handoff import ActionEscalate
from actions.language import ActionExtractLanguage, response_text
from frontdesk.conversations.models import Conversation, Message, Role
from tests.actions.conftest import context_at, make_tracker
from tests.actions.test_handoff import OPEN
from tests.doubles import bot_domain


def _latest(message: dict[str, Any], slot: str | None = None) -> Tracker:
    return Tracker(
        sender_id="c_test",
        slots={"language": slot},
        latest_message={"intent": {"name": "greet"}, "entities": [], "text": "hola", **message},
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


@pytest.mark.parametrize(
    ("message", "slot", "events"),
    [
        # A patient turn: the service's metadata, beside its turn id.
        (
            {"metadata": {"frontdesk_message_id": "t-1", "language": "es"}},
            None,
            [SlotSet("language", "es")],
        ),
        ({"metadata": {"language": "en"}}, "es", [SlotSet("language", "en")]),
        # Outreach through trigger_intent: an entity, as Rasa 3.6 takes no metadata there.
        (
            {
                "entities": [
                    {"entity": "appointment_ref", "value": "a_1"},
                    {"entity": "language", "value": "es"},
                ]
            },
            "en",
            [SlotSet("language", "es")],
        ),
        ({"metadata": {"language": "es"}}, "es", []),  # unchanged: no event
        ({"metadata": {"frontdesk_message_id": "t-1"}}, "es", []),  # nothing sent: keep it
        ({"metadata": {"language": "fr"}}, None, []),  # not a language we answer in
        ({}, None, []),
    ],
)  # fmt: skip
def test_the_slot_follows_what_the_service_sent(
    message: dict[str, Any], slot: str | None, events: list[dict[str, Any]]
) -> None:
    dispatcher = CollectingDispatcher()
    got = asyncio.run(ActionExtractLanguage().run(dispatcher, _latest(message, slot), {}))
    assert got == events
    assert dispatcher.messages == []


def test_response_text_picks_the_spanish_variation_and_falls_back_to_the_default() -> None:
    domain = bot_domain()
    assert response_text(domain, "utter_anything_else", "es") == "¿Le puedo ayudar con algo más?"
    assert response_text(domain, "utter_anything_else", "en") == (
        "Is there anything else I can help with?"
    )
    with pytest.raises(KeyError):
        response_text(domain, "utter_no_such_response", "es")


def test_offered_slots_are_labelled_in_spanish_with_the_same_payloads(
    context: ActionContext, conversation: Conversation
) -> None:
    slots = {
        "requested_slot": None,
        "visit_type": "sick-visit",
        "provider_preference": "any",
        "time_preference": "next tue after 3",
    }
    offers: dict[str, list[dict[str, Any]]] = {}
    for language in ("en", "es"):
        dispatcher = CollectingDispatcher()
        tracker = make_tracker(
            conversation.public_id,
            slots={**slots, "language": language},
            loop="book_appointment_form",
        )
        asyncio.run(ActionAskSlotChoice(context).run(dispatcher, tracker, {}))
        [message] = dispatcher.messages
        assert message["response"] == "utter_offer_slots"
        offers[language] = message["buttons"]
    assert [b["payload"] for b in offers["es"]] == [b["payload"] for b in offers["en"]]
    assert offers["es"][-1]["title"] == "Ninguno de estos"
    assert offers["es"][0]["title"].startswith("mar 1 de dic · ")
    assert "p. m." in offers["es"][0]["title"]
    assert offers["en"][0]["title"].startswith("Tue, Dec 1 · ")


def test_the_handoff_notice_is_in_the_conversation_language(
    session: Session, conversation: Conversation
) -> None:
    tracker = make_tracker(
        conversation.public_id,
        slots={"escalation_reason": None, "language": "es"},
        intent="request_human",
    )
    asyncio.run(
        ActionEscalate(context_at(session, OPEN)).run(CollectingDispatcher(), tracker, bot_domain())
    )
    [notice] = session.scalars(
        select(Message).where(Message.conversation_id == conversation.id, Message.role == Role.BOT)
    )
    assert notice.text == (
        "Claro, le comunico con una persona de nuestro equipo. "
        "Alguien de nuestro equipo le va a responder por aquí en breve."
    )
