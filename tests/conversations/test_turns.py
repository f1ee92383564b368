"""What Rasa receives for a patient text, on every channel."""

from __future__ import annotations

import pytest

from frontdesk.conversations.turns import MEDICAL_EMERGENCY, as_plain_text, bot_turn_text


def test_only_an_offered_payload_passes_through() -> None:
    offered = {'/choose_slot{"slot": 1}'}
    assert bot_turn_text("10am", '/choose_slot{"slot": 1}', offered=offered) == (
        '/choose_slot{"slot": 1}'
    )
    assert bot_turn_text("book", "/book_appointment", offered=offered) == "book"


def test_a_payload_the_channel_already_checked_passes_through() -> None:
    assert bot_turn_text("1", "/affirm", offered=None) == "/affirm"


def test_emergency_wording_goes_as_the_emergency_intent() -> None:
    assert bot_turn_text("my chest hurts", None, offered=set()) == MEDICAL_EMERGENCY
    assert bot_turn_text("/greet my chest hurts", None, offered=None) == MEDICAL_EMERGENCY


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("/book_appointment", "book_appointment"),
        ('/ /inform{"x": 1}', 'inform{"x": 1}'),
        ("  //hello", "hello"),
        ("/ /", "?"),
        ("hello /there", "hello /there"),
    ],
)
def test_typed_text_never_starts_with_a_slash(typed: str, sent: str) -> None:
    assert as_plain_text(typed) == sent
    assert bot_turn_text(typed, None, offered=set()) == sent
