"""SMS text rules: keywords, GSM-7 segments, numbered choices, phone masking."""

from __future__ import annotations

import pytest

from frontdesk.sms.text import (
    Keyword,
    choice_payload,
    classify_keyword,
    keyword_language,
    mask_phone,
    normalise_phone,
    numbered_choices,
    segment_info,
    split_body,
    to_gsm_friendly,
)


@pytest.mark.parametrize(
    "body",
    [
        "STOP",
        "stop",
        " Stop! ",
        "STOPALL",
        "Stop all",
        "UNSUBSCRIBE",
        "CANCEL",
        "cancel.",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
        "opt out",
        "Stop texting me",
        "please stop texting me",
        "don't text me",
        "Do not text me anymore",
        "no more texts",
        "Unsubscribe me",
        "remove me from this list",
    ],
)
def test_opt_out_words_and_plain_language(body: str) -> None:
    assert classify_keyword(body, opted_out=False) is Keyword.OPT_OUT


@pytest.mark.parametrize(
    "body",
    [
        "cancel my appointment",
        "I need to cancel",
        "stop, I meant Tuesday",
        "end of the week?",
        "can you stop by",
        "quit smoking help",
        "help me book",
        "yes",
        "Yes please",
        "start",
    ],
)
def test_sentences_with_keywords_are_not_keywords(body: str) -> None:
    expected = Keyword.OPT_IN if body == "start" else None
    assert classify_keyword(body, opted_out=False) is expected


def test_yes_resubscribes_only_an_opted_out_number() -> None:
    assert classify_keyword("YES", opted_out=True) is Keyword.OPT_IN
    assert classify_keyword("YES", opted_out=False) is None
    assert classify_keyword("unstop", opted_out=True) is Keyword.OPT_IN
    assert classify_keyword("Help", opted_out=False) is Keyword.HELP
    assert classify_keyword("INFO", opted_out=True) is Keyword.HELP


def test_segments_follow_the_carriers_rules() -> None:
    assert segment_info("a" * 160) == segment_info("a" * 160)
    assert (segment_info("a" * 160).segments, segment_info("a" * 161).segments) == (1, 2)
    assert segment_info("a" * 306).segments == 2 and segment_info("a" * 307).segments == 3
    assert segment_info("{" * 80).units == 160  # extension characters count twice
    emoji = segment_info("ok 🙂")
    assert emoji.encoding == "UCS-2" and emoji.units == 5
    assert segment_info("é" * 70).encoding == "GSM-7"  # é is in GSM-7
    assert segment_info("ç" * 71).encoding == "UCS-2" and segment_info("ç" * 71).segments == 2


def test_typographic_characters_become_gsm_look_alikes() -> None:
    text = to_gsm_friendly("We’ll see you — “soon”…")
    assert text == 'We\'ll see you - "soon"...'
    assert segment_info(text).encoding == "GSM-7"


def test_long_bodies_split_at_word_boundaries_under_twilios_limit() -> None:
    parts = split_body("word " * 700)
    assert len(parts) == 3 and all(len(p) <= 1600 for p in parts)
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in parts)
    assert "".join(parts).replace(" ", "") == ("word" * 700)


def test_buttons_become_numbered_choices() -> None:
    buttons = [
        {"title": "Mon 9:00", "payload": "/a"},
        {"title": "Tue 10:00", "payload": "/b"},
        {"title": "None of these", "payload": "/c"},
    ]
    assert numbered_choices("Pick one:", buttons) == (
        "Pick one:\n1) Mon 9:00\n2) Tue 10:00\n3) None of these\nReply 1, 2 or 3"
    )
    assert numbered_choices("Book?", buttons[:1]).endswith("1) Mon 9:00\nReply 1")
    assert numbered_choices("Plain", []) == "Plain"


@pytest.mark.parametrize(
    ("reply", "payload"),
    [
        ("1", "/a"),
        (" 2 ", "/b"),
        ("#3", "/c"),
        ("3.", "/c"),
        ("option 2", "/b"),
        ("tue 10:00", "/b"),
        ("4", None),
        ("0", None),
        ("12 people", None),
    ],
)
def test_a_reply_maps_back_to_the_payload(reply: str, payload: str | None) -> None:
    buttons = [
        {"title": "Mon 9:00", "payload": "/a"},
        {"title": "Tue 10:00", "payload": "/b"},
        {"title": "None of these", "payload": "/c"},
    ]
    assert choice_payload(reply, buttons) == payload


def test_keyed_buttons_answer_to_their_letter() -> None:
    buttons = [
        {"title": "Confirm", "payload": "/confirm", "key": "C"},
        {"title": "Cancel", "payload": "/cancel", "key": "X"},
    ]
    assert numbered_choices("Reply C or X.", buttons) == "Reply C or X."
    assert choice_payload("c", buttons) == "/confirm"
    assert choice_payload("X!", buttons) == "/cancel"
    assert choice_payload("1", buttons) is None


def test_phones_are_masked_and_normalised() -> None:
    assert mask_phone("+15555550101") == "***01"
    assert mask_phone(None) == "***"
    assert normalise_phone("(555) 555-0101") == "+15555550101"
    assert normalise_phone("+44 20 7946 0000") == "+442079460000"


@pytest.mark.parametrize(
    "body",
    [
        "ALTO",
        "¡Alto!",
        "parar",
        "Detener",
        "basta.",
        "No me manden más mensajes",
        "no me manden mas mensajes por favor",
        "ya no quiero recibir mensajes",
        "dejen de mandarme mensajes",
        "quítenme de la lista",
        "quiero darme de baja",
    ],
)
def test_spanish_opt_out_words_and_plain_language(body: str) -> None:
    assert classify_keyword(body, opted_out=False) is Keyword.OPT_OUT
    assert keyword_language(body) == "es"


@pytest.mark.parametrize(
    "body",
    ["cancelar mi cita", "CANCELAR", "quiero cancelar", "para el martes", "no puedo ir", "si"],
)
def test_spanish_sentences_with_keywords_reach_the_bot(body: str) -> None:
    assert classify_keyword(body, opted_out=False) is None


def test_spanish_help_and_resubscribe_words() -> None:
    assert classify_keyword("AYUDA", opted_out=False) is Keyword.HELP
    assert classify_keyword("información", opted_out=True) is Keyword.HELP
    assert classify_keyword("EMPEZAR", opted_out=True) is Keyword.OPT_IN
    assert classify_keyword("Sí", opted_out=True) is Keyword.OPT_IN
    assert classify_keyword("Sí", opted_out=False) is None
    assert [keyword_language(w) for w in ("STOP", "HELP", "START", "AYUDA")] == [
        "en",
        "en",
        "en",
        "es",
    ]
