"""Billing: balance and payment link for verified patients, ways to pay, disputes to staff."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import ActionContext, ContextAction
from actions.formatting import ES_MONTHS
from actions.identity import IDENTITY_REASON, verified_patient_id
from actions.language import language_of, pick
from frontdesk.billing import service as billing
from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Channel
from frontdesk.practices.models import Practice

PENDING_SLOT = "billing_pending"
DISPUTE_QUESTION = "How do I dispute a charge on my bill?"


def format_money(amount: Decimal) -> str:
    """`Decimal("125.4")` as `$125.40`."""
    return f"${amount:,.2f}"


def format_date(day: date, language: str = "en") -> str:
    """`2026-11-01` as `November 1, 2026`, or `1 de noviembre de 2026` in Spanish."""
    if language == "es":
        return f"{day.day} de {ES_MONTHS[day.month - 1]} de {day.year}"
    return f"{day:%B} {day.day}, {day.year}"


class ActionBillingBalance(ContextAction):
    """Tells a verified patient their balance, last statement date and payment link."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_billing_balance"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """Balance after verification; otherwise ask to verify and come back here."""

        def work(session: Session) -> dict[str, str] | Channel | None:
            conversation = conversations.get_conversation(
                session=session, public_id=tracker.sender_id
            )
            if conversation is None:
                return None
            patient_id = verified_patient_id(session, tracker.sender_id, self.context.clock())
            if patient_id is None:
                return conversation.channel
            practice = session.get_one(Practice, conversation.practice_id)
            summary = billing.balance_summary(
                session=session, practice_id=practice.id, patient_id=patient_id
            )
            links = self.context.payment_links
            link = ""
            if conversation.channel is not Channel.SMS or billing.has_payment_link_consent(
                session=session, practice_id=practice.id, patient_id=patient_id
            ):
                link = billing.payment_link(
                    session=session,
                    practice=practice,
                    reference=summary.reference,
                    default_template=links.template,
                    base_url=links.base_url,
                )
            return {
                "balance": format_money(summary.balance),
                "statement": format_date(summary.last_statement_date, language_of(tracker))
                if summary.last_statement_date
                else "",
                "link": link,
                "zero": "yes" if summary.balance <= 0 else "",
            }

        outcome = await self.context.run(work)
        if outcome is None:
            dispatcher.utter_message(response="utter_billing_unavailable")
            return []
        if isinstance(outcome, Channel):
            _ask_identity(dispatcher, outcome, language_of(tracker))
            return [SlotSet(PENDING_SLOT, "balance")]
        if outcome["zero"]:
            dispatcher.utter_message(response="utter_billing_no_balance")
        elif outcome["statement"]:
            dispatcher.utter_message(
                response="utter_billing_balance",
                balance=outcome["balance"],
                statement_date=outcome["statement"],
            )
        else:
            dispatcher.utter_message(
                response="utter_billing_balance_no_statement", balance=outcome["balance"]
            )
        if outcome["link"] and not outcome["zero"]:
            dispatcher.utter_message(response="utter_billing_payment_link", link=outcome["link"])
        return [SlotSet(PENDING_SLOT, None)]


class ActionBillingBalanceVerified(ActionBillingBalance):
    """The balance once the patient verified after asking (the rule's own action name).

    The rule that answers `/identity_provided` lists the slot reset after its action; a
    separate name keeps that from clashing with the rule for the first question.
    """

    def name(self) -> str:
        """Rasa action name."""
        return "action_billing_balance_verified"


def _ask_identity(dispatcher: CollectingDispatcher, channel: Channel, language: str) -> None:
    if channel is Channel.SMS:
        # The SMS channel words the date-of-birth question itself (one text, not two).
        dispatcher.utter_message(
            json_message={"type": "identity_request", "purpose": "verify", "channel": "sms"}
        )
    else:
        dispatcher.utter_message(response="utter_ask_identity_web")
        dispatcher.utter_message(
            json_message={
                "type": "identity_request",
                "purpose": "verify",
                "channel": "webchat",
                "reason": pick(language, IDENTITY_REASON),
            }
        )


class ActionBillingPayment(ContextAction):
    """Ways to pay, and the payment link (by text only with the patient's consent)."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_billing_payment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """Say how to pay; add the link where allowed."""

        def work(session: Session) -> tuple[str, str] | None:
            conversation = conversations.get_conversation(
                session=session, public_id=tracker.sender_id
            )
            if conversation is None:
                return None
            practice = session.get_one(Practice, conversation.practice_id)
            language = conversations.reply_language(session=session, conversation=conversation)
            methods = billing.payment_methods(session=session, practice=practice, language=language)
            patient_id = verified_patient_id(session, tracker.sender_id, self.context.clock())
            if conversation.channel is Channel.SMS and (
                patient_id is None
                or not billing.has_payment_link_consent(
                    session=session, practice_id=practice.id, patient_id=patient_id
                )
            ):
                return methods, ""  # billing texts need their own consent (not exempt)
            reference = None
            if patient_id is not None:
                reference = billing.balance_summary(
                    session=session, practice_id=practice.id, patient_id=patient_id
                ).reference
            links = self.context.payment_links
            link = billing.payment_link(
                session=session,
                practice=practice,
                reference=reference,
                default_template=links.template,
                base_url=links.base_url,
            )
            return methods, link

        outcome = await self.context.run(work)
        if outcome is None:
            dispatcher.utter_message(response="utter_billing_unavailable")
            return []
        methods, link = outcome
        dispatcher.utter_message(text=methods)
        if link:
            dispatcher.utter_message(response="utter_billing_payment_link", link=link)
        else:
            dispatcher.utter_message(response="utter_billing_link_needs_consent")
        return []


class ActionBillingDispute(ContextAction):
    """Quotes the practice's billing dispute policy, then the rule hands off to billing staff."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_billing_dispute"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """Quote the policy (when the knowledge base has one) and set the escalation reason."""

        def slug(session: Session) -> str | None:
            conversation = conversations.get_conversation(
                session=session, public_id=tracker.sender_id
            )
            if conversation is None:
                return None
            return session.get_one(Practice, conversation.practice_id).slug

        practice_slug = await self.context.run(slug)
        if practice_slug is not None:
            result = await self.context.answer(DISPUTE_QUESTION, practice_slug=practice_slug)
            if result.confident:
                dispatcher.utter_message(response="utter_billing_policy", policy=result.answer)
        return [SlotSet("escalation_reason", "billing_dispute")]


def billing_actions(context: ActionContext) -> list[ContextAction]:
    """Every billing action."""
    return [
        ActionBillingBalance(context),
        ActionBillingBalanceVerified(context),
        ActionBillingPayment(context),
        ActionBillingDispute(context),
    ]
