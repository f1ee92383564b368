"""The review queue fills from real web chat turns and staff label or dismiss its items."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, select

from frontdesk.audit.models import AuditEvent
from frontdesk.auth.models import StaffRole
from frontdesk.review.models import NluTurn, ReviewItem, ReviewReason, ReviewStatus
from frontdesk.review.recording import fast_scrub, store_new_turns, store_turn
from frontdesk.review.tracker import ParsedTurn
from tests.auth.support import Console
from tests.doubles import ScriptedBot
from tests.review.support import make_review_console, wait_for_turns

WS = "/chat/ws?practice=riverside"


def scripted_nlu(text: str) -> tuple[str, float, list[str]]:
    """What the NLU makes of the test's turns."""
    if "book" in text:
        return "book_appointment", 0.97, ["utter_ask_visit_type"]
    if "blorp" in text:
        return "nlu_fallback", 0.21, ["action_default_fallback"]
    if "refill thingy" in text:
        return "billing_question", 0.34, ["utter_billing_policy"]
    if "not what i said" in text.lower():
        return "deny", 0.81, ["utter_anything_else"]
    return "greet", 0.9, ["utter_greet"]


@pytest.fixture
def review(sqlite_engine: Engine, tmp_path: Path) -> Iterator[tuple[Console, ScriptedBot]]:
    yield from make_review_console(sqlite_engine, tmp_path, scripted_nlu)


def chat(console: Console, *texts: str) -> None:
    with console.client.websocket_connect(WS) as ws:
        assert ws.receive_json()["type"] == "session"
        for index, text in enumerate(texts):
            ws.send_text(json.dumps({"type": "message", "text": text, "client_id": f"c{index}"}))
            while not ((frame := ws.receive_json())["type"] == "typing" and not frame["active"]):
                assert frame["type"] != "error", frame


def test_misunderstood_turns_fill_the_queue_scrubbed(review: tuple[Console, ScriptedBot]) -> None:
    console, _ = review
    chat(
        console,
        "hi there",
        "blorp call me on 555-201-3344",
        "i need a refill thingy",
        "I want to book a physical",
        "That's not what I said",
    )
    turns = wait_for_turns(console, 5)
    assert [t.intent for t in turns] == [
        "greet",
        "nlu_fallback",
        "billing_question",
        "book_appointment",
        "deny",
    ]
    assert turns[1].fallback and not turns[0].fallback
    assert all("555-201-3344" not in t.text for t in turns)
    with console.db() as session:
        reasons = {item.nlu_turn_id: item.reason for item in session.scalars(select(ReviewItem))}
    assert reasons == {
        turns[1].id: ReviewReason.FALLBACK,
        turns[2].id: ReviewReason.LOW_CONFIDENCE,
        turns[3].id: ReviewReason.CORRECTED,  # the patient said the bot got it wrong
    }

    console.add_staff("desk@riverside.example", StaffRole.FRONT_DESK)
    assert console.sign_in("desk@riverside.example").status_code == 303
    page = console.client.get("/console/review")
    assert page.status_code == 200
    assert page.text.count('data-testid="review-item"') == 3
    assert "blorp" in page.text and "555-201-3344" not in page.text
    assert "201-3344" not in page.text and "3344" not in page.text
    assert 'value="request_human"' in page.text and 'value="new_topic"' in page.text


def _item_ids(console: Console) -> list[int]:
    page = console.client.get("/console/review")
    return [int(i) for i in re.findall(r'data-item="(\d+)"', page.text)]


def _items_by_text(console: Console) -> dict[str, int]:
    with console.db() as session:
        rows = session.execute(
            select(NluTurn.text, ReviewItem.id).join(NluTurn, NluTurn.id == ReviewItem.nlu_turn_id)
        ).all()
    return {str(text): int(item_id) for text, item_id in rows}


def test_labelling_dismissing_and_export_write_rasa_yaml(
    review: tuple[Console, ScriptedBot],
) -> None:
    console, _ = review
    chat(console, "blorp blorp", "i need a refill thingy", "hello blorp again")
    wait_for_turns(console, 3)
    console.add_staff("pat@riverside.example", StaffRole.MANAGER)
    assert console.sign_in("pat@riverside.example").status_code == 303
    by_text = _items_by_text(console)
    assert sorted(_item_ids(console)) == sorted(by_text.values())
    first, second, third = (
        by_text[text] for text in ("blorp blorp", "i need a refill thingy", "hello blorp again")
    )
    csrf = console.page_csrf("/console/review")

    refused = console.client.post(f"/console/review/{first}/label", data={"label": "launch"})
    assert refused.status_code == 403  # no CSRF token
    bad = console.client.post(
        f"/console/review/{first}/label", data={"label": "launch", "csrf_token": csrf}
    )
    assert bad.status_code == 400
    for item, label in ((first, "out_of_scope"), (second, "prescription_refill")):
        done = console.client.post(
            f"/console/review/{item}/label",
            data={"label": label, "csrf_token": csrf},
            follow_redirects=False,
        )
        assert done.status_code == 303
    console.client.post(f"/console/review/{third}/dismiss", data={"csrf_token": csrf})
    assert _item_ids(console) == []

    exported = console.client.post("/console/review/export", data={"csrf_token": csrf})
    assert "2 examples written" in exported.text
    written = console.settings.reviewed_nlu_file.read_text()
    assert written.startswith("# Written by `frontdesk nlu export-reviewed`")
    document = yaml.safe_load(written)
    assert document["version"] == "3.1"
    by_intent = {block["intent"]: block["examples"] for block in document["nlu"]}
    assert by_intent["prescription_refill"][0]["text"] == "i need a refill thingy"
    assert by_intent["out_of_scope"][0]["metadata"]["source"].startswith(f"review_item:{first} ")
    with console.db() as session:
        statuses = {i.id: i.status for i in session.scalars(select(ReviewItem))}
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert statuses[third] is ReviewStatus.DISMISSED
    assert actions.count("review.label") == 2 and "review.dismiss" in actions
    assert "review.export" in actions and "review.view" in actions


def test_billing_staff_cannot_open_the_queue(review: tuple[Console, ScriptedBot]) -> None:
    console, _ = review
    console.add_staff("bill@riverside.example", StaffRole.BILLING)
    assert console.sign_in("bill@riverside.example").status_code == 303
    assert console.client.get("/console/review").status_code == 403


def test_nothing_labelled_writes_no_file(review: tuple[Console, ScriptedBot]) -> None:
    console, _ = review
    console.add_staff("pat@riverside.example", StaffRole.MANAGER)
    assert console.sign_in("pat@riverside.example").status_code == 303
    csrf = console.page_csrf("/console/review")
    answer = console.client.post("/console/review/export", data={"csrf_token": csrf})
    assert "0 examples written" in answer.text
    assert not console.settings.reviewed_nlu_file.exists()


def test_text_rasa_holds_is_scrubbed_again_and_a_request_for_a_person_flags_the_turn_before(
    review: tuple[Console, ScriptedBot],
) -> None:
    console, bot = review
    chat(console, "I want to book")
    (first,) = wait_for_turns(console, 1)
    public_id = bot.turns[0][0]
    # Text that escaped tokenising (it never should): the recorder's own scrub catches it.
    leaked = ParsedTurn(
        message_id="leak-1",
        text="get me a person, my number is 555-201-3344",
        intent="request_human",
        confidence=0.93,
        model_id="fake-model",
        actions_after=("action_escalate",),
    )
    with console.db() as session:
        row = store_turn(
            session=session, public_id=public_id, turn=leaked, scrub=fast_scrub, threshold=0.5
        )
        assert row is not None and "3344" not in row.text and "get me a person" in row.text
        again = store_turn(
            session=session, public_id=public_id, turn=leaked, scrub=fast_scrub, threshold=0.5
        )
        assert again is None  # one row per Rasa message id
        flagged = session.scalar(select(ReviewItem).where(ReviewItem.nlu_turn_id == first.id))
        assert flagged is not None and flagged.reason is ReviewReason.CORRECTED


def test_a_tracker_read_again_stores_only_its_new_turns_in_one_go(
    review: tuple[Console, ScriptedBot],
) -> None:
    console, bot = review
    chat(console, "hi there")
    (recorded,) = wait_for_turns(console, 1)
    public_id = bot.turns[0][0]
    seen = ParsedTurn(
        message_id=recorded.rasa_message_id,
        text="hi there",
        intent="greet",
        confidence=0.9,
        model_id="fake-model",
        actions_after=("utter_greet",),
    )
    new = [
        ParsedTurn(
            message_id=f"later-{n}",
            text=text,
            intent=intent,
            confidence=confidence,
            model_id="fake-model",
            actions_after=(),
        )
        for n, (text, intent, confidence) in enumerate(
            [("blorp", "nlu_fallback", 0.21), ("I want to book", "book_appointment", 0.97)]
        )
    ]
    with console.db() as session:
        rows = store_new_turns(
            session=session,
            public_id=public_id,
            turns=[seen, *new],
            scrub=fast_scrub,
            threshold=0.5,
        )
        assert [row.rasa_message_id for row in rows] == ["later-0", "later-1"]
        again = store_new_turns(
            session=session,
            public_id=public_id,
            turns=[seen, *new],
            scrub=fast_scrub,
            threshold=0.5,
        )
        assert again == []
        queued = session.scalars(
            select(ReviewItem.reason).join(NluTurn).where(NluTurn.rasa_message_id.like("later-%"))
        )
        assert list(queued) == [ReviewReason.FALLBACK]
