"""SMS text rules: carrier keywords, GSM-7 and segments, buttons as numbered choices.

Pure functions, no database: the rest of the SMS package and the reminders build on them.
"""

from __future__ import annotations

import enum
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from frontdesk import texts
from frontdesk.language import Language

# GSM 03.38 basic character set, and the extension table (each costs two septets).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
# Typographic characters bot texts carry that would force UCS-2 (70 chars per segment).
_GSM_LOOKALIKES = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "‚": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "–": "-",
        "—": "-",
        "‑": "-",
        "…": "...",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "•": "-",
    }
)
MAX_BODY_CHARS = 1600  # Twilio refuses longer bodies


@dataclass(frozen=True)
class SegmentInfo:
    """How a body travels: encoding and number of SMS segments (what carriers bill)."""

    encoding: str  # "GSM-7" or "UCS-2"
    segments: int
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2


def to_gsm_friendly(text: str) -> str:
    """Replace curly quotes, dashes and ellipses with GSM-7 look-alikes (same meaning)."""
    return text.translate(_GSM_LOOKALIKES)


def segment_info(text: str) -> SegmentInfo:
    """Encoding and segment count of a body, as carriers count them."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        segments = 1 if units <= 160 else math.ceil(units / 153)
        return SegmentInfo("GSM-7", max(segments, 1), units)
    units = len(text.encode("utf-16-le")) // 2
    segments = 1 if units <= 70 else math.ceil(units / 67)
    return SegmentInfo("UCS-2", max(segments, 1), units)


def split_body(text: str, *, limit: int = MAX_BODY_CHARS) -> list[str]:
    """Split a body Twilio would refuse into parts at paragraph or word boundaries."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = rest.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


class Keyword(enum.StrEnum):
    """Carrier/FCC keyword classes handled before the bot sees anything."""

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
    | {"OPT OUT", "OPT-OUT", "STOP PLEASE", "PLEASE STOP"}
)
OPT_IN_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})
# Plain-language opt-outs. Anchored to the whole message so that "cancel my appointment" or
# "stop, I meant Tuesday" still reach the bot.
_PLAIN_OPT_OUT = re.compile(
    r"^(please\s+)?("
    r"stop\s+(texting|messaging|sending\s+(me\s+)?(texts|messages|sms))(\s+me)?"
    r"|(do\s+not|don'?t|dont)\s+(text|message|contact|sms)\s+me(\s+again|\s+anymore)?"
    r"|no\s+more\s+(texts|messages|sms)"
    r"|unsubscribe\s+me"
    r"|remove\s+me(\s+from\s+(this|your|the)\s+(list|texts|messages))?"
    r"|take\s+me\s+off\s+(this|your|the)\s+list"
    r")(\s+please)?$",
    re.IGNORECASE,
)
# Spanish keywords (CTIA asks for the opt-out words of the language a program texts in).
# Bare "CANCELAR" is left to the bot: in Spanish it is how patients start cancelling a visit,
# and no carrier requires it as an opt-out word.
SPANISH_OPT_OUT_WORDS = frozenset(
    {"ALTO", "PARAR", "PARE", "PARA", "DETENER", "BASTA", "BAJA", "DESUSCRIBIR", "NO MAS"}
    | {"ALTO POR FAVOR", "POR FAVOR ALTO", "DARME DE BAJA", "DAR DE BAJA", "NO MAS MENSAJES"}
)
SPANISH_OPT_IN_WORDS = frozenset({"EMPEZAR", "COMENZAR", "INICIAR", "REANUDAR", "SI"})
SPANISH_HELP_WORDS = frozenset({"AYUDA", "INFORMACION"})
_PLAIN_OPT_OUT_ES = re.compile(
    r"^(por\s+favor\s+)?("
    r"(ya\s+)?no\s+(me\s+)?(manden|mande|envien|envie|escriban|escriba|mandan|envian)"
    r"(\s+mas)?(\s+(mensajes|textos|sms))?(\s+mas)?"
    r"|(ya\s+)?no\s+quiero\s+(recibir\s+)?(mas\s+)?(mensajes|textos|sms)(\s+mas)?"
    r"|dejen?\s+de\s+(mandarme|enviarme|escribirme)(\s+(mensajes|textos|sms))?"
    r"|(quiero\s+)?(darme|dar|me\s+doy)\s+de\s+baja"
    r"|(quitenme|quiteme|borrenme|borreme|saquenme|sacame)\s+de\s+(la|su|esta)\s+lista"
    r")(\s+por\s+favor)?$",
    re.IGNORECASE,
)
_TRIM = re.compile(r"^[\s\"'`*.!?,;:()\[\]¡¿-]+|[\s\"'`*.!?,;:()\[\]¡¿-]+$")


def fold_accents(text: str) -> str:
    """ "más" -> "mas", "Sí" -> "Si": patients type accents or not, the words are the same."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalise_keyword(body: str) -> str:
    """Upper-case, accents, outer punctuation and repeated spaces removed: "¡Alto!" -> "ALTO"."""
    return re.sub(r"\s+", " ", _TRIM.sub("", fold_accents(body))).upper()


def classify_keyword(body: str, *, opted_out: bool) -> Keyword | None:
    """The carrier keyword a message is, in English or Spanish, if it is one.

    Only a whole message counts ("STOP", "Cancel.", "ALTO"), never a word inside a sentence.
    "YES" and "SÍ" re-subscribe only a number that opted out; otherwise they answer the bot.
    """
    word = normalise_keyword(body)
    plain = _TRIM.sub("", fold_accents(body).strip())
    if (
        word in OPT_OUT_WORDS | SPANISH_OPT_OUT_WORDS
        or _PLAIN_OPT_OUT.match(plain)
        or _PLAIN_OPT_OUT_ES.match(plain)
    ):
        return Keyword.OPT_OUT
    if word in HELP_WORDS | SPANISH_HELP_WORDS:
        return Keyword.HELP
    if word in OPT_IN_WORDS | SPANISH_OPT_IN_WORDS and (opted_out or word not in {"YES", "SI"}):
        return Keyword.OPT_IN
    return None


def keyword_language(body: str) -> str:
    """The language a keyword message is in: "es" for Spanish words, "en" otherwise."""
    word = normalise_keyword(body)
    spanish = SPANISH_OPT_OUT_WORDS | SPANISH_OPT_IN_WORDS | SPANISH_HELP_WORDS
    plain = _TRIM.sub("", fold_accents(body).strip())
    return "es" if word in spanish or _PLAIN_OPT_OUT_ES.match(plain) else "en"


def numbered_choices(
    text: str | None, buttons: Sequence[dict[str, str]], language: Language = Language.EN
) -> str:
    """A bot message with buttons as SMS text: numbered lines and "Reply 1, 2 or 3".

    Buttons that carry their own `key` (a reminder's C/R/X) are already explained by the text.
    The "Reply ..." line is in `language` (the button titles already are).
    """
    lines = [text.strip()] if text and text.strip() else []
    keyed = [b for b in buttons if b.get("key")]
    if buttons and len(keyed) == len(buttons):
        return "\n".join(lines)
    numbers = [str(i) for i in range(1, len(buttons) + 1)]
    lines += [f"{n}) {b.get('title', '').strip()}" for n, b in zip(numbers, buttons, strict=True)]
    if len(numbers) == 1:
        lines.append(texts.text("sms.reply_one", language))
    elif numbers:
        lines.append(
            texts.text(
                "sms.reply_many", language, numbers=", ".join(numbers[:-1]), last=numbers[-1]
            )
        )
    return "\n".join(lines)


_NUMBER_REPLY = re.compile(r"^\s*(?:#|no\.?\s*|option\s*)?(\d{1,2})\s*[.)!]?\s*$", re.IGNORECASE)


def choice_payload(body: str, buttons: Sequence[dict[str, str]]) -> str | None:
    """The payload of the button a reply picks ("2", "#2", "C", or the title), if any."""
    if not buttons:
        return None
    stripped = body.strip()
    for button in buttons:
        key = button.get("key")
        if key and normalise_keyword(stripped) == key.upper():
            return button.get("payload")
    match = _NUMBER_REPLY.match(stripped)
    if match:
        index = int(match.group(1)) - 1
        unkeyed = [b for b in buttons if not b.get("key")]
        if 0 <= index < len(unkeyed):
            return unkeyed[index].get("payload")
        return None
    folded = normalise_keyword(stripped)
    for button in buttons:
        if normalise_keyword(button.get("title", "")) == folded:
            return button.get("payload")
    return None


def mask_phone(phone: str | None) -> str:
    """A number for logs: only the last two digits ("***01")."""
    digits = re.sub(r"\D", "", phone or "")
    return "***" + digits[-2:] if len(digits) >= 2 else "***"


def normalise_phone(raw: str) -> str:
    """E.164 as Twilio sends it; a bare 10-digit US number gets +1. Other input is kept."""
    text = raw.strip()
    digits = re.sub(r"\D", "", text)
    if text.startswith("+") and digits:
        return "+" + digits
    if len(digits) == 10:
        return "+1" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    return text
