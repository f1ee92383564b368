"""The answers the booking and reschedule forms share: provider, time preference and slot.

Both forms ask the same three questions; each holds a `BookingAnswers` and hands those slots'
validation to it (rasa-sdk finds `validate_<slot>` methods on the form by name, so the forms
keep thin methods of those names that delegate here).
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import ActionContext
from actions.form_slots import ANY_PROVIDER, NONE_OF_THESE, OTHER_PROVIDER, WAITLIST
from actions.language import language_of
from actions.lookups import locate, title_for_key, visit_type_for
from actions.replies import (
    asks_for_other_provider,
    asks_for_waitlist,
    has_no_preference,
    pick_offered,
    rejects_all_offers,
)
from actions.task_switch import opening_text
from frontdesk.scheduling.matching import active_providers, match_provider
from frontdesk.scheduling.slots import is_slot_open, parse_slot_key
from frontdesk.scheduling.timeprefs import TimePreferenceError, parse_time_preference

DomainDict = dict[str, Any]


class BookingAnswers:
    """Checks a provider, time or slot answer against the practice's data and what was offered.

    Each method takes a form's `validate_<slot>` arguments and returns its slot updates.
    """

    def __init__(self, context: ActionContext) -> None:
        """Create the validation with its collaborators."""
        self.context = context

    async def provider_preference(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """Accept a provider id, a provider's name, or "no preference"."""
        value = str(slot_value or "").strip()

        def match(session: Session) -> str | None:
            where = locate(session, tracker.sender_id)
            providers = active_providers(session=session, practice_id=where.practice.id)
            if value.isdigit() and any(p.id == int(value) for p in providers):
                return value
            named = match_provider(session=session, practice_id=where.practice.id, text=value)
            if named is not None:
                return str(named.id)
            return ANY_PROVIDER if value == ANY_PROVIDER or has_no_preference(value) else None

        choice = await self.context.run(match)
        if choice is None:
            when = await self.time_preference(value, CollectingDispatcher(), tracker, domain)
            if when.get("time_preference"):
                # A day and time typed before the provider question was answered ("next tue
                # after 3"): keep it, and ask the provider question again without a "didn't
                # recognise that provider".
                return {"provider_preference": None, "time_preference": when["time_preference"]}
            dispatcher.utter_message(response="utter_provider_unknown")
        return {"provider_preference": choice}

    async def opening_time(self, tracker: Tracker, *, intent: str) -> dict[str, Any]:
        """The time preference named in the message that starts the task, if any.

        Only a text the time parser reads without complaint ("move me to friday", "book a
        physical next tue after 3") fills the slot; anything else leaves it for its question,
        which explains a problem (a past day, a day beyond the horizon) better than an
        opening reply could.
        """
        text = None if tracker.get_slot("time_preference") else opening_text(tracker, intent=intent)
        if text is None:
            return {}
        now = self.context.clock()

        def readable(session: Session) -> bool:
            where = locate(session, tracker.sender_id)
            try:
                parse_time_preference(text, now=now, tz=where.tz, language=where.language)
            except TimePreferenceError:
                return False
            return True

        return {"time_preference": text} if await self.context.run(readable) else {}

    async def time_preference(
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
            where = locate(session, tracker.sender_id)
            try:
                parse_time_preference(text, now=now, tz=where.tz, language=where.language)
            except TimePreferenceError as exc:
                return exc.reason
            return None

        problem = await self.context.run(check)
        if problem is not None:
            dispatcher.utter_message(response=f"utter_time_{problem}")
            return {"time_preference": None}
        return {"time_preference": text, "slot_choice": None, "offered_slots": None}

    async def slot_choice(
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
        if value.lower() == WAITLIST or asks_for_waitlist(value):
            # The waitlist keeps what the patient asked for; identity comes next.
            return {
                "slot_choice": WAITLIST,
                "time_preference": tracker.get_slot("time_preference") or "asap",
            }
        if value.lower() == OTHER_PROVIDER or asks_for_other_provider(value):
            return {"slot_choice": None, "provider_preference": None, "offered_slots": None}
        if value.lower() == NONE_OF_THESE or rejects_all_offers(value):
            if not offered:
                # Nothing was offered (no openings then): "here are other options" would be
                # followed by the same "no openings", so just ask for another day again.
                return {"slot_choice": None}
            # Next options for the same request; what was turned down is not offered again.
            dispatcher.utter_message(response="utter_none_of_these")
            turned_down = [*(tracker.get_slot("excluded_slots") or []), *offered]
            return {"slot_choice": None, "offered_slots": None, "excluded_slots": turned_down}
        language = language_of(tracker)  # the offered buttons' titles were in this language

        def choose(session: Session) -> dict[str, Any]:
            where = locate(session, tracker.sender_id)
            titles = {key: title_for_key(session, key, where.tz, language) for key in offered}
            key = pick_offered(value, offered, titles, where.tz, now, language=where.language)
            if key is None:
                try:
                    parse_time_preference(value, now=now, tz=where.tz, language=where.language)
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
