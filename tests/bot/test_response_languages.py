"""Every bot response exists in English and Spanish, alike in everything but the words.

A missing or half-made translation fails here rather than reaching a Spanish-speaking
patient in English: each `utter_*` has exactly one default (English) variation and one
selected by the `language` slot being `es`, with the same button payloads in the same order
and the same `{placeholders}`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from actions import all_actions
from actions.language import LANGUAGE_SLOT
from tests.doubles import bot_domain

BOT_DOMAIN = Path(__file__).resolve().parents[2] / "bot" / "domain"
SPANISH = [{"type": "slot", "name": LANGUAGE_SLOT, "value": "es"}]
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Words that give away an untranslated Spanish text (whole words, lower case).
ENGLISH_TELLS = {"the", "you", "your", "please", "sorry", "appointment", "with", "and"}


def _payloads(variation: dict[str, Any]) -> list[str]:
    return [str(b.get("payload")) for b in variation.get("buttons") or []]


def _placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def translation_problems(responses: dict[str, Any]) -> list[str]:
    """What is missing or mismatched in each `utter_*` response's languages."""
    problems: list[str] = []
    for name, variations in sorted(responses.items()):
        if not name.startswith("utter_"):
            continue
        defaults = [v for v in variations if not v.get("condition")]
        spanish = [v for v in variations if v.get("condition") == SPANISH]
        others = [v for v in variations if v not in defaults and v not in spanish]
        if len(defaults) != 1 or len(spanish) != 1 or others:
            problems.append(
                f"{name}: {len(defaults)} default, {len(spanish)} es, {len(others)} other"
            )
            continue
        [en], [es] = defaults, spanish
        en_text, es_text = str(en.get("text") or ""), str(es.get("text") or "")
        if not es_text.strip() or es_text == en_text:
            problems.append(f"{name}: Spanish text missing or left in English")
        if _placeholders(en_text) != _placeholders(es_text):
            problems.append(f"{name}: placeholders differ")
        if _payloads(en) != _payloads(es):
            problems.append(f"{name}: button payloads differ")
        en_titles = [b.get("title") for b in en.get("buttons") or []]
        es_titles = [b.get("title") for b in es.get("buttons") or []]
        if any(t == e for t, e in zip(en_titles, es_titles, strict=False)):
            problems.append(f"{name}: a button title is left in English")
        words = set(re.findall(r"[a-záéíóúñü]+", PLACEHOLDER.sub("", es_text).lower()))
        if words & ENGLISH_TELLS:
            problems.append(f"{name}: English words in the Spanish text")
    return problems


def test_every_response_has_one_english_and_one_matching_spanish_variation() -> None:
    responses = bot_domain()["responses"]
    assert len(responses) >= 60  # the whole domain was read
    assert translation_problems(responses) == []


@pytest.mark.parametrize(
    ("variations", "problem"),
    [
        ([{"text": "Hi {name}"}], "0 es"),
        (
            [{"text": "Hi {name}"}, {"condition": SPANISH, "text": "Hola"}],
            "placeholders differ",
        ),
        (
            [
                {"text": "Book?", "buttons": [{"title": "Book", "payload": "/book_appointment"}]},
                {
                    "condition": SPANISH,
                    "text": "¿Cita?",
                    "buttons": [{"title": "Cita", "payload": "/book"}],
                },
            ],
            "payloads differ",
        ),
        (
            [{"text": "Hi"}, {"condition": SPANISH, "text": "Hi"}],
            "left in English",
        ),
        (
            [{"text": "Sorry, please wait"}, {"condition": SPANISH, "text": "Sorry, espere"}],
            "English words",
        ),
        (
            [
                {"text": "Hi"},
                {"condition": SPANISH, "text": "Hola"},
                {"condition": SPANISH, "text": "Buenas"},
            ],
            "2 es",
        ),
    ],
)
def test_the_check_catches_a_broken_translation(
    variations: list[dict[str, Any]], problem: str
) -> None:
    [found] = translation_problems({"utter_example": variations})
    assert problem in found


def test_the_language_slot_is_filled_by_a_registered_custom_action() -> None:
    core = yaml.safe_load((BOT_DOMAIN / "core.yml").read_text())
    slot = core["slots"][LANGUAGE_SLOT]
    assert slot["type"] == "categorical"
    assert slot["values"] == ["en", "es"]
    assert slot["influence_conversation"] is False
    [mapping] = slot["mappings"]
    assert mapping == {"type": "custom", "action": "action_extract_language"}
    assert "action_extract_language" in core["actions"]
    registered = {action.name() for action in all_actions(context=None)}  # type: ignore[arg-type]
    assert "action_extract_language" in registered
