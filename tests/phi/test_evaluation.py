"""The PHI evaluation: how recall per class and kept words are counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from frontdesk.phi.evaluation import Case, evaluate, load_cases
from frontdesk.phi.scrubber import Scrubber


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n", encoding="utf-8")
    return path


def test_cases_load_with_their_group_and_default_to_english(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "set.jsonl",
        [
            {"text": "dob 4/12/1985", "phi": [[4, 13, "DATE"]], "group": "es"},
            {"text": "hi", "phi": []},
        ],
    )
    assert load_cases(path) == [
        Case(text="dob 4/12/1985", phi=((4, 13, "DATE"),), group="es"),
        Case(text="hi", phi=(), group="en"),
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"text": "hi"}, "set.jsonl:1: not an evaluation case"),
        ({"text": "hi", "phi": [[0, 9, "NAME"]]}, r"set.jsonl:1: span 0-9 \(NAME\) is outside"),
    ],
)
def test_a_malformed_case_is_an_error_naming_its_line(
    tmp_path: Path, row: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_cases(_write(tmp_path / "set.jsonl", [row]))


def test_recall_is_counted_per_group_and_class_and_kept_words_apart() -> None:
    cases = [
        # caught: the whole date is covered
        Case(text="dob 4/12/1985 thanks", phi=((4, 13, "DATE"),)),
        # missed: a planted span the scrubber cannot know (an ordinary word)
        Case(text="my code is banana", phi=((11, 17, "OTHER_ID"),), group="es"),
        Case(text="what time do you open", phi=()),
    ]
    report = evaluate(Scrubber(mode="fast"), cases)
    assert report.classes[("en", "DATE")].recall == 1.0
    assert report.classes[("es", "OTHER_ID")].recall == 0.0
    assert (report.caught, report.planted) == (1, 2)
    assert report.group_recall("en") == 1.0 and report.group_recall("es") == 0.0
    assert report.group_recall("fr") == 1.0  # nothing planted, nothing missed
    # dob, thanks, my, code, is, what, time, do, you, open: every one kept
    assert (report.kept, report.words) == (10, 10)
    assert report.misses == ["es:OTHER_ID 'banana' in 'my code is banana'"]


def test_an_over_scrubbed_word_counts_against_the_kept_share() -> None:
    report = evaluate(Scrubber(mode="fast"), [Case(text="this is maria gonzalez", phi=())])
    assert report.kept_share == 0.5
    assert report.over_scrubbed == [
        "'maria' in 'this is maria gonzalez'",
        "'gonzalez' in 'this is maria gonzalez'",
    ]
