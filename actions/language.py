"""The conversation's language inside Rasa: the `language` slot and what follows from it.

The service decides each conversation's language (`frontdesk.language`) and sends it with
every turn: in the user message's `metadata` for patient turns, as a `language` entity for
`trigger_intent` outreach (Rasa 3.6's trigger_intent endpoint takes only a name and
entities). `action_extract_language`, the `custom` mapping of the `language` slot, copies it
into the slot on every user message, and every `utter_*` response has a variation for
`language: es`, selected by Rasa's conditional response variations.
"""

from __future__ import annotations

from typing import Any, TypeVar

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

LANGUAGE_SLOT = "language"
LANGUAGE_METADATA_KEY = "language"
SUPPORTED_LANGUAGES = ("en", "es")
DEFAULT_LANGUAGE = "en"
T = TypeVar("T")


def sent_language(latest_message: dict[str, Any] | None) -> str | None:
    """The language the service sent with the latest user message, if it sent one."""
    message = latest_message or {}
    metadata = message.get("metadata")
    if isinstance(metadata, dict) and metadata.get(LANGUAGE_METADATA_KEY) in SUPPORTED_LANGUAGES:
        return str(metadata[LANGUAGE_METADATA_KEY])
    for entity in message.get("entities") or []:
        if (
            isinstance(entity, dict)
            and entity.get("entity") == LANGUAGE_SLOT
            and entity.get("value") in SUPPORTED_LANGUAGES
        ):
            return str(entity["value"])
    return None


def language_of(tracker: Tracker) -> str:
    """The language to answer in: the `language` slot, English when unset."""
    value = tracker.get_slot(LANGUAGE_SLOT)
    return value if value in SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE


def pick(language: str, texts: dict[str, T]) -> T:
    """The text for `language` from a `{"en": ..., "es": ...}` table, English as the fallback."""
    return texts.get(language, texts[DEFAULT_LANGUAGE])


def response_text(domain: dict[str, Any], response: str, language: str) -> str:
    """The text of a domain response in `language`: its `language` variation, else its default.

    For actions that compose a message from several responses themselves (the handoff
    notice) instead of letting Rasa render one.
    """
    variants = (domain.get("responses") or {}).get(response) or []
    default: str | None = None
    for variant in variants:
        text = variant.get("text") if isinstance(variant, dict) else None
        if not isinstance(text, str):
            continue
        conditions = variant.get("condition") or []
        if not conditions:
            default = default if default is not None else text
        elif any(
            c.get("type") == "slot"
            and c.get("name") == LANGUAGE_SLOT
            and c.get("value") == language
            for c in conditions
            if isinstance(c, dict)
        ):
            return text
    if default is None:
        raise KeyError(f"the domain has no text response {response!r}")
    return default


class ActionExtractLanguage(Action):
    """Fills the `language` slot from what the service sent with the user message."""

    def name(self) -> str:
        """Rasa action name (the `custom` mapping of the `language` slot)."""
        return "action_extract_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """Set the slot when the message carried a language and it differs from the slot's."""
        language = sent_language(tracker.latest_message)
        if language is None or language == tracker.get_slot(LANGUAGE_SLOT):
            return []
        return [SlotSet(LANGUAGE_SLOT, language)]
