"""A misread emergency (the model alone, not confirmed) carries on with the patient's task.

Inside a form the emergency rules have just ended it; outside one, the message may name a
task too ("cancel his checkup, he had a fever last week"). Either way the form goes on
(after the 911 line the rules said) instead of "tell me what you need", and no one is paged.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.handoff import ActionEscalate
from tests.actions.conftest import context_at
from tests.doubles import bot_domain

OPEN = datetime(2026, 11, 28, 10, 0, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)
CHILD_WELL_VISIT = "my son is feeling better so I need to cancel his checkup, he had a fever"


def _tracker(
    text: str, ranking: list[tuple[str, float]], events: list[dict[str, Any]] | None = None
) -> Tracker:
    name, confidence = ranking[0]
    return Tracker(
        sender_id="unknown-conversation",
        slots={"escalation_reason": None},
        latest_message={
            "intent": {"name": name, "confidence": confidence},
            "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
            "entities": [],
            "text": text,
        },
        events=events or [],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="utter_emergency",
    )


def _escalate(session: Session, tracker: Tracker) -> tuple[list[dict[str, Any]], list[str]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(
        ActionEscalate(context_at(session, OPEN)).run(dispatcher, tracker, bot_domain())
    )
    return events, [str(m.get("text")) for m in dispatcher.messages]


def test_a_change_named_in_words_the_model_did_not_rank_goes_on(session: Session) -> None:
    # The trained model's real ranking for this message: no cancellation in sight.
    tracker = _tracker(
        CHILD_WELL_VISIT + " last week",
        [("medical_emergency", 0.903), ("book_appointment", 0.048), ("billing_question", 0.044)],
    )
    events, texts = _escalate(session, tracker)
    assert events[-1] == FollowupAction("cancel_appointment_form") and texts == []


def test_a_task_named_under_a_misread_emergency_goes_on(session: Session) -> None:
    tracker = _tracker(
        CHILD_WELL_VISIT,
        [("medical_emergency", 0.71), ("cancel_appointment", 0.22), ("inform", 0.03)],
    )
    events, texts = _escalate(session, tracker)
    assert events == [SlotSet("escalation_reason", None), FollowupAction("cancel_appointment_form")]
    assert texts == []  # the form asks its own question next


def test_the_form_an_emergency_misread_interrupted_starts_again(session: Session) -> None:
    events_so_far: list[dict[str, Any]] = [
        {"event": "user", "text": "book please"},
        {"event": "active_loop", "name": "book_appointment_form"},
        {"event": "user", "text": "it hurts to breathe when i laugh lol"},
        {"event": "active_loop", "name": None},  # the emergency rule's deactivation
    ]
    tracker = _tracker(
        "it hurts to breathe when i laugh lol",
        [("medical_emergency", 0.8), ("inform", 0.1)],
        events_so_far,
    )
    events, _ = _escalate(session, tracker)
    assert FollowupAction("book_appointment_form") in events


def test_with_no_task_in_sight_the_patient_is_asked_what_they_need(session: Session) -> None:
    events_so_far: list[dict[str, Any]] = [
        {"event": "active_loop", "name": "book_appointment_form"},
        {"event": "active_loop", "name": None},  # that booking finished earlier
        {"event": "user", "text": "lol my heart attack"},
    ]
    tracker = _tracker(
        "that bill gave me a heart attack lol",
        [("medical_emergency", 0.8), ("billing_balance", 0.1)],
        events_so_far,
    )
    events, texts = _escalate(session, tracker)
    assert events == [SlotSet("escalation_reason", None)]
    assert len(texts) == 1 and "If you are safe" in texts[0]


@pytest.mark.parametrize("confidence", [0.97, 0.99])
def test_a_confident_emergency_reading_still_escalates(session: Session, confidence: float) -> None:
    tracker = _tracker(
        "the baby is not breathing right",
        [("medical_emergency", confidence), ("cancel_appointment", 0.01)],
    )
    events, _ = _escalate(session, tracker)
    assert not any(isinstance(e, dict) and e.get("event") == "followup" for e in events)
