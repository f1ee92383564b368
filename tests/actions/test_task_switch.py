"""A new request mid-form wins over the pending one; the opening message's day is kept.

The validators run as Rasa calls them (`run`, with the bot's own domain), against the demo
practice's database; the switch rules are checked against the script that writes them.
"""

from __future__ import annotations

import asyncio
import runpy
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.appointment_forms import (
    ValidateCancelAppointmentForm,
    ValidateCheckAppointmentForm,
    ValidateConfirmAppointmentForm,
    ValidateRescheduleAppointmentForm,
)
from actions.booking import ValidateBookAppointmentForm
from actions.context import ActionContext
from actions.task_switch import BILLING_INTENTS, TASK_FORMS, YieldsToNewTasks
from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Conversation, Role
from frontdesk.models import Practice
from frontdesk.patients.service import find_patient
from tests.actions.conftest import context_at, make_tracker
from tests.conftest import NOW

ROOT = Path(__file__).resolve().parents[2]
VALIDATORS: dict[str, type[YieldsToNewTasks]] = {
    "book_appointment_form": ValidateBookAppointmentForm,
    "reschedule_appointment_form": ValidateRescheduleAppointmentForm,
    "cancel_appointment_form": ValidateCancelAppointmentForm,
    "check_appointment_form": ValidateCheckAppointmentForm,
    "confirm_appointment_form": ValidateConfirmAppointmentForm,
}


def _bot_domain() -> dict[str, Any]:
    merged: dict[str, Any] = {"slots": {}, "forms": {}}
    for path in sorted((ROOT / "bot" / "domain").glob("*.yml")):
        data = yaml.safe_load(path.read_text()) or {}
        merged["slots"].update(data.get("slots") or {})
        merged["forms"].update(data.get("forms") or {})
    return merged


def _verified(session: Session, practice: Practice, conversation: Conversation) -> None:
    who = find_patient(
        session=session,
        practice_id=practice.id,
        full_name="Jordan Sample",
        date_of_birth=date(1985, 4, 12),
    )
    assert who is not None
    conversations.link_patient(
        session=session, conversation=conversation, patient_id=who.id, verified_at=NOW
    )


def _slot_sets(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def _validate(context: ActionContext, form: str, tracker: Tracker) -> dict[str, Any]:
    validator = VALIDATORS[form](context)
    events = asyncio.run(validator.run(CollectingDispatcher(), tracker, _bot_domain()))
    return _slot_sets(events)


@pytest.mark.parametrize("form", list(VALIDATORS))
def test_a_request_for_another_task_extracts_nothing_so_the_form_yields(
    context: ActionContext,
    session: Session,
    practice: Practice,
    conversation: Conversation,
    form: str,
) -> None:
    _verified(session, practice, conversation)
    waiting = {"requested_slot": "change_confirmed", "identity_verified": True}
    same_answer = make_tracker(
        conversation.public_id, slots=waiting, intent="inform", text="hmm", loop=form
    )
    # Before: every message re-filled the identity slot, so the form never rejected and a
    # "cancel my appointment please" at the reschedule's "move it?" was asked "move it?" again.
    assert _validate(context, form, same_answer) != {}
    others = [i for i, f in TASK_FORMS.items() if f != form] + list(BILLING_INTENTS)
    for intent in others:
        switch = make_tracker(
            conversation.public_id,
            slots=waiting,
            intent=intent,
            text="cancel my appointment please",
            loop=form,
        )
        assert _validate(context, form, switch) == {}, intent


@pytest.mark.parametrize(
    ("form", "intent", "text", "expected"),
    [
        (
            "reschedule_appointment_form",
            "reschedule_appointment",
            "can you move me to friday",
            True,
        ),
        (
            "reschedule_appointment_form",
            "reschedule_appointment",
            "move my appt to next week pls",
            True,
        ),
        ("reschedule_appointment_form", "reschedule_appointment", "I need to reschedule", False),
        ("reschedule_appointment_form", "reschedule_appointment", "/reschedule_appointment", False),
        ("book_appointment_form", "book_appointment", "book a physical next tue after 3", True),
        ("book_appointment_form", "book_appointment", "can i book an appointment", False),
        # A day in the past is left for the question, which explains the problem.
        ("book_appointment_form", "book_appointment", "book me for 3 days ago", False),
        # Only the task's own opening message: not an answer, not another task's request.
        ("book_appointment_form", "inform", "next tue after 3", False),
    ],
)
def test_the_opening_message_keeps_the_day_and_time_it_names(
    context: ActionContext,
    conversation: Conversation,
    form: str,
    intent: str,
    text: str,
    expected: bool,
) -> None:
    opening = make_tracker(
        conversation.public_id, slots={"requested_slot": None}, intent=intent, text=text
    )
    slots = _validate(context, form, opening)
    assert slots.get("time_preference") == (text if expected else None)


@pytest.mark.parametrize(
    ("intent", "text", "slots_wanted"),
    [
        (
            "book_appointment",
            "I'd like an annual physical with Dr. Patel next friday morning",
            {"visit_type", "provider_preference", "time_preference"},
        ),
        ("book_appointment", "can i book a sick visit next tue after 3", {"visit_type"}),
        # An answer, not the opening: the provider question takes it.
        ("inform", "dr patel", set()),
    ],
)
def test_the_opening_message_fills_every_slot_it_names(
    context: ActionContext,
    conversation: Conversation,
    intent: str,
    text: str,
    slots_wanted: set[str],
) -> None:
    opening = make_tracker(
        conversation.public_id, slots={"requested_slot": None}, intent=intent, text=text
    )
    slots = _validate(context, "book_appointment_form", opening)
    named = {"visit_type", "provider_preference"} & slots_wanted
    assert {k for k in ("visit_type", "provider_preference") if slots.get(k)} == named
    if "provider_preference" in slots_wanted:
        assert str(slots["provider_preference"]).isdigit()


def test_after_the_opening_the_time_is_asked_not_taken(
    context: ActionContext, conversation: Conversation
) -> None:
    # "friday" said while the form waits for the provider goes to the provider question.
    later = make_tracker(
        conversation.public_id,
        slots={"requested_slot": "provider_preference", "visit_type": "sick-visit"},
        intent="book_appointment",
        text="book me friday",
        loop="book_appointment_form",
    )
    assert "time_preference" not in _validate(context, "book_appointment_form", later)


def test_the_switch_rules_are_the_generated_ones_and_cover_every_pair() -> None:
    rules = runpy.run_path(str(ROOT / "scripts" / "task_switch_rules.py"))["rules"]()
    committed = (ROOT / "bot" / "data" / "task_switches.yml").read_text()
    assert committed == rules, "run scripts/task_switch_rules.py > bot/data/task_switches.yml"
    pairs = set()
    for rule in yaml.safe_load(committed)["rules"]:
        steps = rule["steps"]
        # Every switch ends the old form (its slots cleared) before the new task starts.
        assert steps[1:4] == [
            {"action": "action_reset_booking"},
            {"action": "action_deactivate_loop"},
            {"active_loop": None},
        ], rule["rule"]
        new = steps[-1].get("active_loop") or steps[5]["action"]
        pairs.add((rule["condition"][0]["active_loop"], steps[0]["intent"], new))
    expected = {
        (old, intent, new)
        for old in TASK_FORMS.values()
        for intent, new in TASK_FORMS.items()
        if new != old
    } | {
        (old, intent, answer)
        for old in TASK_FORMS.values()
        for intent, answer in {
            "billing_balance": "action_billing_balance",
            "billing_payment": "action_billing_payment",
            "billing_question": "action_billing_dispute",
        }.items()
    }
    assert pairs == expected


def test_free_text_answers_ignore_every_other_task_but_their_own() -> None:
    domain = _bot_domain()
    for name, slot in domain["slots"].items():
        for mapping in slot["mappings"]:
            if mapping["type"] != "from_text":
                continue
            forms = {c["active_loop"] for c in mapping.get("conditions", [])}
            assert len(forms) == 1, f"{name}: one form per free-text mapping"
            (form,) = forms
            ignored = set(mapping.get("not_intent", []))
            others = {i for i, f in TASK_FORMS.items() if f != form} | set(BILLING_INTENTS)
            assert others <= ignored, name
            assert not ignored & {i for i, f in TASK_FORMS.items() if f == form}, name


@pytest.mark.parametrize(
    ("minutes_later", "accepted"),
    [(5, True), (30, True), (31, False), (24 * 60, False)],
)
def test_a_yes_long_after_the_question_is_asked_again(
    session: Session,
    practice: Practice,
    conversation: Conversation,
    minutes_later: int,
    accepted: bool,
) -> None:
    conversations.record_outgoing_message(
        session=session,
        conversation=conversation,
        role=Role.BOT,
        text="Cancel your Sick visit? 1) Yes, cancel it 2) No, keep it",
    )
    later = context_at(session, NOW + timedelta(minutes=minutes_later))
    dispatcher = CollectingDispatcher()
    yes = make_tracker(
        conversation.public_id,
        slots={"requested_slot": "change_confirmed"},
        intent="affirm",
        text="1",
        loop="cancel_appointment_form",
    )
    result = asyncio.run(
        ValidateCancelAppointmentForm(later).validate_change_confirmed(
            True, dispatcher, yes, _bot_domain()
        )
    )
    assert result == {"change_confirmed": True if accepted else None}
    expired = [m.get("response") for m in dispatcher.messages]
    assert expired == ([] if accepted else ["utter_confirmation_expired"])
    no = ValidateCancelAppointmentForm(later).validate_change_confirmed(
        False, CollectingDispatcher(), yes, _bot_domain()
    )
    assert asyncio.run(no) == {"change_confirmed": False}
