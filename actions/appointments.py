"""Existing appointments: reschedule, cancel, check and confirm, and waitlist offers.

Every form asks for verified identity first (`identity_verified`, filled only from the
service's record), then which appointment (`appointment_ref`: set by a reminder reply, picked
automatically when the patient has exactly one, else offered as buttons). Each action re-checks
that the appointment belongs to the verified patient before it shows or changes anything.
The cancellation policy (`cancellation_notice`) is told before the patient says yes.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.booking import (
    BOOKING_SLOTS,
    WAITLIST,
    ValidateBookAppointmentForm,
    _title_for_key,
    _where,
    appointment_ref,
    join_waitlist,
    parse_appointment_ref,
)
from actions.context import ActionContext, ContextAction, inform_payload
from actions.formatting import clock_time, long_day, short_day
from actions.identity import verified_patient_id
from frontdesk.conversations import service as conversations
from frontdesk.scheduling import waitlist
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
from frontdesk.scheduling.models import Appointment

DomainDict = dict[str, Any]
NO_APPOINTMENT = "none"  # `appointment_ref` when the verified patient has nothing upcoming
RESET = [SlotSet(slot, None) for slot in BOOKING_SLOTS]
_ORDINALS = {"first": 0, "1": 0, "second": 1, "2": 1, "third": 2, "3": 2, "fourth": 3, "4": 3}


def visit_name(appointment: Appointment) -> str:
    """The visit type's name ("Sick visit"); EHR-made visits may have none."""
    return appointment.visit_type.name if appointment.visit_type else "Appointment"


def describe(appointment: Appointment, tz: ZoneInfo) -> str:
    """`Sick visit with Dr. Amara Patel on Tue, Dec 1 at 3:00 PM`."""
    local = appointment.start_at.astimezone(tz)
    return (
        f"{visit_name(appointment)} with {appointment.provider.display_name} "
        f"on {short_day(local)} at {clock_time(local)}"
    )


def _linked_patient_id(session: Session, sender_id: str) -> int | None:
    conversation = conversations.get_conversation(session=session, public_id=sender_id)
    return conversation.patient_id if conversation else None


def _own_upcoming(
    session: Session, patient_id: int | None, ref: Any, now: Any
) -> Appointment | None:
    """The upcoming appointment `ref` points at, only if it is this patient's."""
    appointment_id = parse_appointment_ref(ref)
    if patient_id is None or appointment_id is None:
        return None
    for appointment in upcoming_appointments(session=session, patient_id=patient_id, now=now):
        if appointment.id == appointment_id:
            return appointment
    return None


class _ManageAppointmentForm(FormValidationAction):
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
            words = set(text.replace("-", " ").split())
            index = next((_ORDINALS[w] for w in words if w in _ORDINALS), None)
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
            appointment = _own_upcoming(session, patient_id, slot_value, now)
            if appointment is None:
                return None
            return self._chosen(appointment)

        chosen = await self.context.run(check)
        if chosen is None:
            dispatcher.utter_message(response="utter_appointment_not_found")
            return {"appointment_ref": None}
        return chosen

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
                    _own_upcoming(s, _linked_patient_id(s, tracker.sender_id), ref, now) is not None
                )
            )
            if owned:
                return [s for s in slots if s != "identity_verified"]
        return slots

    def _patient_for_ref(self, session: Session, tracker: Tracker, now: Any) -> int | None:
        return verified_patient_id(session, tracker.sender_id, now) or _linked_patient_id(
            session, tracker.sender_id
        )


class ValidateRescheduleAppointmentForm(_ManageAppointmentForm, ValidateBookAppointmentForm):
    """Identity, appointment, then the booking form's provider/time/slot steps, then yes/no."""

    form = "reschedule_appointment_form"

    def __init__(self, context: ActionContext) -> None:
        """Create the validator with its collaborators."""
        self.context = context

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
                appointment = _own_upcoming(session, patient_id, ref, now)
                return self._chosen(appointment) if appointment else {"appointment_ref": None}

            result.update(await self.context.run(load))
        return result

    def _chosen(self, appointment: Appointment) -> dict[str, Any]:
        return {
            "appointment_ref": appointment_ref(appointment.id),
            "visit_type": appointment.visit_type.code if appointment.visit_type else None,
            "provider_preference": str(appointment.provider_id),
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

        def load(session: Session) -> list[tuple[str, str]]:
            where = _where(session, tracker.sender_id)
            patient_id = verified_patient_id(session, tracker.sender_id, now)
            if patient_id is None:
                return []
            return [
                (describe(a, where.tz), appointment_ref(a.id))
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

        def load(session: Session) -> dict[str, str] | None:
            where = _where(session, tracker.sender_id)
            patient_id = verified_patient_id(session, tracker.sender_id, now)
            appointment = _own_upcoming(session, patient_id, ref, now)
            if appointment is None:
                return None
            details = {
                "appointment": describe(appointment, where.tz),
                "notice": cancellation_notice(session=session, appointment=appointment, now=now),
            }
            if rescheduling and isinstance(key, str):
                details["new_time"] = _title_for_key(session, key, where.tz)
            return details

        details = await self.context.run(load)
        if details is None:
            dispatcher.utter_message(response="utter_appointment_not_found")
            return [SlotSet("appointment_ref", None)]
        if rescheduling:
            buttons = [
                {"title": "Yes, move it", "payload": "/affirm"},
                {"title": "No, keep my current time", "payload": "/deny"},
            ]
            response = "utter_ask_reschedule_confirmed"
        else:
            buttons = [
                {"title": "Yes, cancel it", "payload": "/affirm"},
                {"title": "No, keep it", "payload": "/deny"},
            ]
            response = "utter_ask_cancel_confirmed"
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

        def cancel(session: Session) -> dict[str, str]:
            where = _where(session, tracker.sender_id)
            patient_id = verified_patient_id(session, tracker.sender_id, now)
            appointment = _own_upcoming(session, patient_id, ref, now)
            if appointment is None:
                return {"response": "utter_appointment_not_found"}
            described = describe(appointment, where.tz)
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
            fee_note = "This counts as a late cancellation." if outcome.late else ""
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
            return await join_waitlist(self.context, dispatcher, tracker, keep_current=True)
        if tracker.get_slot("change_confirmed") is not True or not isinstance(key, str):
            dispatcher.utter_message(response="utter_change_declined")
            return RESET

        def move(session: Session) -> dict[str, str]:
            where = _where(session, tracker.sender_id)
            patient_id = verified_patient_id(session, tracker.sender_id, now)
            appointment = _own_upcoming(session, patient_id, ref, now)
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
            local = moved.start_at.astimezone(where.tz)
            return {
                "response": "utter_rescheduled",
                "visit": visit_name(moved),
                "day": long_day(local),
                "time": clock_time(local),
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

        def load(session: Session) -> list[str] | None:
            where = _where(session, tracker.sender_id)
            patient_id = verified_patient_id(session, tracker.sender_id, now)
            if patient_id is None:
                return None
            return [
                f"• {describe(a, where.tz)}, {a.location.name}"
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

        def confirm(session: Session) -> dict[str, str]:
            where = _where(session, tracker.sender_id)
            patient_id = verified_patient_id(session, tracker.sender_id, now) or _linked_patient_id(
                session, tracker.sender_id
            )
            appointment = _own_upcoming(session, patient_id, ref, now)
            if appointment is None or patient_id is None:
                return {"response": "utter_appointment_not_found"}
            try:
                confirm_appointment(
                    session=session, appointment_id=appointment.id, patient_id=patient_id, now=now
                )
            except (AppointmentNotFoundError, AppointmentNotChangeableError):
                return {"response": "utter_appointment_not_changeable"}
            return {
                "response": "utter_confirmed_appointment",
                "appointment": describe(appointment, where.tz),
            }

        dispatcher.utter_message(**await self.context.run(confirm))
        return RESET


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

        def accept(session: Session) -> dict[str, str]:
            where = _where(session, tracker.sender_id)
            if token is None:
                return {"response": "utter_waitlist_offer_gone"}
            try:
                appointment = waitlist.accept_waitlist_offer(
                    session=session,
                    offer_token=token,
                    patient_id=where.patient.id if where.patient else None,
                    now=now,
                )
            except (waitlist.OfferGoneError, SlotUnavailableError):
                return {"response": "utter_waitlist_offer_gone"}
            local = appointment.start_at.astimezone(where.tz)
            return {
                "response": "utter_waitlist_offer_taken",
                "visit": visit_name(appointment),
                "provider": appointment.provider.display_name,
                "day": long_day(local),
                "time": clock_time(local),
                "location": f"{appointment.location.name}, {appointment.location.address}",
            }

        dispatcher.utter_message(**await self.context.run(accept))
        return []


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
            where = _where(session, tracker.sender_id)
            if token is None:
                return
            try:
                waitlist.decline_waitlist_offer(
                    session=session,
                    offer_token=token,
                    patient_id=where.patient.id if where.patient else None,
                    now=now,
                    policy=self.context.waitlist,
                )
            except waitlist.OfferGoneError:
                return

        await self.context.run(decline)
        dispatcher.utter_message(response="utter_waitlist_offer_declined")
        return []


def appointment_actions(context: ActionContext) -> list[Action]:
    """Every action for existing appointments, built with its collaborators."""
    return [
        ValidateRescheduleAppointmentForm(context),
        ValidateCancelAppointmentForm(context),
        ValidateCheckAppointmentForm(context),
        ValidateConfirmAppointmentForm(context),
        ActionAskAppointmentRef(context),
        ActionAskChangeConfirmed(context),
        ActionCancelAppointment(context),
        ActionRescheduleAppointment(context),
        ActionCheckAppointments(context),
        ActionConfirmAppointment(context),
        ActionAcceptWaitlistOffer(context),
        ActionDeclineWaitlistOffer(context),
    ]
