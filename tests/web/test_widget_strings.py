"""The widget's own interface strings: every key in English and in Spanish, in both scripts.

The tables sit between `/* strings:begin */` and `/* strings:end */` markers as plain JSON,
so they are read here without a JavaScript engine.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest

STATIC = resources.files("frontdesk") / "web" / "static"
TABLE = re.compile(r"/\* strings:begin \*/(.*?)/\* strings:end \*/", re.S)
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def strings_of(script: str) -> dict[str, dict[str, str]]:
    """The strings table of one of our scripts."""
    [table] = TABLE.findall((STATIC / script).read_text(encoding="utf-8"))
    parsed: Any = json.loads(table)
    return dict(parsed)


@pytest.mark.parametrize("script", ["chat.js", "widget.js"])
def test_every_string_exists_in_english_and_spanish(script: str) -> None:
    table = strings_of(script)
    assert set(table) == {"en", "es"}
    assert set(table["en"]) == set(table["es"])
    for key, english in table["en"].items():
        spanish = table["es"][key]
        assert english.strip() and spanish.strip(), key
        # The same placeholders, so a filled-in string never shows "{n}".
        assert set(PLACEHOLDER.findall(english)) == set(PLACEHOLDER.findall(spanish)), key


def test_the_chat_uses_only_keys_its_table_has() -> None:
    source = (STATIC / "chat.js").read_text(encoding="utf-8")
    used = set(re.findall(r"\bt\('([\w.]+)'", source))
    assert used, "the chat labels itself through t()"
    assert used <= set(strings_of("chat.js")["en"])


def test_spanish_is_not_english_left_untranslated() -> None:
    table = strings_of("chat.js")
    same = {key for key, text in table["en"].items() if table["es"][key] == text}
    assert same == set()


# Informal (tú) forms a patient-facing text must not use: the product speaks to patients as
# usted, like the bot's and the service's Spanish.
TUTEO = re.compile(
    r"\b(tú|tu|tus|te|ti|eres|estás|escribe|revisa|verifica|confirma|llama|inténtalo"
    r"|chatea|compartas|comunícate)\b",
    re.IGNORECASE,
)


@pytest.mark.parametrize("script", ["chat.js", "widget.js"])
def test_the_spanish_strings_speak_to_the_patient_as_usted(script: str) -> None:
    informal = {key: text for key, text in strings_of(script)["es"].items() if TUTEO.search(text)}
    assert informal == {}
