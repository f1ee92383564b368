"""The waitlist in conversation: joining it from a form, and answering an offer's buttons.

Offers themselves are sent by the service (`frontdesk.scheduling.waitlist_notices`); their
buttons carry an opaque offer token that these actions redeem for the verified patient.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import ActionContext, ContextAction
from actions.form_slots import BOOKING_SLOTS
from actions.formatting import clock_time, long_day, visit_name
from actions.language import language_of
from actions.lookups import locate, provider_id_of, visit_type_for
from frontdesk.scheduling.booking import SlotUnavailableError
from frontdesk.scheduling.timeprefs import TimePreferenceError, parse_time_preference
from frontdesk.scheduling.waitlist import (
    OfferGoneError,
    accept_waitlist_offer,
    decline_waitlist_offer,
    join_waitlist,
)

DomainDict = dict[str, Any]
# What a waitlist entry waits for when the patient's words named no time we could read.
FIRST_OPENING = {"en": "the first opening", "es": "la primera cita disponible"}


async def put_on_waitlist(
    context: ActionContext,
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    *,
    keep_current: bool,
) -> list[EventType]:
    """Put the identified patient on the waitlist with what they asked for; clear the form.

    `keep_current` says the patient is rescheduling: their current appointment stays booked.
    """
    now = context.clock()
    preference = str(tracker.get_slot("time_preference") or "asap")

    def join(session: Session) -> dict[str, str] | None:
        where = locate(session, tracker.sender_id)
        visit_type = visit_type_for(session, where, tracker)
        if where.patient is None or visit_type is None:
            return None
        try:
            described = parse_time_preference(
                preference, now=now, tz=where.tz, language=where.language
            ).describe(where.language)
        except TimePreferenceError:
            described = FIRST_OPENING.get(where.language, FIRST_OPENING["en"])
        join_waitlist(
            session=session,
            practice_id=where.practice.id,
            patient_id=where.patient.id,
            visit_type_id=visit_type.id,
            provider_id=provider_id_of(tracker.get_slot("provider_preference")),
            preference_text=preference,
            now=now,
            policy=context.waitlist,
            language=where.language,
        )
        return {"visit": visit_type.name_in(where.language), "preference": described}

    joined = await context.run(join)
    if joined is None:
        dispatcher.utter_message(response="utter_waitlist_failed")
    else:
        response = "utter_waitlist_joined_keep" if keep_current else "utter_waitlist_joined"
        dispatcher.utter_message(response=response, **joined)
    return [SlotSet(slot, None) for slot in BOOKING_SLOTS]


def _offer_token(tracker: Tracker) -> str | None:
    """The offer token a waitlist button carried (never typed: only offered payloads pass)."""
    return next(
        (
            str(e.get("value"))
            for e in tracker.latest_message.get("entities") or []
            if e.get("entity") == "offer_token" and e.get("value")
        ),
        None,
    )


class ActionAcceptWaitlistOffer(ContextAction):
    """Takes a waitlist offer from its button (`/accept_waitlist_offer{"offer_token":...}`)."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_accept_waitlist_offer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Book the offered time if it is still there; first to accept wins."""
        now = self.context.clock()
        token = _offer_token(tracker)
        language = language_of(tracker)

        def accept(session: Session) -> dict[str, str]:
            where = locate(session, tracker.sender_id)
            if token is None:
                return {"response": "utter_waitlist_offer_gone"}
            try:
                appointment = accept_waitlist_offer(
                    session=session,
                    offer_token=token,
                    patient_id=where.patient.id if where.patient else None,
                    now=now,
                )
            except (OfferGoneError, SlotUnavailableError):
                return {"response": "utter_waitlist_offer_gone"}
            local = appointment.start_at.astimezone(where.tz)
            return {
                "response": "utter_waitlist_offer_taken",
                "visit": visit_name(appointment, language),
                "provider": appointment.provider.display_name,
                "day": long_day(local, language),
                "time": clock_time(local, language),
                "location": f"{appointment.location.name}, {appointment.location.address}",
            }

        dispatcher.utter_message(**await self.context.run(accept))
        return []


class ActionDeclineWaitlistOffer(ContextAction):
    """Passes on a waitlist offer; the patient stays on the waitlist."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_decline_waitlist_offer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Decline (an offer already gone is fine: the answer is the same)."""
        now = self.context.clock()
        token = _offer_token(tracker)

        def decline(session: Session) -> None:
            where = locate(session, tracker.sender_id)
            if token is None:
                return
            try:
                decline_waitlist_offer(
                    session=session,
                    offer_token=token,
                    patient_id=where.patient.id if where.patient else None,
                    now=now,
                    policy=self.context.waitlist,
                )
            except OfferGoneError:
                return

        await self.context.run(decline)
        dispatcher.utter_message(response="utter_waitlist_offer_declined")
        return []


def waitlist_actions(context: ActionContext) -> list[Action]:
    """The waitlist offer actions, built with their collaborators."""
    return [ActionAcceptWaitlistOffer(context), ActionDeclineWaitlistOffer(context)]
