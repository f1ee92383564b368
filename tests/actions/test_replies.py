"""Tests for reading patients' replies (actions.replies): pure functions, one table each.

The offers in the slot-picking table are Thursday 3 December 2026 at 3, 4 and 5 PM in New
York; "now" is the domain tests' Saturday 28 November, 10:00.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from actions.replies import (
    asks_for_other_provider,
    asks_for_waitlist,
    has_no_preference,
    list_position,
    offer_position,
    pick_offered,
    rejects_all_offers,
)
from tests.conftest import NOW


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("none of these", True),
        ("None", True),
        ("nothing works", True),
        ("neither", True),
        ("not these", True),
        ("no good", True),
        ("not one of those", True),
        ("those don't work for me", True),
        ("they do not work", True),
        ("that won't work", True),
        ("the first one", False),
        ("is none available on friday?", False),  # the whole reply must turn offers down
        ("no", False),
        ("", False),
    ],
)
def test_rejecting_every_offer(text: str, expected: bool) -> None:
    assert rejects_all_offers(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("waitlist", True),
        ("put me on the wait list", True),
        ("Wait-list please", True),
        ("the waiting list", True),
        ("I can wait", False),
        ("list the times", False),
    ],
)
def test_asking_for_the_waitlist(text: str, expected: bool) -> None:
    assert asks_for_waitlist(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("another provider", True),
        ("a different doctor please", True),
        ("someone else", True),
        ("Other physician", True),
        ("is there a new dr", True),
        ("another time", False),
        ("dr patel", False),
    ],
)
def test_asking_for_another_provider(text: str, expected: bool) -> None:
    assert asks_for_other_provider(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no preference", True),
        ("No pref", True),
        ("anyone", True),
        ("any doctor", True),
        ("whoever", True),
        ("doesn't matter", True),
        ("I don't care", True),
        ("either", True),
        ("first available", True),
        ("nope", True),
        ("no", True),
        ("dr patel", False),
        ("nguyen", False),
        ("now", False),
    ],
)
def test_no_provider_preference(text: str, expected: bool) -> None:
    assert has_no_preference(text) is expected


@pytest.mark.parametrize(
    ("text", "count", "expected"),
    [
        ("first", 3, 0),
        ("1", 3, 0),
        ("one", 3, 0),
        ("the 1st", 3, 0),
        ("second", 3, 1),
        ("the middle one", 3, 1),
        ("option 2", 3, 1),
        ("#2", 3, 1),
        ("number two please", 3, 1),
        ("3rd", 3, 2),
        ("the third slot", 3, 2),
        ("last", 3, 2),
        ("the last one please", 2, 1),
        ("third", 2, None),  # only two were offered
        ("4", 3, None),
        ("first thing tomorrow", 3, None),  # not a whole-reply position
        ("", 3, None),
    ],
)
def test_a_position_among_the_offers(text: str, count: int, expected: int | None) -> None:
    assert offer_position(text, count) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the first one", 0),
        ("1", 0),
        ("second", 1),
        ("my 2 o'clock, the second", 1),
        ("the third", 2),
        ("fourth please", 3),
        ("4", 3),
        ("the one on tuesday", None),  # "one" is no position in a list of appointments
        ("first-aid visit", 0),
        ("cancel it", None),
    ],
)
def test_a_position_in_a_list_of_appointments(text: str, expected: int | None) -> None:
    assert list_position(text) == expected


THU = ["1@20261203T2000Z", "1@20261203T2100Z", "2@20261203T2200Z"]  # 3, 4 and 5 PM in New York
THU_TITLES = {
    THU[0]: "Thu, Dec 3 · 3:00 PM · Dr. Amara Patel",
    THU[1]: "Thu, Dec 3 · 4:00 PM · Dr. Amara Patel",
    THU[2]: "Thu, Dec 3 · 5:00 PM · Dr. Lucas Nguyen",
}


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (THU[1], THU[1]),
        ("Thu, Dec 3 · 5:00 PM · Dr. Lucas Nguyen", THU[2]),
        ("the one at 4", THU[1]),
        ("Thursday Dec 3 at 4pm", THU[1]),
        ("4:00 pm", THU[1]),
        ("at 3", THU[0]),
        ("3", THU[0]),
        ("5", THU[2]),
        ("first", THU[0]),
        ("the second one", THU[1]),
        ("2", THU[1]),
        ("last", THU[2]),
        ("the last one please", THU[2]),
        ("2 o'clock", None),
        ("thursday", None),
        ("thursday afternoon", None),
        ("friday", None),
        ("one more question", None),
        ("🙂", None),
    ],
)
def test_replies_pick_the_offer_they_mean_or_none(reply: str, expected: str | None) -> None:
    tz = ZoneInfo("America/New_York")
    assert pick_offered(reply, THU, THU_TITLES, tz, NOW) == expected
