"""What Rasa receives for a patient's turn, the same on every channel.

The service decides what text reaches the bot, never the patient: only payloads the bot
offered pass through as intents, typed words can never be read as one, and a strong emergency
signal goes as the emergency intent whatever the NLU model would make of it; a weak one goes as
the patient's words, after the 911 line the service sends itself (`safety_line`, see
frontdesk/conversations/safety.py and docs/safety.md). The turns the service
itself sends after an identity check live here too, so every channel speaks them alike.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from frontdesk.conversations.safety import SAFETY_LINES, Signal, assess, is_emergency

MEDICAL_EMERGENCY = "/medical_emergency"
IDENTITY_PROVIDED = "/identity_provided"  # the patient is identified (and verified if asked)
IDENTITY_FAILED = "/identity_failed"  # identity could not be checked: the bot escalates

_LEADING_SLASHES = re.compile(r"^[\s/]+")  # "/ /intent" must not become "/intent"


def as_plain_text(text: str) -> str:
    """The patient's words with nothing in front that Rasa would parse as an intent.

    Leading slashes go, with any spaces between them; "?" when nothing else was typed.
    """
    return _LEADING_SLASHES.sub("", text) or "?"


def bot_turn_text(text: str, payload: str | None, *, offered: Collection[str] | None) -> str:
    """What Rasa receives for a patient text: a button's payload, else the patient's words.

    Args:
        text: what the patient typed (or the button's title).
        payload: the button payload the patient chose, if any.
        offered: the payloads the bot offered in this conversation, so only those pass
            through; None when the channel has already matched `payload` against them (an SMS
            numbered reply). Required, so no caller forgets the check by accident.
    """
    if payload is not None and (offered is None or payload in offered):
        return payload
    if is_emergency(text):
        return MEDICAL_EMERGENCY
    return as_plain_text(text)


def safety_line(text: str, bot_text: str, language: str = "en") -> str | None:
    """The 911 line the service sends before handing the bot a weak-signal turn, else None.

    Args:
        text: what the patient typed.
        bot_text: what `bot_turn_text` made of it. A payload or the emergency intent (both
            start with "/") needs no line from the service: the bot says it on a strong signal.
        language: the conversation's reply language ("en" or "es").
    """
    if bot_text.startswith("/") or assess(text).signal is not Signal.WEAK:
        return None
    return SAFETY_LINES.get(language, SAFETY_LINES["en"])
