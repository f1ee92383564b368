"""Billing actions with rasa-sdk's CollectingDispatcher, the real domain, database and KB."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions import all_actions
from actions.billing import (
    ActionBillingBalance,
    ActionBillingBalanceVerified,
    ActionBillingDispute,
    ActionBillingPayment,
)
from frontdesk import texts
from frontdesk.billing import service as billing
from frontdesk.billing.models import BillingProfile
from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Channel, Conversation
from frontdesk.language import Language
from frontdesk.models import Patient, Practice
from tests.actions.conftest import context_at, make_tracker
from tests.actions.test_knowledge import DOMAIN_DIR
from tests.actions.test_knowledge import kb_home as kb_home  # fixture, used by name
from tests.conftest import NOW


@pytest.fixture(scope="module")
def domain() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for path in sorted(DOMAIN_DIR.glob("*.yml")):
        responses.update((yaml.safe_load(path.read_text()) or {}).get("responses") or {})
    return {"responses": responses}


def _patients(session: Session, practice: Practice) -> list[Patient]:
    return list(
        session.scalars(
            select(Patient).where(Patient.practice_id == practice.id).order_by(Patient.id)
        )
    )


def _conversation(
    session: Session, practice: Practice, *, patient: Patient | None, channel: Channel
) -> Conversation:
    convo, _ = conversations.start_conversation(session=session, practice=practice, channel=channel)
    if patient is not None:
        convo.patient_id = patient.id
        convo.identity_verified_at = NOW
        session.flush()
    return convo


def tracker(sender_id: str, intent: str) -> Tracker:
    return make_tracker(sender_id, intent=intent)


def run(
    action: type[Action], session: Session, domain: dict[str, Any], sender_id: str, intent: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(
        action(context_at(session, NOW)).run(dispatcher, tracker(sender_id, intent), domain)
    )
    return events, dispatcher.messages


def test_balance_needs_verification_first(
    session: Session, practice: Practice, domain: dict[str, Any]
) -> None:
    convo = _conversation(session, practice, patient=None, channel=Channel.WEBCHAT)
    events, messages = run(
        ActionBillingBalance, session, domain, convo.public_id, "billing_balance"
    )
    assert events == [SlotSet("billing_pending", "balance")]
    assert messages[0]["response"] == "utter_ask_identity_web"
    assert messages[1]["custom"]["type"] == "identity_request"
    assert not any("$" in str(m) for m in messages)


def test_verified_patient_hears_balance_statement_date_and_payment_link(
    session: Session, practice: Practice, domain: dict[str, Any]
) -> None:
    patient = _patients(session, practice)[0]
    convo = _conversation(session, practice, patient=patient, channel=Channel.WEBCHAT)
    events, messages = run(
        ActionBillingBalance, session, domain, convo.public_id, "billing_balance"
    )
    assert events == [SlotSet("billing_pending", None)]
    first, link = messages
    assert first["response"] == "utter_billing_balance"
    assert (first["balance"], first["statement_date"]) == ("$125.40", "November 1, 2026")
    assert link["response"] == "utter_billing_payment_link"
    assert link["link"].endswith(f"/pay/riverside?ref=acct_demo{patient.id}")


def test_balance_after_verifying_is_its_own_registered_action_that_clears_the_request(
    session: Session, practice: Practice, domain: dict[str, Any]
) -> None:
    # The /identity_provided rule writes out the reset of billing_pending under this name; a
    # rule that leaves its condition slot set predicts the fallback after the balance.
    patient = _patients(session, practice)[0]
    convo = _conversation(session, practice, patient=patient, channel=Channel.WEBCHAT)
    events, messages = run(
        ActionBillingBalanceVerified, session, domain, convo.public_id, "identity_provided"
    )
    assert events == [SlotSet("billing_pending", None)]
    assert messages[0]["response"] == "utter_billing_balance"
    names = {a.name() for a in all_actions(context_at(session, NOW))}
    assert "action_billing_balance_verified" in names
    declared: list[str] = []
    for path in sorted(DOMAIN_DIR.glob("*.yml")):
        declared.extend((yaml.safe_load(path.read_text()) or {}).get("actions") or [])
    assert "action_billing_balance_verified" in declared


def test_nothing_owed_means_no_payment_link(
    session: Session, practice: Practice, domain: dict[str, Any]
) -> None:
    patient = _patients(session, practice)[1]
    convo = _conversation(session, practice, patient=patient, channel=Channel.WEBCHAT)
    _, messages = run(ActionBillingBalance, session, domain, convo.public_id, "billing_balance")
    assert [m["response"] for m in messages] == ["utter_billing_no_balance"]


def test_payment_links_go_by_text_only_with_consent(
    session: Session, practice: Practice, domain: dict[str, Any]
) -> None:
    patient = _patients(session, practice)[0]
    convo = _conversation(session, practice, patient=patient, channel=Channel.SMS)
    _, messages = run(ActionBillingPayment, session, domain, convo.public_id, "billing_payment")
    assert [m.get("response") for m in messages] == [None, "utter_billing_link_needs_consent"]
    assert "pay" in messages[0]["text"]

    billing.record_payment_link_consent(
        session=session,
        practice_id=practice.id,
        patient_id=patient.id,
        conversation_id=convo.id,
        now=NOW,
    )
    _, messages = run(ActionBillingPayment, session, domain, convo.public_id, "billing_payment")
    assert messages[1]["response"] == "utter_billing_payment_link"
    assert messages[1]["link"].endswith(f"ref=acct_demo{patient.id}")


def test_web_chat_payment_gives_ways_to_pay_and_a_general_link(
    session: Session, practice: Practice, domain: dict[str, Any]
) -> None:
    convo = _conversation(session, practice, patient=None, channel=Channel.WEBCHAT)
    _, messages = run(ActionBillingPayment, session, domain, convo.public_id, "billing_payment")
    assert messages[0]["text"] == texts.text("billing.payment_methods", Language.EN)
    assert messages[1]["link"].endswith("/pay/riverside")


def test_ways_to_pay_are_told_in_spanish_to_a_patient_who_writes_spanish(
    session: Session, practice: Practice, domain: dict[str, Any]
) -> None:
    convo = _conversation(session, practice, patient=None, channel=Channel.WEBCHAT)
    convo.language = "es"
    session.flush()
    _, messages = run(ActionBillingPayment, session, domain, convo.public_id, "billing_payment")
    assert messages[0]["text"] == texts.text("billing.payment_methods", Language.ES)
    assert messages[0]["text"].startswith("Puede pagar en línea")
    # A practice that wrote its own wording and translated it: its Spanish words.
    practice.translations = {"es": {"payment_methods": "Aceptamos tarjetas y efectivo."}}
    billing_profile = session.scalar(
        select(BillingProfile).where(BillingProfile.practice_id == practice.id)
    )
    assert billing_profile is not None
    billing_profile.payment_methods = "We take cards and cash."
    session.flush()
    _, messages = run(ActionBillingPayment, session, domain, convo.public_id, "billing_payment")
    assert messages[0]["text"] == "Aceptamos tarjetas y efectivo."


@pytest.mark.usefixtures("kb_home")
def test_a_dispute_quotes_the_policy_and_sets_the_escalation_reason(
    session: Session, practice: Practice, domain: dict[str, Any]
) -> None:
    convo = _conversation(session, practice, patient=None, channel=Channel.WEBCHAT)
    events, messages = run(
        ActionBillingDispute, session, domain, convo.public_id, "billing_question"
    )
    assert events == [SlotSet("escalation_reason", "billing_dispute")]
    [policy] = messages
    assert policy["response"] == "utter_billing_policy"
    assert "60 days" in policy["policy"] or "dispute" in policy["policy"]
