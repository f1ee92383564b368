"""Rasa custom actions (rasa-sdk), served by the Frontdesk service at `/internal/rasa/actions`.

Each action is thin: it reads slots, calls a `frontdesk` domain service and says the result.
"""

from __future__ import annotations

from rasa_sdk import Action
from rasa_sdk.executor import ActionExecutor

from actions.appointment_forms import appointment_form_validators
from actions.appointments import appointment_actions
from actions.billing import billing_actions
from actions.booking import booking_actions
from actions.common import ActionReferToOffice
from actions.context import ActionContext
from actions.handoff import handoff_actions
from actions.identity import ActionAskIdentityVerified
from actions.knowledge import ActionAnswerQuestion
from actions.language import ActionExtractLanguage
from actions.reminders import reminder_actions
from actions.waitlist import waitlist_actions


def build_executor(context: ActionContext) -> ActionExecutor:
    """An action executor with every Frontdesk action registered."""
    executor = ActionExecutor()
    for action in all_actions(context):
        executor.register_action(action)
    return executor


def all_actions(context: ActionContext) -> list[Action]:
    """Every custom action, built with its collaborators."""
    return [
        *booking_actions(context),
        *appointment_form_validators(context),
        *appointment_actions(context),
        *waitlist_actions(context),
        ActionAskIdentityVerified(context),
        ActionReferToOffice(context),
        *handoff_actions(context),
        *billing_actions(context),
        ActionAnswerQuestion(context),
        *reminder_actions(context),
        ActionExtractLanguage(),
    ]
