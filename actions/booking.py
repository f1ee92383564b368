"""The `book_appointment` form: visit type, provider, time preference, slot, identity, book.

Actions stay thin: they read slots, call the scheduling and conversation services, and say
what happened. Nothing identifying (name, date of birth) ever passes through Rasa: identity is
collected by the widget's secure form and stored by the service, and actions only see whether
the conversation has been linked to a patient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import ActionContext, ContextAction, inform_payload
from actions.formatting import clock_time, long_day, slot_label, slot_title
from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Channel
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Practice, Provider
from frontdesk.scheduling import waitlist
from frontdesk.scheduling.booking import PatientBusyError, SlotUnavailableError, book_appointment
from frontdesk.scheduling.matching import (
    active_providers,
    active_visit_types,
    match_provider,
    match_visit_type,
)
from frontdesk.scheduling.models import Appointment, VisitType
from frontdesk.scheduling.slots import find_open_slots, is_slot_open, parse_slot_key
from frontdesk.scheduling.timeprefs import (
    TimePreference,
    TimePreferenceError,
    parse_time_preference,
)

FORM = "book_appointment_form"
ANY_PROVIDER = "any"
NONE_OF_THESE = "none"
# `slot_choice` values that are not a slot: the patient chose the waitlist or another provider.
WAITLIST = "waitlist"
OTHER_PROVIDER = "other_provider"
FORM_SLOTS = ("visit_type", "provider_preference", "time_preference", "slot_choice")
# Slots of the reschedule/cancel/check/confirm forms (`appointment_ref` is the reminders' slot).
MANAGE_SLOTS = ("identity_verified", "appointment_ref", "change_confirmed")
# Everything a booking or a change leaves behind; cleared when it ends, however it ends.
BOOKING_SLOTS = (*FORM_SLOTS, "offered_slots", "excluded_slots", *MANAGE_SLOTS)
DomainDict = dict[str, Any]

_ORDINALS = {
    "1": 0, "first": 0, "one": 0, "1st": 0,
    "2": 1, "second": 1, "two": 1, "2nd": 1, "middle": 1,
    "3": 2, "third": 2, "three": 2, "3rd": 2,
}  # fmt: skip
_POSITION_REPLY = re.compile(
    r"(?:the |option |number |no\.? |#)?(\w+)(?: (?:one|option|slot|time|works|please|pls))*"
)
_NONE_OF_THESE = re.compile(
    r"(none|nothing|neither|no good|not? (one of )?(these|those|them))\b.*"
    r"|(these|those|they|that) (don'?t|do not|won'?t) work.*",
    re.IGNORECASE,
)
_WAITLIST = re.compile(r"\bwait\s*-?\s*list\b|\bwaiting list\b", re.IGNORECASE)
_OTHER_PROVIDER = re.compile(
    r"\b(another|different|other|else|new)\b.*\b(provider|doctor|dr|physician|someone)\b"
    r"|\bsomeone else\b",
    re.IGNORECASE,
)
_NO_PREFERENCE = re.compile(
    r"\b(no pref\w*|any(one|body| one| provider| doctor)?|whoever|doesn'?t matter|"
    r"don'?t care|either|no one in particular|first available|not really|nope|no)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Where:
    """The practice behind a conversation, loaded for one action call."""

    practice: Practice
    tz: ZoneInfo
    patient: Patient | None


def _where(session: Session, sender_id: str) -> _Where:
    conversation = conversations.get_conversation(session=session, public_id=sender_id)
    if conversation is None:
        raise LookupError("conversation not found")
    practice = session.get_one(Practice, conversation.practice_id)
    patient = session.get(Patient, conversation.patient_id) if conversation.patient_id else None
    return _Where(practice=practice, tz=ZoneInfo(practice.timezone), patient=patient)


def _visit_type(session: Session, practice_id: int, code: str | None) -> VisitType | None:
    if not code:
        return None
    return match_visit_type(session=session, practice_id=practice_id, text=code)


def visit_type_for(session: Session, where: _Where, tracker: Tracker) -> VisitType | None:
    """The visit type being booked, or that of the appointment being rescheduled."""
    found = _visit_type(session, where.practice.id, tracker.get_slot("visit_type"))
    if found is not None or where.patient is None:
        return found
    appointment_id = parse_appointment_ref(tracker.get_slot("appointment_ref"))
    appointment = session.get(Appointment, appointment_id) if appointment_id else None
    if appointment is None or appointment.patient_id != where.patient.id:
        return None
    return session.get(VisitType, appointment.visit_type_id)


def appointment_ref(appointment_id: int) -> str:
    """The opaque reference buttons and reminders carry for an appointment: `a_<id>`."""
    return f"a_{appointment_id}"


def parse_appointment_ref(value: Any) -> int | None:
    """Inverse of `appointment_ref`; None for anything else (including "none")."""
    match = re.fullmatch(r"a_(\d{1,12})", value.strip()) if isinstance(value, str) else None
    return int(match.group(1)) if match else None


def _title_for_key(session: Session, key: str, tz: ZoneInfo) -> str:
    """The button title an offered slot was shown with."""
    provider_id, start = parse_slot_key(key)
    provider = session.get(Provider, provider_id)
    return slot_label(start, provider.display_name if provider else "", tz)


def _provider_id(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


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
            where = _where(session, tracker.sender_id)
            return [
                (v.name, v.code)
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
            where = _where(session, tracker.sender_id)
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
                "title": "No preference",
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

        def load(session: Session) -> tuple[list[tuple[str, str]], str, ZoneInfo]:
            where = _where(session, tracker.sender_id)
            visit_type = visit_type_for(session, where, tracker)
            preference = parse_time_preference(
                tracker.get_slot("time_preference") or "asap", now=now, tz=where.tz
            )
            if visit_type is None:
                return [], preference.describe(), where.tz
            slots = find_open_slots(
                session=session,
                practice=where.practice,
                visit_type=visit_type,
                preference=preference,
                now=now,
                provider_id=_provider_id(tracker.get_slot("provider_preference")),
                exclude=turned_down,
            )
            return (
                [(slot_title(s, where.tz), s.key) for s in slots],
                preference.describe(),
                where.tz,
            )

        try:
            offers, described, _tz = await self.context.run(load)
        except TimePreferenceError:
            offers, described = [], "that time"
        # Once the patient has turned offers down, say what else they can do.
        way_out = [
            {"title": "Another provider", "payload": inform_payload(slot_choice=OTHER_PROVIDER)},
            {"title": "Join the waitlist", "payload": inform_payload(slot_choice=WAITLIST)},
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
            {"title": "None of these", "payload": inform_payload(slot_choice=NONE_OF_THESE)}
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
                "reason": "Your name and date of birth, so we can find your record.",
            }
        dispatcher.utter_message(json_message=request)
        return []


class ValidateBookAppointmentForm(FormValidationAction):
    """Validates each answer of the booking form against the practice's data."""

    def __init__(self, context: ActionContext) -> None:
        """Create the validator with its collaborators."""
        self.context = context

    def name(self) -> str:
        """Rasa action name."""
        return "validate_book_appointment_form"

    async def extract_patient_verified(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Filled once the service has linked this conversation to a patient record."""

        def linked(session: Session) -> bool:
            return _where(session, tracker.sender_id).patient is not None

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
            return _where(session, tracker.sender_id).patient is not None

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
        if tracker.get_slot("visit_type") or tracker.get_slot("requested_slot"):
            return {}
        if (tracker.latest_message.get("intent") or {}).get("name") != "book_appointment":
            return {}
        text = tracker.latest_message.get("text")
        if not isinstance(text, str) or not text or text.startswith("/"):
            return {}

        def match(session: Session) -> str | None:
            where = _where(session, tracker.sender_id)
            found = _visit_type(session, where.practice.id, text)
            return found.code if found else None

        code = await self.context.run(match)
        return {"visit_type": code} if code else {}

    async def validate_visit_type(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """Map a button code or free text ("a physical") to a visit type."""

        def match(session: Session) -> str | None:
            where = _where(session, tracker.sender_id)
            found = _visit_type(session, where.practice.id, str(slot_value))
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
        value = str(slot_value or "").strip()

        def match(session: Session) -> str | None:
            where = _where(session, tracker.sender_id)
            providers = active_providers(session=session, practice_id=where.practice.id)
            if value.isdigit() and any(p.id == int(value) for p in providers):
                return value
            named = match_provider(session=session, practice_id=where.practice.id, text=value)
            if named is not None:
                return str(named.id)
            return ANY_PROVIDER if value == ANY_PROVIDER or _NO_PREFERENCE.search(value) else None

        choice = await self.context.run(match)
        if choice is None:
            when = await self.validate_time_preference(
                value, CollectingDispatcher(), tracker, domain
            )
            if when.get("time_preference"):
                # A day and time typed before the provider question was answered ("next tue
                # after 3"): keep it, and ask the provider question again without a "didn't
                # recognise that provider".
                return {"provider_preference": None, "time_preference": when["time_preference"]}
            dispatcher.utter_message(response="utter_provider_unknown")
        return {"provider_preference": choice}

    async def validate_time_preference(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """Parse free text ("next tue after 3") in the practice's time zone."""
        text = str(slot_value or "")
        now = self.context.clock()

        def check(session: Session) -> str | None:
            where = _where(session, tracker.sender_id)
            try:
                parse_time_preference(text, now=now, tz=where.tz)
            except TimePreferenceError as exc:
                return exc.reason
            return None

        problem = await self.context.run(check)
        if problem is not None:
            dispatcher.utter_message(response=f"utter_time_{problem}")
            return {"time_preference": None}
        return {"time_preference": text, "slot_choice": None, "offered_slots": None}

    async def validate_slot_choice(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """Accept an offered slot (button, "the first one", "3pm") or a new time preference."""
        value = str(slot_value or "").strip()
        offered: list[str] = list(tracker.get_slot("offered_slots") or [])
        now = self.context.clock()
        if value.lower() == WAITLIST or _WAITLIST.search(value):
            # The waitlist keeps what the patient asked for; identity comes next.
            return {
                "slot_choice": WAITLIST,
                "time_preference": tracker.get_slot("time_preference") or "asap",
            }
        if value.lower() == OTHER_PROVIDER or _OTHER_PROVIDER.search(value):
            return {"slot_choice": None, "provider_preference": None, "offered_slots": None}
        if value.lower() == NONE_OF_THESE or _NONE_OF_THESE.fullmatch(value):
            if not offered:
                # Nothing was offered (no openings then): "here are other options" would be
                # followed by the same "no openings", so just ask for another day again.
                return {"slot_choice": None}
            # Next options for the same request; what was turned down is not offered again.
            dispatcher.utter_message(response="utter_none_of_these")
            turned_down = [*(tracker.get_slot("excluded_slots") or []), *offered]
            return {"slot_choice": None, "offered_slots": None, "excluded_slots": turned_down}

        def choose(session: Session) -> dict[str, Any]:
            where = _where(session, tracker.sender_id)
            titles = {key: _title_for_key(session, key, where.tz) for key in offered}
            key = _pick_offered(value, offered, titles, where.tz, now)
            if key is None:
                try:
                    parse_time_preference(value, now=now, tz=where.tz)
                except TimePreferenceError:
                    return {"reply": "utter_slot_choice_unclear"}
                # A correction ("actually thursday"): look again with the new preference.
                return {"slot_choice": None, "time_preference": value, "offered_slots": None}
            visit_type = visit_type_for(session, where, tracker)
            provider_id, start = parse_slot_key(key)
            if visit_type is None or not is_slot_open(
                session=session,
                practice=where.practice,
                visit_type=visit_type,
                provider_id=provider_id,
                start=start,
                now=now,
            ):
                return {"reply": "utter_slot_taken", "slot_choice": None, "offered_slots": None}
            return {"slot_choice": key}

        outcome = await self.context.run(choose)
        reply = outcome.pop("reply", None)
        if reply:
            dispatcher.utter_message(response=reply)
        outcome.setdefault("slot_choice", None)
        return outcome


def _position(text: str, count: int) -> int | None:
    """The offer a whole reply points at by position ("first", "the 2nd one", "last")."""
    match = _POSITION_REPLY.fullmatch(text)
    if match is None:
        return None
    word = match.group(1)
    index = count - 1 if word == "last" else _ORDINALS.get(word)
    return index if index is not None and 0 <= index < count else None


def _pick_offered(
    value: str, offered: list[str], titles: dict[str, str], tz: ZoneInfo, now: datetime
) -> str | None:
    """Which offered slot a reply means, or None when it is not clearly one of them.

    In order: the slot key (a button), a button's title typed or sent back as text, a bare
    hour that one offer starts at ("3" is 3:00 PM: offers are not numbered on screen), a
    whole-reply position ("the second one"), then a day and/or time that only one offer has
    ("the one at 4", "Thursday Dec 3 at 4pm").
    """
    if value in offered:
        return value
    text = " ".join(value.lower().split()).strip(" .!?")
    for key in offered:
        if text == titles.get(key, "").lower():
            return key
    starts = {key: parse_slot_key(key)[1].astimezone(tz) for key in offered}
    if text.isdigit():
        hour = int(text)
        on_the_hour = [k for k, t in starts.items() if t.minute == 0 and t.hour % 12 == hour % 12]
        if on_the_hour:
            return on_the_hour[0]
    position = _position(text, len(offered))
    if position is not None:
        return offered[position]
    try:
        preference = parse_time_preference(value, now=now, tz=tz)
    except TimePreferenceError:
        return None
    matching = [
        key
        for key, start in starts.items()
        if start.date() in preference.days
        and (preference.exact is None or start.time() == preference.exact)
        and (preference.exact is not None or _in_window(start, preference))
    ]
    same_time = {starts[k] for k in matching}
    # Two providers at the very time asked for is still one answer; anything vaguer is not.
    return matching[0] if matching and len(same_time) == 1 else None


def _in_window(start: datetime, preference: TimePreference) -> bool:
    wall = start.time()
    after_start = preference.earliest is None or wall >= preference.earliest
    before_end = preference.latest is None or wall < preference.latest
    return after_start and before_end


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
            return await join_waitlist(self.context, dispatcher, tracker, keep_current=False)

        def book(session: Session) -> dict[str, str] | None:
            where = _where(session, tracker.sender_id)
            visit_type = _visit_type(session, where.practice.id, tracker.get_slot("visit_type"))
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
            local = appointment.start_at.astimezone(where.tz)
            return {
                "visit": visit_type.name,
                "day": long_day(local),
                "time": clock_time(local),
                "provider": appointment.provider.display_name,
                "location": f"{appointment.location.name}, {appointment.location.address}",
                "policy": where.practice.cancellation_policy or "",
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


async def join_waitlist(
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
        where = _where(session, tracker.sender_id)
        visit_type = visit_type_for(session, where, tracker)
        if where.patient is None or visit_type is None:
            return None
        try:
            described = parse_time_preference(preference, now=now, tz=where.tz).describe()
        except TimePreferenceError:
            described = "the first opening"
        waitlist.join_waitlist(
            session=session,
            practice_id=where.practice.id,
            patient_id=where.patient.id,
            visit_type_id=visit_type.id,
            provider_id=_provider_id(tracker.get_slot("provider_preference")),
            preference_text=preference,
            now=now,
            policy=context.waitlist,
        )
        return {"visit": visit_type.name, "preference": described}

    joined = await context.run(join)
    if joined is None:
        dispatcher.utter_message(response="utter_waitlist_failed")
    else:
        response = "utter_waitlist_joined_keep" if keep_current else "utter_waitlist_joined"
        dispatcher.utter_message(response=response, **joined)
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
