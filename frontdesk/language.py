"""Which language a conversation is in: English or Spanish, from what the patient writes.

A conversation starts undecided and is answered in the patient's remembered language (CSV
import, EHR, an earlier conversation) or English. The first message that says enough decides
it; after that only an explicit request ("en español por favor", "English please") or a whole
sentence clearly in the other language switches it, so "ok", "2" or "thank you" inside a
Spanish conversation keep it Spanish. Detection is py3langid's naive Bayes model restricted to
the two languages (it ships its model in the wheel: offline, no download); short texts, which
it guesses poorly, decide only through a few unmistakable words. Figures and the choice over
lingua are in docs/decisions.md.
"""

from __future__ import annotations

import enum
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier


class Language(enum.StrEnum):
    """The languages Frontdesk answers in."""

    EN = "en"
    ES = "es"


DEFAULT_LANGUAGE = Language.EN
# A first message decides the conversation at this probability; a decided conversation
# switches only at the higher bar and on a whole sentence (SWITCH_MIN_WORDS).
FIRST_BAR = 0.6
SWITCH_BAR = 0.95
SWITCH_MIN_WORDS = 4
SHORT_WORDS = 3  # texts shorter than this decide only through marker words

_PHI_TOKEN = re.compile(r"\bPHI_[A-Z]+_\d+\b")
_NOT_WORDS = re.compile(r"https?://\S+|\S+@\S+|[\d_]+")
_WORD = re.compile(r"[^\W\d_]+")

# Explicit requests, matched on the accent-folded, lower-cased message.
_WANTS_SPANISH = re.compile(
    r"\b(en\s+espanol|espanol\s+por\s+favor|hablo\s+espanol|prefiero\s+espanol"
    r"|in\s+spanish|spanish\s+please|spanish\s+pls)\b|^\s*(espanol|spanish)\s*[.!?]*\s*$"
)
_WANTS_ENGLISH = re.compile(
    r"\b(in\s+english|english\s+please|english\s+pls|en\s+ingles|prefiero\s+ingles"
    r"|hablo\s+ingles)\b|^\s*(english|ingles)\s*[.!?]*\s*$"
)
# Words that settle a short text on their own (greetings, thanks, yes/please, the request).
_SPANISH_MARKERS = frozenset(
    [
        "hola",
        "buenos",
        "buenas",
        "gracias",
        "porfa",
        "favor",
        "cita",
        "citas",
        "quiero",
        "necesito",
        "ayuda",
        "disculpe",
        "perdon",
        "manana",
        "tarde",
        "noche",
        "senora",
        "senor",
        "si",
        "vale",
        "bueno",
        "claro",
        "adios",
        "chequeo",
        "cancelar",
        "cambiar",
        "reprogramar",
    ]
)
_ENGLISH_MARKERS = frozenset(
    [
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
        "thx",
        "please",
        "pls",
        "yes",
        "yeah",
        "yep",
        "appointment",
        "appt",
        "book",
        "cancel",
        "reschedule",
        "morning",
        "afternoon",
        "tomorrow",
        "tmrw",
    ]
)


@dataclass(frozen=True)
class Detection:
    """What the detector thinks a text is written in, and how sure it is (0.5–1)."""

    language: Language
    confidence: float
    words: int


def fold(text: str) -> str:
    """Lower-case without accents: "Español" -> "espanol"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def requested_language(text: str) -> Language | None:
    """The language a patient explicitly asks for, if the message asks for one."""
    folded = fold(text)
    if _WANTS_SPANISH.search(folded):
        return Language.ES
    if _WANTS_ENGLISH.search(folded):
        return Language.EN
    return None


_load_lock = threading.Lock()
_loaded: list[LanguageIdentifier] = []


def _identifier() -> LanguageIdentifier:
    """py3langid's model, loaded once (about a second of CPU) and limited to en/es."""
    if not _loaded:
        with _load_lock:
            if not _loaded:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                identifier.set_languages([language.value for language in Language])
                _loaded.append(identifier)
    return _loaded[0]


def warm_up() -> None:
    """Load the model ahead of the first patient message (the service calls this at start)."""
    _identifier()


def detect(text: str) -> Detection | None:
    """The language of a text, or None when it has no words to judge (codes, numbers, emoji)."""
    cleaned = _NOT_WORDS.sub(" ", _PHI_TOKEN.sub(" ", text))
    words = [fold(word) for word in _WORD.findall(cleaned)]
    if not words:
        return None
    if len(words) < SHORT_WORDS:
        spanish = sum(word in _SPANISH_MARKERS for word in words)
        english = sum(word in _ENGLISH_MARKERS for word in words)
        if spanish == english:
            return None
        return Detection(Language.ES if spanish > english else Language.EN, 1.0, len(words))
    label, probability = _identifier().classify(" ".join(_WORD.findall(cleaned)))
    return Detection(Language(label), float(probability), len(words))


def language_after(current: Language | None, text: str) -> Language | None:
    """The conversation's language once this patient message is taken into account.

    None means still undecided (answer in the remembered or default language meanwhile).
    """
    requested = requested_language(text)
    if requested is not None:
        return requested
    detection = detect(text)
    if detection is None or detection.language == current:
        return current
    if current is None:
        return detection.language if detection.confidence >= FIRST_BAR else None
    if detection.confidence >= SWITCH_BAR and detection.words >= SWITCH_MIN_WORDS:
        return detection.language
    return current
