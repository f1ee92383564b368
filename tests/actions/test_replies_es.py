"""Spanish replies (actions.replies): one table per question, as in test_replies.py.

Patients write with or without accents, in texting style; each table also holds near misses
that must not count ("otra hora" is not another doctor, "las 3 y cuarto" not the fourth).
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
from tests.actions.test_replies import THU, THU_TITLES
from tests.conftest import NOW


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ninguna", True),
        ("Ninguno", True),
        ("ninguna de esas", True),
        ("ninguno de esos", True),
        ("ninguna de las tres", True),
        ("ninguna me sirve", True),
        ("esas no me sirven", True),
        ("esas horas no me quedan", True),
        ("no me sirve ninguna", True),
        ("no me sirven", True),
        ("nada de eso", True),
        ("ni una", True),
        ("la primera", False),
        ("no", False),  # the whole reply must turn the offers down
        ("¿no hay ninguna el viernes?", False),
        ("", False),
    ],
)
def test_rejecting_every_offer(text: str, expected: bool) -> None:
    assert rejects_all_offers(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lista de espera", True),
        ("póngame en la lista de espera", True),
        ("anotame en la lista", True),
        ("agrégueme en la lista por favor", True),
        ("puedo esperar", False),
        ("la lista de horarios", False),
    ],
)
def test_asking_for_the_waitlist(text: str, expected: bool) -> None:
    assert asks_for_waitlist(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("otro doctor", True),
        ("otra doctora por favor", True),
        ("un médico diferente", True),
        ("con otra persona", True),
        ("alguien más", True),
        ("alguien mas", True),
        ("con otro", True),
        ("una nueva doctora", True),
        ("otra hora", False),
        ("otro día", False),
        ("la doctora patel", False),
    ],
)
def test_asking_for_another_provider(text: str, expected: bool) -> None:
    assert asks_for_other_provider(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cualquiera", True),
        ("cualquier doctor", True),
        ("cualquier médico está bien", True),
        ("el que sea", True),
        ("quien sea", True),
        ("me da igual", True),
        ("me da lo mismo", True),
        ("da igual", True),
        ("no importa", True),
        ("no tengo preferencia", True),
        ("sin preferencia", True),
        ("ninguno en particular", True),
        ("el primero disponible", True),
        ("la doctora patel", False),
        ("nguyen", False),
        ("ahora", False),
    ],
)
def test_no_provider_preference(text: str, expected: bool) -> None:
    assert has_no_preference(text) is expected


@pytest.mark.parametrize(
    ("text", "count", "expected"),
    [
        ("la primera", 3, 0),
        ("el primero", 3, 0),
        ("primera", 3, 0),
        ("la 1ra", 3, 0),
        ("la segunda", 3, 1),
        ("el segundo", 3, 1),
        ("la segunda por favor", 3, 1),
        ("la segunda opción", 3, 1),
        ("opción 2", 3, 1),
        ("la número 2", 3, 1),
        ("la de en medio", 3, 1),
        ("la del medio", 3, 1),
        ("la tercera", 3, 2),
        ("el tercero", 3, 2),
        ("la última", 3, 2),
        ("el ultimo", 2, 1),
        ("la tercera", 2, None),  # only two were offered
        ("la una", 3, None),  # one o'clock, not the first
        ("la primera semana", 3, None),  # not a whole-reply position
        ("", 3, None),
    ],
)
def test_a_position_among_the_offers(text: str, count: int, expected: int | None) -> None:
    assert offer_position(text, count) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("la primera", 0),
        ("el segundo", 1),
        ("la segunda, la del martes", 1),
        ("la tercera", 2),
        ("la cuarta por favor", 3),
        ("la de las tres y cuarto", None),  # a quarter past three
        ("la del martes", None),
        ("cancelarla", None),
    ],
)
def test_a_position_in_a_list_of_appointments(text: str, expected: int | None) -> None:
    assert list_position(text) == expected


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("la de las 4", THU[1]),
        ("el jueves a las 4", THU[1]),
        ("el 3 de diciembre a las 5", THU[2]),
        ("a las 3", THU[0]),
        ("4:00 p. m.", THU[1]),
        ("la primera", THU[0]),
        ("la segunda", THU[1]),
        ("la última", THU[2]),
        ("el jueves", None),  # all three are on Thursday
        ("el jueves en la tarde", None),
        ("el viernes", None),
        ("🙂", None),
    ],
)
def test_replies_pick_the_offer_they_mean_or_none(reply: str, expected: str | None) -> None:
    tz = ZoneInfo("America/New_York")
    assert pick_offered(reply, THU, THU_TITLES, tz, NOW, language="es") == expected


def test_spanish_times_are_read_only_in_a_spanish_conversation() -> None:
    tz = ZoneInfo("America/New_York")
    assert pick_offered("la de las 4", THU, THU_TITLES, tz, NOW) is None
    assert pick_offered("la de las 4", THU, THU_TITLES, tz, NOW, language="es") == THU[1]
