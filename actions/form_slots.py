"""The booking and appointment forms' slots: their names and the special values they take."""

from __future__ import annotations

FORM = "book_appointment_form"
ANY_PROVIDER = "any"
NONE_OF_THESE = "none"
# `slot_choice` values that are not a slot: the patient chose the waitlist or another provider.
WAITLIST = "waitlist"
OTHER_PROVIDER = "other_provider"
NO_APPOINTMENT = "none"  # `appointment_ref` when the verified patient has nothing upcoming
FORM_SLOTS = ("visit_type", "provider_preference", "time_preference", "slot_choice")
# Slots of the reschedule/cancel/check/confirm forms (`appointment_ref` is the reminders' slot).
MANAGE_SLOTS = ("identity_verified", "appointment_ref", "change_confirmed")
# Everything a booking or a change leaves behind; cleared when it ends, however it ends.
BOOKING_SLOTS = (*FORM_SLOTS, "offered_slots", "excluded_slots", *MANAGE_SLOTS)
