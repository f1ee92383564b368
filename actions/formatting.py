"""Patient-facing wording for dates, times, offered slots and appointments."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from frontdesk.scheduling.models import Appointment
from frontdesk.scheduling.slots import OpenSlot


def clock_time(moment: datetime) -> str:
    """`3:00 PM` style, without a leading zero."""
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment:%M} {'AM' if moment.hour < 12 else 'PM'}"


def short_day(moment: datetime) -> str:
    """`Tue, Dec 1`."""
    return f"{moment:%a, %b} {moment.day}"


def long_day(moment: datetime) -> str:
    """`Tuesday, December 1`."""
    return f"{moment:%A, %B} {moment.day}"


def slot_label(start: datetime, provider_name: str, tz: ZoneInfo) -> str:
    """Button title for an offered slot: `Tue, Dec 1 · 3:00 PM · Dr. Amara Patel`."""
    local = start.astimezone(tz)
    return f"{short_day(local)} · {clock_time(local)} · {provider_name}"


def slot_title(slot: OpenSlot, tz: ZoneInfo) -> str:
    """`slot_label` of an open slot."""
    return slot_label(slot.start, slot.provider_name, tz)


def visit_name(appointment: Appointment) -> str:
    """The visit type's name ("Sick visit"); EHR-made visits may have none."""
    return appointment.visit_type.name if appointment.visit_type else "Appointment"


def describe_appointment(appointment: Appointment, tz: ZoneInfo) -> str:
    """`Sick visit with Dr. Amara Patel on Tue, Dec 1 at 3:00 PM`."""
    local = appointment.start_at.astimezone(tz)
    return (
        f"{visit_name(appointment)} with {appointment.provider.display_name} "
        f"on {short_day(local)} at {clock_time(local)}"
    )
