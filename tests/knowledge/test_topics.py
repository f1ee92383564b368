"""Splitting a message into the questions it asks (issue 14)."""

from __future__ import annotations

import pytest

from knowledge.topics import split_clauses


@pytest.mark.parametrize(
    ("message", "clauses"),
    [
        (
            "what are your hours and do you take Aetna?",
            ["what are your hours", "do you take Aetna"],
        ),
        (
            "are you open on saturday? also is parking free",
            ["are you open on saturday", "is parking free"],
        ),
        ("¿Cuál es el horario y aceptan Medicaid?", ["Cuál es el horario", "aceptan Medicaid"]),
        ("do you take Aetna and Cigna", ["do you take Aetna and Cigna"]),
        ("aceptan Aetna y Cigna", ["aceptan Aetna y Cigna"]),
        (
            "my ex and I are divorced, who gets the bill?",
            ["my ex and I are divorced, who gets the bill"],
        ),
        (
            "is the lot free and is it close to the door",
            ["is the lot free, is it close to the door"],
        ),
        ("do you take Aetna? thanks", ["do you take Aetna, thanks"]),
        (
            "what time do you open and what time do you close",
            ["what time do you open, what time do you close"],
        ),
        (
            "where do we park and do you sell car seats",
            ["where do we park", "do you sell car seats"],
        ),
        # More than three is a list, answered as one question.
        ("hours? aetna? parking? bus?", ["hours? aetna? parking? bus?"]),
    ],
)
def test_a_message_splits_only_where_a_new_question_starts(
    message: str, clauses: list[str]
) -> None:
    assert split_clauses(message) == clauses


def test_contractions_count_as_the_word_they_shorten() -> None:
    from knowledge.retrieve import content_words

    assert content_words("what's your address? we're late for my daughter's visit") == [
        "address",
        "late",
        "daughter",
        "visit",
    ]
    assert content_words("we don't have insurance") == ["don't", "insurance"]


def test_a_pronoun_for_the_child_is_not_a_topic_word() -> None:
    from knowledge.retrieve import content_words

    # "his" had matched any passage that says "his" and counted as a word the documents know.
    assert content_words("can grandma take him to his checkup") == ["grandma", "take", "checkup"]
    assert content_words("she needs her shots") == ["needs", "shots"]
