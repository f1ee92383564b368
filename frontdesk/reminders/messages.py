"""What reminders and follow-ups say, and the appointment reference their replies carry.

Content is minimal: the practice, the date and time, and how to answer. No visit reason, no
provider, no diagnosis.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from frontdesk.practices.models import Practice
from frontdesk.reminders.models import ReminderKind
from frontdesk.reminders.policy import DEFAULT_POST_VISIT, OutreachPolicy


def appointment_ref(appointment_id: int) -> str:
    """The opaque reference the bot carries in slot `appointment_ref`."""
    return f"a_{appointment_id}"


def parse_appointment_ref(ref: object) -> int | None:
    """Inverse of `appointment_ref` for any slot value; None for anything else ("none")."""
    match = re.fullmatch(r"a_(\d{1,12})", ref.strip()) if isinstance(ref, str) else None
    return int(match.group(1)) if match else None


def _when(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return f"{local:%a, %b} {local.day} at {local:%I:%M %p}".replace(" 0", " ")


ANSWERS = "Reply C to confirm, R to reschedule, X to cancel."


def reminder_message(
    practice: Practice, start: datetime, ref: str, *, wording: str | None = None
) -> tuple[str, list[dict[str, str]]]:
    """The reminder's text and its C/R/X answers (each a button payload with the appointment).

    `wording` is an experiment arm's lead sentence ({practice} and {when} are filled in); the
    answer line always follows, so a reply means the same in every arm.
    """
    tz = ZoneInfo(practice.timezone)
    lead = (wording or "{practice}: reminder of your appointment {when}.").format(
        practice=practice.name, when=_when(start, tz)
    )
    text = f"{lead} {ANSWERS}"
    entity = json.dumps({"appointment_ref": ref}, separators=(",", ":"))
    buttons = [
        {"title": "Confirm", "payload": f"/confirm_appointment{entity}", "key": "C"},
        {"title": "Reschedule", "payload": f"/reschedule_appointment{entity}", "key": "R"},
        {"title": "Cancel", "payload": f"/cancel_appointment{entity}", "key": "X"},
    ]
    return text, buttons


def followup_message(
    kind: ReminderKind, practice: Practice, start: datetime, policy: OutreachPolicy
) -> tuple[str, list[dict[str, str]]]:
    """A no-show or post-visit follow-up's text and buttons."""
    book = [{"title": "Book a new time", "payload": "/book_appointment"}]
    if kind is ReminderKind.NO_SHOW:
        local = start.astimezone(ZoneInfo(practice.timezone))
        return (
            f"{practice.name}: we missed you at your appointment on {local:%b} {local.day}. "
            "Would you like to book a new time?",
            book,
        )
    template = policy.post_visit_message or DEFAULT_POST_VISIT
    # The default offers to book the follow-up ("reply 1"); a practice's own text goes as is.
    buttons = (
        [{"title": "Book my follow-up", "payload": "/book_appointment", "key": "1"}]
        if template == DEFAULT_POST_VISIT
        else []
    )
    return template.replace("{practice}", practice.name), buttons
