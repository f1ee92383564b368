"""What reminders and follow-ups say, and the appointment reference their replies carry.

Content is minimal: the practice, the date and time, and how to answer. No visit reason, no
provider, no diagnosis. The words come from `frontdesk.texts`, in the patient's language; the
answer keys C/R/X are the same in every language, so a reply means the same everywhere.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from frontdesk.language import Language
from frontdesk.practices.models import Practice
from frontdesk.practices.wording import practice_text
from frontdesk.reminders.models import ReminderKind
from frontdesk.reminders.policy import DEFAULT_POST_VISIT, OutreachPolicy
from frontdesk.texts import moment as spoken_moment
from frontdesk.texts import month_name, text


def appointment_ref(appointment_id: int) -> str:
    """The opaque reference the bot carries in slot `appointment_ref`."""
    return f"a_{appointment_id}"


def parse_appointment_ref(ref: object) -> int | None:
    """Inverse of `appointment_ref` for any slot value; None for anything else ("none")."""
    match = re.fullmatch(r"a_(\d{1,12})", ref.strip()) if isinstance(ref, str) else None
    return int(match.group(1)) if match else None


def reminder_message(
    practice: Practice,
    start: datetime,
    ref: str,
    *,
    wording: str | None = None,
    language: Language = Language.EN,
) -> tuple[str, list[dict[str, str]]]:
    """The reminder's text and its C/R/X answers (each a button payload with the appointment).

    `wording` is an experiment arm's lead sentence ({practice} and {when} are filled in); the
    answer line always follows, so a reply means the same in every arm. Arms are written in
    English, so a patient who reads Spanish gets the catalogue's lead instead.
    """
    when = spoken_moment(start, ZoneInfo(practice.timezone), language)
    if wording is not None and language is Language.EN:
        lead = wording.format(practice=practice.name, when=when)
    else:
        lead = text("reminder.lead", language, practice=practice.name, when=when)
    entity = json.dumps({"appointment_ref": ref}, separators=(",", ":"))
    buttons = [
        {
            "title": text("reminder.confirm", language),
            "payload": f"/confirm_appointment{entity}",
            "key": "C",
        },
        {
            "title": text("reminder.reschedule", language),
            "payload": f"/reschedule_appointment{entity}",
            "key": "R",
        },
        {
            "title": text("reminder.cancel", language),
            "payload": f"/cancel_appointment{entity}",
            "key": "X",
        },
    ]
    return f"{lead} {text('reminder.answers', language)}", buttons


def followup_message(
    kind: ReminderKind,
    practice: Practice,
    start: datetime,
    policy: OutreachPolicy,
    *,
    language: Language = Language.EN,
) -> tuple[str, list[dict[str, str]]]:
    """A no-show or post-visit follow-up's text and buttons, in the patient's language.

    A practice's own post-visit text is sent as the practice wrote it, or as its file
    translates it for the patient's language (`frontdesk.practices.wording`).
    """
    book = [{"title": text("reminder.book_new", language), "payload": "/book_appointment"}]
    if kind is ReminderKind.NO_SHOW:
        local = start.astimezone(ZoneInfo(practice.timezone))
        return (
            text(
                "reminder.no_show",
                language,
                practice=practice.name,
                month=month_name(local, language),
                day=local.day,
            ),
            book,
        )
    template = policy.post_visit_message or DEFAULT_POST_VISIT
    if template != DEFAULT_POST_VISIT:
        own = practice_text(practice, "post_visit_message", language, template) or template
        return own.replace("{practice}", practice.name), []
    # The default offers to book the follow-up ("reply 1").
    buttons = [
        {
            "title": text("reminder.book_follow_up", language),
            "payload": "/book_appointment",
            "key": "1",
        }
    ]
    return text("reminder.post_visit", language, practice=practice.name), buttons
