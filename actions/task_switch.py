"""A new request in the middle of a form wins over the pending one.

A patient who left a reschedule at its "move it?" question and then writes "cancel my
appointment please" wants the cancellation. Each form's validator steps aside when the latest
intent starts another task: it extracts nothing, so the form rejects, and the switch rules in
`bot/data/task_switches.yml` clear the old task's slots (its offered times and pending
confirmation with them) and start the new form, or answer a billing request. A bare "1"
afterwards can only answer the new form's question.

Details named in the opening message are kept the same way: "can you move me to friday"
should not be asked "What day and time suit you?" after verifying (`opening_text`, read by
`BookingAnswers.opening_time`).
"""

from __future__ import annotations

from abc import ABC
from typing import Any, Final

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

DomainDict = dict[str, Any]

# The intent that starts each task, and the form that carries it out.
TASK_FORMS: Final[dict[str, str]] = {
    "book_appointment": "book_appointment_form",
    "reschedule_appointment": "reschedule_appointment_form",
    "cancel_appointment": "cancel_appointment_form",
    "check_appointment": "check_appointment_form",
    "confirm_appointment": "confirm_appointment_form",
}

# Billing requests are tasks too, answered by an action rather than a form: "how do i pay my
# bill" at the booking's "particular provider?" question ends the booking (its pending
# confirmation with it) and answers the billing question.
BILLING_INTENTS: Final[tuple[str, ...]] = ("billing_balance", "billing_payment", "billing_question")


def latest_intent(tracker: Tracker) -> str | None:
    """The intent NLU gave the patient's latest message."""
    name = (tracker.latest_message.get("intent") or {}).get("name")
    return name if isinstance(name, str) else None


def switching_away(tracker: Tracker, form: str) -> bool:
    """Whether the latest message starts a task other than the one `form` carries out."""
    intent = latest_intent(tracker) or ""
    if intent in BILLING_INTENTS:
        return True
    target = TASK_FORMS.get(intent)
    return target is not None and target != form


class YieldsToNewTasks(FormValidationAction, ABC):
    """A form validator that extracts nothing from a message starting another task."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Validate as usual, unless the patient has moved on to another task."""
        if switching_away(tracker, self.name().removeprefix("validate_")):
            return []
        events: list[EventType] = await super().run(dispatcher, tracker, domain)
        return events


def opening_text(tracker: Tracker, *, intent: str) -> str | None:
    """The patient's words when the latest message opens the task `intent` starts.

    Only the opening message (nothing asked yet, the task's own intent, typed rather than a
    button payload) counts: later answers go to the question they answer.
    """
    if tracker.get_slot("requested_slot") or latest_intent(tracker) != intent:
        return None
    text = tracker.latest_message.get("text")
    if not isinstance(text, str) or not text.strip() or text.startswith("/"):
        return None
    return text
