"""Validation of the forms about existing appointments: reschedule, cancel, check, confirm.

Each asks for verified identity first (`identity_verified`, filled only from the service's
record), then which appointment (`appointment_ref`: set by a reminder reply, picked
automatically when the patient has exactly one, else offered as buttons). The reschedule form
then asks the booking form's provider, time and slot questions, checked by the same
`BookingAnswers`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.booking_answers import BookingAnswers
from actions.context import ActionContext
from actions.form_slots import NO_APPOINTMENT, WAITLIST
from actions.identity import verified_patient_id
from actions.lookups import last_bot_message_at, linked_patient_id, own_upcoming
from actions.replies import list_position
from actions.task_switch import YieldsToNewTasks
from frontdesk.reminders.messages import appointment_ref, parse_appointment_ref
from frontdesk.scheduling.booking import upcoming_appointments
from frontdesk.scheduling.models import Appointment

DomainDict = dict[str, Any]

# A "yes" to "cancel this?" / "move it?" counts only this soon after the question: later, the
# policy quoted or the new time may no longer hold, and a stray "1" the next day must not
# change an appointment. The question is asked again, with today's details.
CONFIRMATION_TTL = timedelta(minutes=30)


class _ManageAppointmentForm(YieldsToNewTasks):
    """Identity, then which appointment: shared by the reschedule/cancel/check/confirm forms."""

    form: str = ""

    def __init__(self, context: ActionContext) -> None:
        """Create the validator with its collaborators."""
        self.context = context

    def name(self) -> str:
        """Rasa action name."""
        return f"validate_{self.form}"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        """With nothing upcoming, stop after identity: the action says so and offers booking."""
        if tracker.get_slot("appointment_ref") == NO_APPOINTMENT:
            return [s for s in domain_slots if s in ("identity_verified", "appointment_ref")]
        return domain_slots

    async def extract_identity_verified(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Filled once the service has verified this conversation."""
        now = self.context.clock()
        verified = await self.context.run(
            lambda s: verified_patient_id(s, tracker.sender_id, now) is not None
        )
        return {"identity_verified": True} if verified else {}

    async def validate_identity_verified(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """Only the service's record counts, never a slot value alone."""
        now = self.context.clock()
        verified = slot_value is True and await self.context.run(
            lambda s: verified_patient_id(s, tracker.sender_id, now) is not None
        )
        return {"identity_verified": True if verified else None}

    async def extract_appointment_ref(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """No choice to make (none or one upcoming), or a typed "the second one"."""
        if tracker.get_slot("appointment_ref") is not None:
            return {}
        now = self.context.clock()
        text = str(tracker.latest_message.get("text") or "").lower()
        asked = tracker.get_slot("requested_slot") == "appointment_ref"

        def pick(session: Session) -> str | None:
            patient_id = verified_patient_id(session, tracker.sender_id, now)
            if patient_id is None:
                return None
            upcoming = upcoming_appointments(session=session, patient_id=patient_id, now=now)
            if not upcoming:
                return NO_APPOINTMENT
            if len(upcoming) == 1:
                return appointment_ref(upcoming[0].id)
            index = list_position(text)
            if asked and index is not None and index < len(upcoming):
                return appointment_ref(upcoming[index].id)
            return None

        ref = await self.context.run(pick)
        return {"appointment_ref": ref} if ref else {}

    async def validate_appointment_ref(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """Accept only an upcoming appointment of the verified patient."""
        if slot_value == NO_APPOINTMENT:
            return {"appointment_ref": NO_APPOINTMENT}
        now = self.context.clock()

        def check(session: Session) -> dict[str, Any] | None:
            patient_id = self._patient_for_ref(session, tracker, now)
            if patient_id is None:
                # Not verified yet (a reminder's appointment, in context before the code):
                # kept for now; the action checks it is theirs before changing anything.
                return {"appointment_ref": slot_value}
            appointment = own_upcoming(session, patient_id, slot_value, now)
            if appointment is None:
                return None
            return self._chosen(appointment)

        chosen = await self.context.run(check)
        if chosen is None:
            dispatcher.utter_message(response="utter_appointment_not_found")
            return {"appointment_ref": None}
        return chosen

    async def validate_change_confirmed(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """A yes long after the question is asked again rather than acted on."""
        if slot_value is not True:
            return {"change_confirmed": slot_value}
        now = self.context.clock()
        asked_at = await self.context.run(lambda s: last_bot_message_at(s, tracker.sender_id))
        if asked_at is not None and now - asked_at > CONFIRMATION_TTL:
            dispatcher.utter_message(response="utter_confirmation_expired")
            return {"change_confirmed": None}
        return {"change_confirmed": True}

    def _patient_for_ref(self, session: Session, tracker: Tracker, now: Any) -> int | None:
        return verified_patient_id(session, tracker.sender_id, now)

    def _chosen(self, appointment: Appointment) -> dict[str, Any]:
        return {"appointment_ref": appointment_ref(appointment.id)}


class ValidateCancelAppointmentForm(_ManageAppointmentForm):
    """Identity, appointment, then yes/no after the cancellation policy."""

    form = "cancel_appointment_form"


class ValidateCheckAppointmentForm(_ManageAppointmentForm):
    """Identity only: the action lists what is coming up."""

    form = "check_appointment_form"


class ValidateConfirmAppointmentForm(_ManageAppointmentForm):
    """Confirming reveals nothing: a reminder reply for the linked patient needs no code."""

    form = "confirm_appointment_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        """Skip identity when the reminder's appointment belongs to the linked patient."""
        slots = await super().required_slots(domain_slots, dispatcher, tracker, domain)
        ref = tracker.get_slot("appointment_ref")
        now = self.context.clock()
        if ref and ref != NO_APPOINTMENT:
            owned = await self.context.run(
                lambda s: (
                    own_upcoming(s, linked_patient_id(s, tracker.sender_id), ref, now) is not None
                )
            )
            if owned:
                return [s for s in slots if s != "identity_verified"]
        return slots

    def _patient_for_ref(self, session: Session, tracker: Tracker, now: Any) -> int | None:
        return verified_patient_id(session, tracker.sender_id, now) or linked_patient_id(
            session, tracker.sender_id
        )


class ValidateRescheduleAppointmentForm(_ManageAppointmentForm):
    """Identity, appointment, then the booking form's provider/time/slot steps, then yes/no.

    The provider, time and slot answers are checked exactly as the booking form checks them,
    by the same `BookingAnswers`.
    """

    form = "reschedule_appointment_form"

    def __init__(self, context: ActionContext) -> None:
        """Create the validator with its collaborators."""
        super().__init__(context)
        self.answers = BookingAnswers(context)

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        """Choosing the waitlist keeps the current appointment: nothing to confirm."""
        slots = await super().required_slots(domain_slots, dispatcher, tracker, domain)
        if tracker.get_slot("slot_choice") == WAITLIST:
            return [s for s in slots if s != "change_confirmed"]
        return slots

    async def extract_time_preference(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A day or time named in the opening message ("can you move me to friday")."""
        return await self.answers.opening_time(tracker, intent="reschedule_appointment")

    async def validate_identity_verified(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """Also take visit type and provider from a reminder's appointment, once verified."""
        result = await super().validate_identity_verified(slot_value, dispatcher, tracker, domain)
        ref = tracker.get_slot("appointment_ref")
        if result.get("identity_verified") and parse_appointment_ref(ref) is not None:
            now = self.context.clock()

            def load(session: Session) -> dict[str, Any]:
                patient_id = verified_patient_id(session, tracker.sender_id, now)
                appointment = own_upcoming(session, patient_id, ref, now)
                return self._chosen(appointment) if appointment else {"appointment_ref": None}

            result.update(await self.context.run(load))
        return result

    def _chosen(self, appointment: Appointment) -> dict[str, Any]:
        return {
            "appointment_ref": appointment_ref(appointment.id),
            "visit_type": appointment.visit_type.code if appointment.visit_type else None,
            "provider_preference": str(appointment.provider_id),
        }

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


def appointment_form_validators(context: ActionContext) -> list[Action]:
    """The validators of the forms about existing appointments."""
    return [
        ValidateRescheduleAppointmentForm(context),
        ValidateCancelAppointmentForm(context),
        ValidateCheckAppointmentForm(context),
        ValidateConfirmAppointmentForm(context),
    ]
