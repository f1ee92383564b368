"""The `book_appointment` form: visit type, provider, time preference, slot, identity, book.

Actions stay thin: they read slots, call the scheduling and conversation services, and say
what happened. Nothing identifying (name, date of birth) ever passes through Rasa: identity is
collected by the widget's secure form and stored by the service, and actions only see whether
the conversation has been linked to a patient.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.booking_answers import BookingAnswers
from actions.context import ActionContext, ContextAction, inform_payload
from actions.form_slots import (
    ANY_PROVIDER,
    BOOKING_SLOTS,
    FORM,
    NONE_OF_THESE,
    OTHER_PROVIDER,
    WAITLIST,
)
from actions.formatting import clock_time, long_day, slot_title
from actions.language import language_of, pick
from actions.lookups import locate, provider_id_of, visit_type_for, visit_type_named
from actions.task_switch import YieldsToNewTasks, opening_text
from actions.waitlist import put_on_waitlist
from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Channel
from frontdesk.insights.models import InsightKind
from frontdesk.insights.recording import record_bot_act
from frontdesk.practices.wording import practice_text
from frontdesk.scheduling.booking import PatientBusyError, SlotUnavailableError, book_appointment
from frontdesk.scheduling.matching import active_providers, active_visit_types, match_provider
from frontdesk.scheduling.slots import find_open_slots, parse_slot_key
from frontdesk.scheduling.timeprefs import TimePreferenceError, parse_time_preference

INTENT = "book_appointment"  # the intent that opens the booking form

DomainDict = dict[str, Any]
# Titles of the buttons the actions add (payloads are the same in every language).
NO_PREFERENCE = {"en": "No preference", "es": "Cualquiera"}
ANOTHER_PROVIDER = {"en": "Another provider", "es": "Otro médico"}
JOIN_WAITLIST = {"en": "Join the waitlist", "es": "Lista de espera"}
NONE_OF_THESE_TITLE = {"en": "None of these", "es": "Ninguno de estos"}
UNPARSED_TIME = {"en": "that time", "es": "ese horario"}
IDENTITY_FORM_REASON = {
    "en": "Your name and date of birth, so we can find your record.",
    "es": "Su nombre y fecha de nacimiento, para encontrar su expediente.",
}


class ActionAskVisitType(ContextAction):
    """Offers the practice's visit types as buttons."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_ask_visit_type"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Ask which visit type the patient needs."""

        def load(session: Session) -> list[tuple[str, str]]:
            where = locate(session, tracker.sender_id)
            return [
                (v.name_in(where.language), v.code)
                for v in active_visit_types(session=session, practice_id=where.practice.id)
            ]

        options = await self.context.run(load)
        dispatcher.utter_message(
            response="utter_ask_visit_type",
            buttons=[
                {"title": title, "payload": inform_payload(visit_type=code)}
                for title, code in options
            ],
        )
        return []


class ActionAskProviderPreference(ContextAction):
    """Offers the practice's providers, plus "No preference"."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_ask_provider_preference"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Ask whether the patient wants a particular provider."""

        def load(session: Session) -> list[tuple[str, int]]:
            where = locate(session, tracker.sender_id)
            return [
                (p.display_name, p.id)
                for p in active_providers(session=session, practice_id=where.practice.id)
            ]

        providers = await self.context.run(load)
        buttons = [
            {"title": name, "payload": inform_payload(provider_preference=str(pid))}
            for name, pid in providers
        ]
        buttons.append(
            {
                "title": pick(language_of(tracker), NO_PREFERENCE),
                "payload": inform_payload(provider_preference=ANY_PROVIDER),
            }
        )
        dispatcher.utter_message(response="utter_ask_provider_preference", buttons=buttons)
        return []


class ActionAskSlotChoice(ContextAction):
    """Offers up to three open slots that match what the patient asked for."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_ask_slot_choice"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Find slots and offer them as buttons, or explain that there are none."""
        now = self.context.clock()
        turned_down = frozenset(tracker.get_slot("excluded_slots") or [])
        language = language_of(tracker)

        def load(session: Session) -> tuple[list[tuple[str, str]], str, ZoneInfo]:
            where = locate(session, tracker.sender_id)
            visit_type = visit_type_for(session, where, tracker)
            preference = parse_time_preference(
                tracker.get_slot("time_preference") or "asap",
                now=now,
                tz=where.tz,
                language=where.language,
            )
            if visit_type is None:
                return [], preference.describe(where.language), where.tz
            slots = find_open_slots(
                session=session,
                practice=where.practice,
                visit_type=visit_type,
                preference=preference,
                now=now,
                provider_id=provider_id_of(tracker.get_slot("provider_preference")),
                exclude=turned_down,
            )
            return (
                [(slot_title(s, where.tz, language), s.key) for s in slots],
                preference.describe(where.language),
                where.tz,
            )

        try:
            offers, described, _tz = await self.context.run(load)
        except TimePreferenceError:
            offers, described = [], pick(language, UNPARSED_TIME)
        # Once the patient has turned offers down, say what else they can do.
        way_out = [
            {
                "title": pick(language, ANOTHER_PROVIDER),
                "payload": inform_payload(slot_choice=OTHER_PROVIDER),
            },
            {
                "title": pick(language, JOIN_WAITLIST),
                "payload": inform_payload(slot_choice=WAITLIST),
            },
        ]
        if not offers:
            # The time preference stays: a new day or time typed now is taken as a correction,
            # and the waitlist keeps what the patient asked for.
            dispatcher.utter_message(
                response="utter_no_more_slots" if turned_down else "utter_no_slots",
                when=described,
                buttons=way_out,
            )
            return [SlotSet("offered_slots", None)]
        buttons = [
            {"title": title, "payload": inform_payload(slot_choice=key)} for title, key in offers
        ]
        buttons.append(
            {
                "title": pick(language, NONE_OF_THESE_TITLE),
                "payload": inform_payload(slot_choice=NONE_OF_THESE),
            }
        )
        if turned_down:
            buttons.extend(way_out)
        dispatcher.utter_message(response="utter_offer_slots", when=described, buttons=buttons)
        return [SlotSet("offered_slots", [key for _, key in offers])]


class ActionAskPatientVerified(ContextAction):
    """Asks for identity through the channel's secure path (details never pass through Rasa).

    Web chat shows its secure form (name + date of birth; new patients are registered). By SMS
    the service reads the date of birth reply itself and checks it with the number on file.
    """

    def name(self) -> str:
        """Rasa action name."""
        return "action_ask_patient_verified"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Request identity through the channel's secure path."""

        def channel(session: Session) -> Channel:
            conversation = conversations.get_conversation(
                session=session, public_id=tracker.sender_id
            )
            if conversation is None:
                raise LookupError("conversation not found")
            return conversation.channel

        if await self.context.run(channel) is Channel.SMS:
            # The SMS channel words the date-of-birth question itself (one text, not two).
            request = {"type": "identity_request", "purpose": "book", "channel": "sms"}
        else:
            dispatcher.utter_message(response="utter_ask_patient_verified")
            request = {
                "type": "identity_request",
                "purpose": "book",
                "reason": pick(language_of(tracker), IDENTITY_FORM_REASON),
            }
        dispatcher.utter_message(json_message=request)
        return []


class ValidateBookAppointmentForm(YieldsToNewTasks):
    """Validates each answer of the booking form against the practice's data."""

    def __init__(self, context: ActionContext) -> None:
        """Create the validator with its collaborators."""
        self.context = context
        self.answers = BookingAnswers(context)

    def name(self) -> str:
        """Rasa action name."""
        return "validate_book_appointment_form"

    async def extract_patient_verified(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Filled once the service has linked this conversation to a patient record."""

        def linked(session: Session) -> bool:
            return locate(session, tracker.sender_id).patient is not None

        return {"patient_verified": True} if await self.context.run(linked) else {}

    async def validate_patient_verified(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """Only the service's record of a linked patient counts, never a slot value alone."""

        def linked(session: Session) -> bool:
            return locate(session, tracker.sender_id).patient is not None

        verified = slot_value is True and await self.context.run(linked)
        return {"patient_verified": True if verified else None}

    async def extract_visit_type(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A visit type named in the message that starts the booking ("book a physical").

        No NLU entity extractor runs, so without this the patient who said what they need is
        asked again. Only on the opening message (nothing requested yet) and only for a
        whole-word match; anything else leaves the slot for its question.
        """
        text = None if tracker.get_slot("visit_type") else opening_text(tracker, intent=INTENT)
        if text is None:
            return {}

        def match(session: Session) -> str | None:
            where = locate(session, tracker.sender_id)
            found = visit_type_named(session, where.practice.id, text)
            return found.code if found else None

        code = await self.context.run(match)
        return {"visit_type": code} if code else {}

    async def extract_provider_preference(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A provider named in the opening message ("a physical with Dr. Patel friday").

        Only on the opening message, like the visit type; later answers go to the provider
        question, which also accepts "no preference".
        """
        text = (
            None
            if tracker.get_slot("provider_preference")
            else opening_text(tracker, intent=INTENT)
        )
        if text is None:
            return {}

        def match(session: Session) -> str | None:
            where = locate(session, tracker.sender_id)
            found = match_provider(session=session, practice_id=where.practice.id, text=text)
            return str(found.id) if found else None

        provider = await self.context.run(match)
        return {"provider_preference": provider} if provider else {}

    async def extract_time_preference(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A day or time named in the opening message ("book a physical next tue after 3")."""
        return await self.answers.opening_time(tracker, intent=INTENT)

    async def validate_visit_type(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """Map a button code or free text ("a physical") to a visit type."""

        def match(session: Session) -> str | None:
            where = locate(session, tracker.sender_id)
            found = visit_type_named(session, where.practice.id, str(slot_value))
            return found.code if found else None

        code = await self.context.run(match) if isinstance(slot_value, str) else None
        if code is None:
            dispatcher.utter_message(response="utter_visit_type_unknown")
        return {"visit_type": code}

    async def validate_provider_preference(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """Accept a provider id, a provider's name, or "no preference"."""
        return await self.answers.provider_preference(slot_value, dispatcher, tracker, domain)

    async def validate_time_preference(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """Parse free text ("next tue after 3") in the practice's time zone."""
        return await self.answers.time_preference(slot_value, dispatcher, tracker, domain)

    async def validate_slot_choice(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """Accept an offered slot (button, "the first one", "3pm") or a new time preference."""
        return await self.answers.slot_choice(slot_value, dispatcher, tracker, domain)


class ActionBookAppointment(ContextAction):
    """Books the chosen slot for the verified patient and confirms the details."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_book_appointment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Book, confirm with date, time, provider and location, and clear the form."""
        key = tracker.get_slot("slot_choice")
        now = self.context.clock()
        if key == WAITLIST:
            return await put_on_waitlist(self.context, dispatcher, tracker, keep_current=False)
        language = language_of(tracker)

        def book(session: Session) -> dict[str, str] | None:
            where = locate(session, tracker.sender_id)
            visit_type = visit_type_named(
                session, where.practice.id, tracker.get_slot("visit_type")
            )
            if where.patient is None or visit_type is None or not key:
                return None
            provider_id, start = parse_slot_key(key)
            try:
                appointment = book_appointment(
                    session=session,
                    practice=where.practice,
                    patient=where.patient,
                    visit_type=visit_type,
                    provider_id=provider_id,
                    start=start,
                    now=now,
                    source="webchat",
                )
            except PatientBusyError:
                return {"problem": "utter_patient_busy"}
            except SlotUnavailableError:
                return {"problem": "utter_slot_taken"}
            record_bot_act(
                session=session,
                public_id=tracker.sender_id,
                kind=InsightKind.BOT_BOOKED,
                at=now,
                appointment_id=appointment.id,
            )
            local = appointment.start_at.astimezone(where.tz)
            return {
                "visit": visit_type.name_in(language),
                "day": long_day(local, language),
                "time": clock_time(local, language),
                "provider": appointment.provider.display_name,
                "location": f"{appointment.location.name}, {appointment.location.address}",
                "policy": practice_text(
                    where.practice,
                    "cancellation_policy",
                    language,
                    where.practice.cancellation_policy,
                )
                or "",
            }

        booked = await self.context.run(book)
        if booked is None:
            dispatcher.utter_message(response="utter_booking_failed")
            return [SlotSet(slot, None) for slot in BOOKING_SLOTS]
        if "problem" in booked:
            dispatcher.utter_message(response=booked["problem"])
            return [
                SlotSet("slot_choice", None),
                SlotSet("offered_slots", None),
                FollowupAction(FORM),
            ]
        dispatcher.utter_message(response="utter_booked", **booked)
        return [SlotSet(slot, None) for slot in BOOKING_SLOTS]


class ActionResetBooking(Action):
    """Forgets a half-finished booking, so the next one starts from scratch."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_reset_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Clear every booking slot."""
        return [SlotSet(slot, None) for slot in BOOKING_SLOTS]


def booking_actions(context: ActionContext) -> list[Action]:
    """Every booking action, built with its collaborators."""
    return [
        ActionAskVisitType(context),
        ActionAskProviderPreference(context),
        ActionAskSlotChoice(context),
        ActionAskPatientVerified(context),
        ValidateBookAppointmentForm(context),
        ActionBookAppointment(context),
        ActionResetBooking(),
    ]
