"""The service's text catalogue: every text in every language, with the same placeholders.

A missing or half-translated text fails here rather than reaching a patient in English.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connectors.webchat.identity import try_again_at
from frontdesk import texts
from frontdesk.language import Language
from frontdesk.sms.text import segment_info

ROOT = Path(__file__).resolve().parents[2]
# Texts that read the same in both languages on purpose (formats, not words).
SAME_IN_EVERY_LANGUAGE = frozenset({"date.clock"})
# Keys whose texts are texted (SMS): after `for_sms` they must stay GSM-7.
SMS_SECTIONS = (
    "reminder.",
    "sms.",
    "verification.",
    "waitlist.",
    "notice.",
    "handoff.",
    "consent.",
)


def test_every_language_has_every_text_with_the_same_placeholders() -> None:
    english = texts.catalogue(Language.EN)
    for language in Language:
        catalogue = texts.catalogue(language)
        assert sorted(catalogue) == sorted(english), f"keys differ in {language.value}"
        for key, template in catalogue.items():
            assert texts.placeholders(template) == texts.placeholders(english[key]), key
            assert template.strip(), f"{key} is empty in {language.value}"


def test_spanish_is_translated_not_copied() -> None:
    english, spanish = texts.catalogue(Language.EN), texts.catalogue(Language.ES)
    copied = [k for k in english if k not in SAME_IN_EVERY_LANGUAGE and spanish[k] == english[k]]
    assert copied == []


def test_lists_have_one_entry_per_weekday_and_month() -> None:
    for language in Language:
        assert len(texts.text("date.weekdays", language).split("|")) == 7
        assert len(texts.text("date.months", language).split("|")) == 12


def test_every_key_the_code_names_exists() -> None:
    """Keys are plain strings in the code ("notice.waiting"): each must be in the catalogue."""
    sections = {key.split(".")[0] for key in texts.catalogue(Language.EN)}
    alternatives = "|".join(sorted(sections))
    pattern = re.compile(rf"""["']((?:{alternatives})\.[a-z_]+)["']""")
    named: set[str] = set()
    for folder in ("frontdesk", "connectors"):
        for path in (ROOT / folder).rglob("*.py"):
            named.update(pattern.findall(path.read_text("utf-8")))
    assert named, "the scan found no keys: the pattern is wrong"
    assert "notice.waiting" in named and "reminder.lead" in named
    assert sorted(named - set(texts.catalogue(Language.EN))) == []


def test_a_missing_text_or_placeholder_is_an_error_not_an_english_fallback() -> None:
    with pytest.raises(texts.MissingTextError):
        texts.text("reminder.no_such_text", Language.ES)
    with pytest.raises(texts.MissingTextError):
        texts.text("reminder", Language.ES)  # a section, not a text
    with pytest.raises(KeyError):
        texts.text("reminder.lead", Language.ES, practice="Riverside")  # {when} missing


def test_placeholders_are_filled() -> None:
    assert texts.text("verification.code_text", "es", code="123456").startswith(
        "Su código de verificación es 123456."
    )


@pytest.mark.parametrize(
    "key", [k for k in texts.catalogue(Language.ES) if k.startswith(SMS_SECTIONS)]
)
def test_spanish_texts_travel_as_gsm7_once_made_sms_safe(key: str) -> None:
    template = texts.catalogue(Language.ES)[key]
    filled = template.format(**dict.fromkeys(texts.placeholders(template), "1"))
    assert segment_info(texts.for_sms(filled)).encoding == "GSM-7", filled


def test_sms_safe_text_keeps_the_accents_gsm7_has() -> None:
    assert texts.for_sms("¿Mañana? Sí, el miércoles a las 3. Código válido.") == (
        "¿Mañana? Si, el miércoles a las 3. Codigo valido."
    )


def test_stored_preferences_map_to_a_language_we_answer_in() -> None:
    assert texts.remembered_language("es-MX") is Language.ES
    assert texts.remembered_language(" ES ") is Language.ES
    assert texts.remembered_language("fr") is Language.EN
    assert texts.remembered_language(None) is Language.EN


def test_a_time_that_ends_a_sentence_does_not_double_its_period() -> None:
    assert texts.text("reminder.lead", "es", practice="X", when="lunes a las 3:00 p. m.") == (
        "X: le recordamos su cita del lunes a las 3:00 p. m."
    )
    assert texts.text("verification.code_text", "en", code="...").count("...") == 1


def test_the_longest_spanish_reminder_for_the_demo_practice_fits_one_segment() -> None:
    when = "miércoles 30 de septiembre a las 10:30 a. m."
    body = " ".join(
        [
            texts.text("reminder.lead", "es", practice="Riverside Family Medicine", when=when),
            texts.text("reminder.answers", "es"),
        ]
    )
    assert segment_info(texts.for_sms(body)).segments == 1, len(body)


def test_the_code_limit_names_when_to_try_again_in_the_chats_language() -> None:
    tz = ZoneInfo("America/New_York")
    now = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)  # 10:00 AM in New York
    later = now + timedelta(hours=6, minutes=5)
    tomorrow = now + timedelta(hours=23)
    assert try_again_at(later, now=now, tz=tz) == "after 4:05 PM"
    assert try_again_at(later, now=now, tz=tz, language=Language.ES) == (
        "después de las 4:05 p. m."
    )
    assert try_again_at(tomorrow, now=now, tz=tz) == "tomorrow after 9:00 AM"
    assert try_again_at(tomorrow, now=now, tz=tz, language=Language.ES) == (
        "mañana después de las 9:00 a. m."
    )
