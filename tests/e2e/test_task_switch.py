"""Task switches and carried details over web chat, against the real stack (trained model).

A patient who leaves a reschedule at its "move it?" question and asks to cancel instead gets
the cancellation, and the appointment keeps its time; the opening messages' visit type and
day are used rather than asked again.
"""

from __future__ import annotations

import sqlite3

from tests.support.stack import Stack, buttons, texts

CASEY = {"type": "identity", "full_name": "Casey Example", "date_of_birth": "1990-09-30"}


def _casey_appointments(stack: Stack) -> list[tuple[str, str]]:
    with sqlite3.connect(stack.data_dir / "frontdesk.db") as db:
        rows = db.execute(
            "SELECT a.start_at, a.status FROM appointments a JOIN patients p "
            "ON p.id = a.patient_id WHERE p.last_name = 'Example' ORDER BY a.id"
        ).fetchall()
    return [(str(start), str(status)) for start, status in rows]


def test_cancel_asked_at_the_reschedules_question_cancels_and_moves_nothing(
    stack: Stack,
) -> None:
    chat = stack.chat()
    try:
        # Visit type and day in the opening message: only the provider is asked. Wednesday
        # of next week is days ahead whatever the day and hour, so slots are free.
        frames = chat.turn("can i book a sick visit wednesday next week morning")
        assert "What kind of visit" not in texts(frames)
        assert "particular provider" in texts(frames)
        frames = chat.turn("no preference")
        offers = [b for b in buttons(frames) if b["title"].startswith("Wed,")]
        assert offers, texts(frames)
        frames = chat.turn(offers[0]["title"], offers[0]["payload"])
        assert any(f["type"] == "identity_request" for f in frames)
        chat.send(CASEY)
        chat.receive_until("otp_request")  # an existing record: linked once its code is back
        chat.send({"type": "otp", "code": stack.latest_code("+15555550102")})
        assert "You're booked!" in texts(chat.collect_turn())
        [(booked_at, status)] = _casey_appointments(stack)
        assert status == "booked"

        # The day named when asking to move it is used (the code just typed still counts).
        frames = chat.turn("can you move me to thursday next week")
        assert "What day and time" not in texts(frames)
        offers = [b for b in buttons(frames) if b["title"].startswith("Thu,")]
        assert offers, texts(frames)
        frames = chat.turn(offers[0]["title"], offers[0]["payload"])
        assert "Move your Sick visit" in texts(frames)

        # A new request wins over the pending "move it?".
        frames = chat.turn("cancel my appointment please")
        question = texts(frames)
        assert "Cancel your Sick visit" in question and "Move your" not in question
        yes = next(b for b in buttons(frames) if b["title"] == "Yes, cancel it")
        frames = chat.turn(yes["title"], yes["payload"])
        assert "is cancelled" in texts(frames)
    finally:
        chat.close()
    assert _casey_appointments(stack) == [(booked_at, "cancelled")]
