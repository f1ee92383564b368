"""Handing the conversation to a person: `action_escalate`.

The action records the escalation (the conversation then belongs to staff), tells the
patient what happens next and when, and pauses the bot. The notice is stored and delivered
by the service itself rather than returned to Rasa: once staff own a conversation the
service drops everything the bot sends, and an SMS patient gets the notice through the SMS
outbox in the same transaction. Rasa only receives a content-free marker
(`{"type": "handoff_notice", "message_id": N}`) that lets the web chat push the stored
notice to the patient's open sockets and tells the console about the escalation.

An emergency the NLU model found on its own (the service sends a strong signal as the
`/medical_emergency` intent, so any other text is the model's reading) escalates only when
`emergency_confirmed`: the bot's rules have already said the 911 line, and at moderate
confidence or on words the safety rules call weak the patient is asked to go on instead of
being handed to staff as urgent (docs/safety.md).

`action_handle_misunderstanding` answers `nlu_fallback`: "say it another way" the first time,
an escalation (reason `misunderstood`) the second time in a row.

Other actions escalate for their own reason by returning
`[SlotSet("escalation_reason", "<reason>"), FollowupAction("action_escalate")]`.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.common import format_phone
from actions.context import ActionContext, ContextAction
from actions.language import language_of, pick, response_text
from actions.task_switch import TASK_FORMS
from frontdesk.conversations import service as conversations
from frontdesk.conversations.handoff import (
    NOTICE_MARKER,
    EscalationReason,
    escalate,
    office_hours,
)
from frontdesk.conversations.models import Role
from frontdesk.conversations.safety import Signal, assess
from frontdesk.conversations.turns import MEDICAL_EMERGENCY
from frontdesk.practices.models import Practice

REASON_SLOT = "escalation_reason"
MISUNDERSTANDINGS_BEFORE_ESCALATING = 2
# The reason an escalation has when no action set `escalation_reason`: the patient's intent.
REASON_BY_INTENT = {
    "request_human": EscalationReason.PATIENT_REQUEST,
    "medical_emergency": EscalationReason.EMERGENCY,
    "prescription_refill": EscalationReason.REFILL,
    "billing_question": EscalationReason.BILLING_DISPUTE,
    "identity_failed": EscalationReason.IDENTITY_FAILED,
    "nlu_fallback": EscalationReason.MISUNDERSTOOD,
}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# The NLU model alone escalates an emergency only at this confidence or above (docs/safety.md).
NLU_EMERGENCY_MIN_CONFIDENCE = 0.95
# A task the model ranks under a misread emergency is carried on from this confidence (a guard
# against noise at the bottom of the ranking, not a tuned figure).
TASK_MIN_CONFIDENCE = 0.05
# Words that name a change to an existing visit, for a message the model read as an emergency
# only ("cancel his checkup, he had a fever last week" ranks no cancellation at all). Changes
# only: ending one of those silently is what costs the patient; a new booking can be asked for.
CHANGE_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(cancel\w*|cancelar)\b", re.IGNORECASE), "cancel_appointment_form"),
    (
        re.compile(r"\b(reschedul\w*|move (my|his|her|their|the)|reprogramar)\b", re.IGNORECASE),
        "reschedule_appointment_form",
    ),
)
CARRY_ON_TEXT = {
    "en": "If you are safe and this is not an emergency, tell me what you need (for example "
    "book, reschedule or cancel a visit) and I'll help you with it.",
    "es": "Si está a salvo y no es una emergencia, dígame qué necesita (por ejemplo, hacer, "
    "cambiar o cancelar una cita) y con gusto le ayudo.",
}


def escalation_reason(tracker: Tracker) -> EscalationReason:
    """The reason from the `escalation_reason` slot if an action set one, else the intent."""
    slot = tracker.get_slot(REASON_SLOT)
    if isinstance(slot, str) and slot in {r.value for r in EscalationReason}:
        return EscalationReason(slot)
    intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
    return REASON_BY_INTENT.get(str(intent), EscalationReason.PATIENT_REQUEST)


def emergency_confirmed(tracker: Tracker) -> bool:
    """Whether an emergency read from the patient's latest turn warrants an urgent handoff.

    The service's own strong decision (the `/medical_emergency` turn) always does. The NLU
    model's reading of free text does only at high confidence, and never on words the safety
    rules found weak ("my bill gave me a heart attack lol").
    """
    latest = tracker.latest_message or {}
    text = str(latest.get("text") or "")
    if text.startswith(MEDICAL_EMERGENCY):
        return True
    signal = assess(text).signal
    if signal is not Signal.NONE:
        return signal is Signal.STRONG
    confidence = (latest.get("intent") or {}).get("confidence")
    return isinstance(confidence, int | float) and confidence >= NLU_EMERGENCY_MIN_CONFIDENCE


def carried_task(tracker: Tracker) -> str | None:
    """The form to carry on with after an emergency reading that was not confirmed.

    The form this turn interrupted (the in-form emergency rules have just ended it), else a
    change the words name ("cancel his checkup, he had a fever last week"), else a task the
    model ranks next under the emergency. None: ask what they need.
    """
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                break
            seen_user = True
        elif seen_user and event.get("event") == "active_loop":
            name = event.get("name")
            if isinstance(name, str) and name in TASK_FORMS.values():
                return name
            break
    latest = tracker.latest_message or {}
    text = str(latest.get("text") or "")
    for words, change in CHANGE_WORDS:  # named outright: more telling than the ranking
        if words.search(text):
            return change
    ranking = latest.get("intent_ranking") or []
    for entry in ranking[:3]:
        form = TASK_FORMS.get(str(entry.get("name")))
        confidence = entry.get("confidence")
        if form and isinstance(confidence, int | float) and confidence >= TASK_MIN_CONFIDENCE:
            return form
    return None


def render(domain: dict[str, Any], response: str, language: str = "en", **values: str) -> str:
    """A domain response's text in `language`, with `{name}` placeholders filled in."""
    text = response_text(domain, response, language)
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


class ActionEscalate(ContextAction):
    """Hands the conversation to staff and tells the patient when a person will reply."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_escalate"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """Escalate, store the notice for delivery, and pause the bot."""
        reason = escalation_reason(tracker)
        language = language_of(tracker)
        clear_reason = SlotSet(REASON_SLOT, None)
        if (
            reason is EscalationReason.EMERGENCY
            and tracker.get_slot(REASON_SLOT) is None
            and not emergency_confirmed(tracker)
        ):
            task = carried_task(tracker)
            if task is not None:  # the 911 line went out already; the patient's task goes on
                return [clear_reason, FollowupAction(task)]
            dispatcher.utter_message(text=pick(language, CARRY_ON_TEXT))
            return [clear_reason]

        def work(session: Session) -> tuple[bool, int | None, str | None]:
            conversation = conversations.get_conversation(
                session=session, public_id=tracker.sender_id
            )
            if conversation is None:
                return False, None, None
            practice = session.get_one(Practice, conversation.practice_id)
            now = self.context.clock()
            if not escalate(session=session, conversation=conversation, reason=reason, now=now):
                return True, None, practice.phone  # staff already have it: say nothing more
            hours = office_hours(session=session, practice=practice, now=now)
            lead = render(domain, f"utter_handoff_reason_{reason.value}", language)
            if hours.open_now:
                timing = render(domain, "utter_handoff_during_hours", language)
            else:
                timing = render(
                    domain,
                    "utter_handoff_after_hours_emergency"
                    if reason is EscalationReason.EMERGENCY
                    else "utter_handoff_after_hours",
                    language,
                    opens=hours.opens_phrase(now),
                    phone=format_phone(practice.phone),
                )
            notice = conversations.record_outgoing_message(
                session=session, conversation=conversation, role=Role.BOT, text=f"{lead} {timing}"
            )
            return True, notice.id, practice.phone

        escalated, notice_id, phone = await self.context.run(work)
        if not escalated:
            # Not a conversation the service knows (e.g. `rasa shell`): nobody would see it.
            dispatcher.utter_message(response="utter_call_office", phone=format_phone(phone))
            return [clear_reason]
        if notice_id is not None:
            dispatcher.utter_message(json_message={"type": NOTICE_MARKER, "message_id": notice_id})
        return [clear_reason, ConversationPaused()]


def misunderstandings_in_a_row(tracker: Tracker) -> int:
    """How many of the patient's latest messages in a row the NLU could not understand.

    Counting stops at a hand-back (`resume`) or a new session, so what happened before staff
    took over does not count against the patient afterwards.
    """
    count = 0
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind in ("resume", "session_started"):
            break
        if kind != "user":
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent != "nlu_fallback":
            break
        count += 1
    return count


class ActionHandleMisunderstanding(ActionEscalate):
    """ "Say it another way" the first time; a person the second time in a row.

    Rasa rules may contain one user turn only, so "two in a row" is counted here.
    """

    def name(self) -> str:
        """Rasa action name."""
        return "action_handle_misunderstanding"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """Ask to rephrase, or escalate with the reason `misunderstood`."""
        if misunderstandings_in_a_row(tracker) < MISUNDERSTANDINGS_BEFORE_ESCALATING:
            dispatcher.utter_message(response="utter_default")
            return []
        return await super().run(dispatcher, tracker, domain)


def handoff_actions(context: ActionContext) -> list[ContextAction]:
    """The handoff actions, built with their collaborators."""
    return [ActionEscalate(context), ActionHandleMisunderstanding(context)]
