"""Drift: a fallback rate that rises over the model's first week shows on the insights page
and in `/metrics`; turns go in through the web chat socket, as in the queue tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from frontdesk.auth.models import StaffRole
from tests.auth.support import Console
from tests.doubles import ScriptedBot
from tests.review.support import make_review_console, wait_for_turns
from tests.review.test_queue import chat, scripted_nlu

METRICS_TOKEN = "metrics-test-token"


@pytest.fixture
def review(sqlite_engine: Engine, tmp_path: Path) -> Iterator[tuple[Console, ScriptedBot]]:
    yield from make_review_console(
        sqlite_engine,
        tmp_path,
        scripted_nlu,
        metrics_token=METRICS_TOKEN,
        drift_fallback_margin=0.2,
    )


def _banner(console: Console) -> bool:
    page = console.client.get("/console/insights")
    assert page.status_code == 200
    return 'data-testid="drift-banner"' in page.text


def _metrics(console: Console) -> str:
    auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    return console.client.get("/metrics", headers=auth).text


def _alert_gauge(console: Console) -> str:
    text = _metrics(console)
    (line,) = [x for x in text.splitlines() if x.startswith("frontdesk_nlu_drift_alert{")]
    return line


def test_a_rising_fallback_rate_raises_the_banner_and_the_gauge(
    review: tuple[Console, ScriptedBot],
) -> None:
    console, _ = review
    console.add_staff("pat@riverside.example", StaffRole.MANAGER)
    # The model's first week: one fallback in five turns (20 %).
    chat(console, "hi", "I want to book", "hello", "book a physical", "blorp")
    wait_for_turns(console, 5)
    console.clock.advance(days=9)
    chat(console, "hi again", "book please", "hello there", "blorp blorp", "book it")
    wait_for_turns(console, 10)
    assert console.sign_in("pat@riverside.example").status_code == 303
    assert not _banner(console)  # 20 % both times: no drift
    day_rate = 'frontdesk_nlu_fallback_rate{practice="riverside",window="day"} 0.2'
    assert day_rate in _metrics(console)
    assert _alert_gauge(console) == 'frontdesk_nlu_drift_alert{practice="riverside"} 0.0'

    console.clock.advance(days=1)
    chat(console, "blorp", "blorp blorp", "I want to book", "blorp blorp blorp")
    wait_for_turns(console, 14)
    assert console.sign_in("pat@riverside.example").status_code == 303  # a day later
    assert _banner(console)  # 75 % in the last day against 20 %
    assert _alert_gauge(console) == 'frontdesk_nlu_drift_alert{practice="riverside"} 1.0'
    page = console.client.get("/console/insights").text
    assert "75% of patient messages in the last 24 hours" in page and "against 20%" in page
