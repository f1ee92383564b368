"""A patient books over web chat, end to end: widget protocol -> service -> Rasa (trained
model) -> custom actions -> database, and back."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx

from tests.support.stack import Stack, bot_messages, buttons, texts


def _choose(frames: list[dict[str, object]], title: str) -> dict[str, str]:
    for button in buttons(frames):
        if button["title"] == title:
            return button
    raise AssertionError(f"no button {title!r} in {buttons(frames)}")


def _appointment_ids(stack: Stack) -> set[int]:
    with sqlite3.connect(stack.data_dir / "frontdesk.db") as db:
        return {row[0] for row in db.execute("SELECT id FROM appointments")}


def test_patient_books_an_appointment_over_web_chat(stack: Stack) -> None:
    before = _appointment_ids(stack)  # other tests share this running stack
    chat = stack.chat()
    try:
        frames = chat.turn("hi, I'd like to book an appointment pls")
        assert "What kind of visit" in texts(frames)
        sick = _choose(frames, "Sick visit")
        frames = chat.turn(sick["title"], sick["payload"])
        assert "particular provider" in texts(frames)
        frames = chat.turn("no preference")
        assert "What day and time" in texts(frames)
        frames = chat.turn("next tue after 3")
        offers = [b for b in buttons(frames) if b["title"] != "None of these"]
        assert 1 <= len(offers) <= 3
        assert all(b["title"].startswith("Tue,") for b in offers)
        frames = chat.turn(offers[0]["title"], offers[0]["payload"])
        assert any(f["type"] == "identity_request" for f in frames)
        chat.send({"type": "identity", "full_name": "Jordan Sample", "date_of_birth": "1985-04-12"})
        chat.receive_until("otp_request")  # an existing record: linked once the texted code is back
        chat.send({"type": "otp", "code": stack.latest_code("+15555550101")})
        frames = chat.collect_turn()
        confirmation = texts(frames)
        assert "You're booked!" in confirmation
        assert "Sick visit with Dr." in confirmation
        assert "Riverside Main Clinic" in confirmation
        conversation_id = chat.session["conversation_id"]
    finally:
        chat.close()

    new = _appointment_ids(stack) - before
    assert len(new) == 1
    with sqlite3.connect(stack.data_dir / "frontdesk.db") as db:
        rows = db.execute(
            "SELECT a.start_at, p.last_name, a.status FROM appointments a "
            "JOIN patients p ON p.id = a.patient_id WHERE a.id = ?",
            (new.pop(),),
        ).fetchall()
    start, last_name, status = rows[0]
    assert (last_name, status) == ("Sample", "booked")
    local = (
        datetime.fromisoformat(start).replace(tzinfo=UTC).astimezone(ZoneInfo("America/New_York"))
    )
    assert local.weekday() == 1 and local.hour >= 15
    assert local.strftime("%-I:%M %p").lstrip("0") in offers[0]["title"]

    # The patient's identity went to our database, never to Rasa's tracker store.
    with sqlite3.connect(stack.data_dir / "rasa-tracker.db") as tracker:
        events = [
            json.loads(row[0])
            for row in tracker.execute(
                "SELECT data FROM events WHERE sender_id = ?", (conversation_id,)
            )
        ]
    texts_in_tracker = list(_strings(events))
    assert "next tue after 3" in texts_in_tracker  # the tracker did record this conversation
    leaked = [t for t in texts_in_tracker if re.search(r"jordan|sample|1985|04/12|4/12", t, re.I)]
    assert leaked == []


def _strings(value: object) -> Iterator[str]:
    """Every string inside a JSON value (numbers such as confidences are not text)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_emergency_words_get_911_and_nothing_else(stack: Stack) -> None:
    chat = stack.chat()
    try:
        frames = chat.turn("i have crushing chest pain and can't breathe")
    finally:
        chat.close()
    messages = bot_messages(frames)
    assert "911" in messages[0]["text"]
    # Then only the handoff notice: a person from the practice is alerted.
    assert len(messages) <= 2


def test_resuming_the_conversation_replays_it(stack: Stack) -> None:
    chat = stack.chat()
    try:
        chat.turn("are you a bot?")
        token = chat.session["resume_token"]
    finally:
        chat.close()
    again = stack.chat(resume=token)
    try:
        history = again.receive()
    finally:
        again.close()
    assert history["type"] == "history"
    assert [m["role"] for m in history["messages"]] == ["patient", "bot"]
    assert "virtual assistant" in history["messages"][1]["text"]


def test_health_reports_the_bot_ready(stack: Stack) -> None:
    health = httpx.get(f"{stack.base_url}/healthz").json()
    core = {key: health[key] for key in ("status", "database", "bot", "version")}
    assert core == {"status": "ok", "database": "ok", "bot": "ready", "version": "0.1.0"}
    # `frontdesk run` supervises its Rasa child, which has not had to be restarted.
    assert health["rasa"]["supervised"] is True and health["rasa"]["restarts"] == 0


def test_patient_verifies_with_a_code_and_cancels_after_hearing_the_policy(stack: Stack) -> None:
    riley = {"type": "identity", "full_name": "Riley Placeholder", "date_of_birth": "1978-01-05"}
    chat = stack.chat()
    try:
        # Book first: name + date of birth find the record, and the code texted to the phone
        # on file proves it is hers (an existing record is never linked on details alone).
        frames = chat.turn("I'd like to book an appointment")
        sick = _choose(frames, "Sick visit")
        chat.turn(sick["title"], sick["payload"])
        chat.turn("no preference")
        # Wednesday of next week: at least three days ahead whatever the day and hour, so the
        # cancellation is always inside the free window.
        frames = chat.turn("wednesday next week morning")
        offer = next(b for b in buttons(frames) if b["title"].startswith("Wed,"))
        frames = chat.turn(offer["title"], offer["payload"])
        assert any(f["type"] == "identity_request" for f in frames)
        chat.send(riley)
        otp = chat.receive_until("otp_request")[-1]
        assert "masked_phone" not in otp and "If we have a record" in str(otp["reason"])
        code = stack.latest_code("+15555550103")
        chat.send({"type": "otp", "code": code})
        assert "You're booked!" in texts(chat.collect_turn())

        # Changing it needs a verified patient: the code just typed still counts.
        frames = chat.turn("I need to cancel my appointment")
        question = texts(frames)
        assert "Cancel your Sick visit" in question
        assert "free until" in question  # the policy, before the patient says yes
        yes = _choose(frames, "Yes, cancel it")
        frames = chat.turn(yes["title"], yes["payload"])
        assert "is cancelled" in texts(frames)
        conversation_id = chat.session["conversation_id"]
    finally:
        chat.close()
    with sqlite3.connect(stack.data_dir / "frontdesk.db") as db:
        statuses = db.execute(
            "SELECT a.status FROM appointments a JOIN patients p ON p.id = a.patient_id "
            "WHERE p.last_name = 'Placeholder'"
        ).fetchall()
    assert ("cancelled",) in statuses
    with sqlite3.connect(stack.data_dir / "rasa-tracker.db") as tracker:
        events = [
            json.loads(row[0])
            for row in tracker.execute(
                "SELECT data FROM events WHERE sender_id = ?", (conversation_id,)
            )
        ]
    strings = list(_strings(events))
    assert not [t for t in strings if code in t or re.search(r"riley|placeholder|1978", t, re.I)]
