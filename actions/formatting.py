"""Patient-facing wording for dates, times, offered slots and appointments, in each language.

Every function takes the conversation's `language` ("en" or "es", `actions.language`);
English is the default. Spanish follows US Spanish usage: lower-case day and month names,
"martes 8 de diciembre", "3:00 p. m.".
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from frontdesk.scheduling.models import Appointment
from frontdesk.scheduling.slots import OpenSlot

ES_WEEKDAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
ES_WEEKDAYS_SHORT = ("lun", "mar", "mié", "jue", "vie", "sáb", "dom")
ES_MONTHS = (
    "enero", "febrero", "marzo", "abril", "mayo", "junio",
    "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre",
)  # fmt: skip
ES_MONTHS_SHORT = (
    "ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic",
)  # fmt: skip
# English names are written out too, so the output does not follow the process's locale.
EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
EN_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
UNNAMED_VISIT = {"en": "Appointment", "es": "Cita"}


def clock_time(moment: datetime, language: str = "en") -> str:
    """`3:00 PM` (English) or `3:00 p. m.` (Spanish), without a leading zero."""
    hour = moment.hour % 12 or 12
    if language == "es":
        return f"{hour}:{moment:%M} {'a. m.' if moment.hour < 12 else 'p. m.'}"
    return f"{hour}:{moment:%M} {'AM' if moment.hour < 12 else 'PM'}"


def at_clock_time(moment: datetime, language: str = "en") -> str:
    """`at 3:00 PM`; in Spanish `a las 3:00 p. m.`, but `a la 1:00 p. m.`."""
    if language == "es":
        article = "la" if moment.hour % 12 == 1 else "las"
        return f"a {article} {clock_time(moment, language)}"
    return f"at {clock_time(moment, language)}"


def short_day(moment: datetime, language: str = "en") -> str:
    """`Tue, Dec 1` (English) or `mar 1 de dic` (Spanish)."""
    if language == "es":
        weekday = ES_WEEKDAYS_SHORT[moment.weekday()]
        return f"{weekday} {moment.day} de {ES_MONTHS_SHORT[moment.month - 1]}"
    return f"{EN_WEEKDAYS[moment.weekday()][:3]}, {EN_MONTHS[moment.month - 1][:3]} {moment.day}"


def long_day(moment: datetime, language: str = "en") -> str:
    """`Tuesday, December 1` (English) or `martes 1 de diciembre` (Spanish)."""
    if language == "es":
        weekday = ES_WEEKDAYS[moment.weekday()]
        return f"{weekday} {moment.day} de {ES_MONTHS[moment.month - 1]}"
    return f"{EN_WEEKDAYS[moment.weekday()]}, {EN_MONTHS[moment.month - 1]} {moment.day}"


def slot_label(start: datetime, provider_name: str, tz: ZoneInfo, language: str = "en") -> str:
    """Button title for an offered slot: `Tue, Dec 1 · 3:00 PM · Dr. Amara Patel`."""
    local = start.astimezone(tz)
    return f"{short_day(local, language)} · {clock_time(local, language)} · {provider_name}"


def slot_title(slot: OpenSlot, tz: ZoneInfo, language: str = "en") -> str:
    """`slot_label` of an open slot."""
    return slot_label(slot.start, slot.provider_name, tz, language)


def visit_name(appointment: Appointment, language: str = "en") -> str:
    """The visit type's name ("Sick visit", or the practice's Spanish name); EHR-made visits
    may have none."""
    if appointment.visit_type:
        return appointment.visit_type.name_in(language)
    return UNNAMED_VISIT.get(language, UNNAMED_VISIT["en"])


def describe_appointment(appointment: Appointment, tz: ZoneInfo, language: str = "en") -> str:
    """`Sick visit with Dr. Amara Patel on Tue, Dec 1 at 3:00 PM`, or its Spanish form.

    Spanish: `Consulta por enfermedad con Dr. Amara Patel el mar 1 de dic a las 3:00 p. m.`
    (the visit type's name as the practice translated it, or wrote it; the provider's as is).
    """
    local = appointment.start_at.astimezone(tz)
    visit, provider = visit_name(appointment, language), appointment.provider.display_name
    day, at = short_day(local, language), at_clock_time(local, language)
    if language == "es":
        return f"{visit} con {provider} el {day} {at}"
    return f"{visit} with {provider} on {day} {at}"
