"""Existing appointments: list them, say the policy, and cancel, reschedule or confirm.

Each action re-checks that the appointment belongs to the verified patient before it shows
or changes anything. The cancellation policy (`cancellation_notice`) is told before the
patient says yes. The forms that gather these answers are validated in
`actions.appointment_forms`.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import ActionContext, ContextAction, inform_payload
from actions.form_slots import BOOKING_SLOTS, NO_APPOINTMENT, WAITLIST
from actions.formatting import clock_time, describe_appointment, long_day, visit_name
from actions.identity import verified_patient_id
from actions.language import language_of, pick
from actions.lookups import linked_patient_id, locate, own_upcoming, title_for_key
from actions.waitlist import put_on_waitlist
from frontdesk.insights.models import InsightKind
from frontdesk.insights.recording import record_bot_act
from frontdesk.language import Language
from frontdesk.reminders.messages import appointment_ref
from frontdesk.scheduling.booking import (
    AppointmentNotChangeableError,
    AppointmentNotFoundError,
    SlotUnavailableError,
    cancel_appointment,
    cancellation_notice,
    confirm_appointment,
    reschedule_appointment,
    upcoming_appointments,
)

DomainDict = dict[str, Any]
RESET = [SlotSet(slot, None) for slot in BOOKING_SLOTS]
MOVE_BUTTONS = {
    "en": ("Yes, move it", "No, keep my current time"),
    "es": ("Sí, cámbiela", "No, déjela como está"),
}
CANCEL_BUTTONS = {"en": ("Yes, cancel it", "No, keep it"), "es": ("Sí, cancélela", "No, déjela")}
LATE_CANCELLATION = {
    "en": "This counts as a late cancellation.",
    "es": "Esta cuenta como cancelación tardía.",
}


class ActionAskAppointmentRef(ContextAction):
    """Offers the verified patient's upcoming appointments as buttons."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_ask_appointment_ref"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """List what is coming up (never for an unverified conversation)."""
        now = self.context.clock()
        language = language_of(tracker)

        def load(session: Session) -> list[tuple[str, str]]:
            where = locate(session, tracker.sender_id)
            patient_id = verified_patient_id(session, tracker.sender_id, now)
            if patient_id is None:
                return []
            return [
                (describe_appointment(a, where.tz, language), appointment_ref(a.id))
                for a in upcoming_appointments(session=session, patient_id=patient_id, now=now)[:5]
            ]

        options = await self.context.run(load)
        dispatcher.utter_message(
            response="utter_ask_appointment_ref",
            buttons=[
                {"title": title, "payload": inform_payload(appointment_ref=ref)}
                for title, ref in options
            ],
        )
        return []


class ActionAskChangeConfirmed(ContextAction):
    """Tells the cancellation policy, then asks yes/no to cancel or to move the appointment."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_ask_change_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Say what will happen and what it may cost, with yes/no buttons."""
        now = self.context.clock()
        rescheduling = tracker.active_loop_name == "reschedule_appointment_form"
        ref = tracker.get_slot("appointment_ref")
        key = tracker.get_slot("slot_choice")
        language = language_of(tracker)

        def load(session: Session) -> dict[str, str] | None:
            where = locate(session, tracker.sender_id)
            patient_id = verified_patient_id(session, tracker.sender_id, now)
            appointment = own_upcoming(session, patient_id, ref, now)
            if appointment is None:
                return None
            details = {
                "appointment": describe_appointment(appointment, where.tz, language),
                "notice": cancellation_notice(
                    session=session, appointment=appointment, now=now, language=Language(language)
                ),
            }
            if rescheduling and isinstance(key, str):
                details["new_time"] = title_for_key(session, key, where.tz, language)
            return details

        details = await self.context.run(load)
        if details is None:
            dispatcher.utter_message(response="utter_appointment_not_found")
            return [SlotSet("appointment_ref", None)]
        yes, no = pick(language, MOVE_BUTTONS if rescheduling else CANCEL_BUTTONS)
        buttons = [{"title": yes, "payload": "/affirm"}, {"title": no, "payload": "/deny"}]
        response = (
            "utter_ask_reschedule_confirmed" if rescheduling else "utter_ask_cancel_confirmed"
        )
        dispatcher.utter_message(response=response, buttons=buttons, **details)
        return []


class ActionCancelAppointment(ContextAction):
    """Cancels the chosen appointment once the patient said yes after hearing the policy."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_cancel_appointment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Cancel (re-checking ownership), say the outcome and clear the form."""
        now = self.context.clock()
        ref = tracker.get_slot("appointment_ref")
        if ref == NO_APPOINTMENT:
            dispatcher.utter_message(response="utter_no_upcoming_appointments")
            return RESET
        if tracker.get_slot("change_confirmed") is not True:
            dispatcher.utter_message(response="utter_change_declined")
            return RESET
        language = language_of(tracker)

        def cancel(session: Session) -> dict[str, str]:
            where = locate(session, tracker.sender_id)
            patient_id = verified_patient_id(session, tracker.sender_id, now)
            appointment = own_upcoming(session, patient_id, ref, now)
            if appointment is None:
                return {"response": "utter_appointment_not_found"}
            described = describe_appointment(appointment, where.tz, language)
            try:
                outcome = cancel_appointment(
                    session=session,
                    appointment_id=appointment.id,
                    patient_id=patient_id,
                    now=now,
                    waitlist_policy=self.context.waitlist,
                )
            except AppointmentNotFoundError:
                return {"response": "utter_appointment_not_found"}
            except AppointmentNotChangeableError:
                return {"response": "utter_appointment_not_changeable"}
            record_bot_act(
                session=session,
                public_id=tracker.sender_id,
                kind=InsightKind.BOT_CANCELLED,
                at=now,
                appointment_id=appointment.id,
            )
            fee_note = pick(language, LATE_CANCELLATION) if outcome.late else ""
            return {"response": "utter_cancelled", "appointment": described, "fee_note": fee_note}

        said = await self.context.run(cancel)
        dispatcher.utter_message(**said)
        return RESET


class ActionRescheduleAppointment(ContextAction):
    """Moves the appointment to the chosen slot (atomically), or joins the waitlist."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_reschedule_appointment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Reschedule, or explain why not; a slot taken meanwhile sends the form back."""
        now = self.context.clock()
        ref = tracker.get_slot("appointment_ref")
        key = tracker.get_slot("slot_choice")
        if ref == NO_APPOINTMENT:
            dispatcher.utter_message(response="utter_no_upcoming_appointments")
            return RESET
        if key == WAITLIST:
            return await put_on_waitlist(self.context, dispatcher, tracker, keep_current=True)
        if tracker.get_slot("change_confirmed") is not True or not isinstance(key, str):
            dispatcher.utter_message(response="utter_change_declined")
            return RESET
        language = language_of(tracker)

        def move(session: Session) -> dict[str, str]:
            where = locate(session, tracker.sender_id)
            patient_id = verified_patient_id(session, tracker.sender_id, now)
            appointment = own_upcoming(session, patient_id, ref, now)
            if appointment is None or patient_id is None:
                return {"response": "utter_appointment_not_found"}
            try:
                moved = reschedule_appointment(
                    session=session,
                    appointment_id=appointment.id,
                    patient_id=patient_id,
                    slot_key=key,
                    now=now,
                    waitlist_policy=self.context.waitlist,
                )
            except AppointmentNotFoundError:
                return {"response": "utter_appointment_not_found"}
            except AppointmentNotChangeableError:
                return {"response": "utter_appointment_not_changeable"}
            except SlotUnavailableError:
                return {"response": "utter_slot_taken", "retry": "yes"}
            record_bot_act(
                session=session,
                public_id=tracker.sender_id,
                kind=InsightKind.BOT_RESCHEDULED,
                at=now,
                appointment_id=moved.id,
            )
            local = moved.start_at.astimezone(where.tz)
            return {
                "response": "utter_rescheduled",
                "visit": visit_name(moved, language),
                "day": long_day(local, language),
                "time": clock_time(local, language),
                "provider": moved.provider.display_name,
                "location": f"{moved.location.name}, {moved.location.address}",
            }

        said = await self.context.run(move)
        if said.pop("retry", None):
            dispatcher.utter_message(**said)
            return [
                SlotSet("slot_choice", None),
                SlotSet("offered_slots", None),
                SlotSet("change_confirmed", None),
                FollowupAction("reschedule_appointment_form"),
            ]
        dispatcher.utter_message(**said)
        return RESET


class ActionCheckAppointments(ContextAction):
    """Lists the verified patient's upcoming appointments."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_check_appointments"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Show date, time, provider and place of each upcoming visit (verified only)."""
        now = self.context.clock()
        language = language_of(tracker)

        def load(session: Session) -> list[str] | None:
            where = locate(session, tracker.sender_id)
            patient_id = verified_patient_id(session, tracker.sender_id, now)
            if patient_id is None:
                return None
            return [
                f"• {describe_appointment(a, where.tz, language)}, {a.location.name}"
                for a in upcoming_appointments(session=session, patient_id=patient_id, now=now)
            ]

        lines = await self.context.run(load)
        if lines is None:
            dispatcher.utter_message(response="utter_identity_failed")
        elif not lines:
            dispatcher.utter_message(response="utter_no_upcoming_appointments")
        else:
            dispatcher.utter_message(
                response="utter_upcoming_appointments", appointments="\n".join(lines)
            )
        return RESET


class ActionConfirmAppointment(ContextAction):
    """Records the patient's confirmation of an upcoming appointment."""

    def name(self) -> str:
        """Rasa action name."""
        return "action_confirm_appointment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Confirm (verified patient, or the linked patient of a reminder's appointment)."""
        now = self.context.clock()
        ref = tracker.get_slot("appointment_ref")
        if ref == NO_APPOINTMENT:
            dispatcher.utter_message(response="utter_no_upcoming_appointments")
            return RESET
        language = language_of(tracker)

        def confirm(session: Session) -> dict[str, str]:
            where = locate(session, tracker.sender_id)
            patient_id = verified_patient_id(session, tracker.sender_id, now) or linked_patient_id(
                session, tracker.sender_id
            )
            appointment = own_upcoming(session, patient_id, ref, now)
            if appointment is None or patient_id is None:
                return {"response": "utter_appointment_not_found"}
            already = appointment.confirmed_at is not None
            try:
                confirm_appointment(
                    session=session, appointment_id=appointment.id, patient_id=patient_id, now=now
                )
            except (AppointmentNotFoundError, AppointmentNotChangeableError):
                return {"response": "utter_appointment_not_changeable"}
            if not already:  # a second "C" to the same visit is not a second confirmation
                record_bot_act(
                    session=session,
                    public_id=tracker.sender_id,
                    kind=InsightKind.BOT_CONFIRMED,
                    at=now,
                    appointment_id=appointment.id,
                )
            return {
                "response": "utter_confirmed_appointment",
                "appointment": describe_appointment(appointment, where.tz, language),
            }

        dispatcher.utter_message(**await self.context.run(confirm))
        return RESET


def appointment_actions(context: ActionContext) -> list[Action]:
    """Every action for existing appointments, built with its collaborators."""
    return [
        ActionAskAppointmentRef(context),
        ActionAskChangeConfirmed(context),
        ActionCancelAppointment(context),
        ActionRescheduleAppointment(context),
        ActionCheckAppointments(context),
        ActionConfirmAppointment(context),
    ]
