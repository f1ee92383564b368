"""PHI planted over web chat reaches none of the stores it must not reach.

The patient's own messages stay in our database; Rasa's tracker store, every log file and the
knowledge base's Chroma directory must not contain any planted value.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.support.stack import Stack, bot_messages, texts

PLANTED = {
    "name": "Marisol Quintanilla",
    "dob": "03/14/1979",
    "phone": "555-555-0177",
    "email": "marisol.q@example.com",
    "address": "4417 Juniper Hollow Road",
    "mrn": "7720419",
    "member": "ZXQ884213377",
}
# A "thanks" between the planted messages keeps the bot from counting two misunderstandings
# in a row and handing the chat to staff (after which nothing more would reach Rasa).
MESSAGES = [
    f"hi this is {PLANTED['name'].lower()}, dob {PLANTED['dob']}",
    "thanks",
    f"my number is {PLANTED['phone']} and email {PLANTED['email']}",
    "thanks",
    f"I moved to {PLANTED['address']}, my MRN is {PLANTED['mrn']}",
    "thanks",
    f"my member id is {PLANTED['member']}",
    "do you take aetna?",
]


def _needles() -> list[bytes]:
    values = [*PLANTED.values(), *PLANTED["name"].split()]
    return [v.lower().encode() for v in values]


def _files_outside_our_database(data_dir: Path) -> list[Path]:
    skip = {"frontdesk.db", "frontdesk.db-wal", "frontdesk.db-shm"}
    return [
        p
        for p in data_dir.rglob("*")
        if p.is_file() and p.name not in skip and "models" not in p.relative_to(data_dir).parts
    ]


def test_planted_phi_reaches_neither_tracker_nor_logs_nor_vector_store(stack: Stack) -> None:
    chat = stack.chat()
    try:
        frames = []
        for message in MESSAGES:
            turn = chat.turn(message)
            frames += turn
            handed_off = [f for f in turn if f["type"] == "handoff" and f["owner"] == "staff"]
            assert not handed_off, f"handed to staff after {message!r}: {texts(frames)}"
        conversation_id = chat.session["conversation_id"]
    finally:
        chat.close()
    assert bot_messages(frames), "the bot answered"
    assert "Aetna" in texts(frames)  # the knowledge base answered the question

    # Our own database keeps the patient's words as written.
    with sqlite3.connect(stack.data_dir / "frontdesk.db") as db:
        stored = " ".join(
            row[0]
            for row in db.execute(
                "SELECT m.text FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                "WHERE c.public_id = ? AND m.role = 'patient'",
                (conversation_id,),
            )
        )
    assert PLANTED["dob"] in stored and PLANTED["email"] in stored

    # Rasa saw tokens, so the tracker has this conversation but none of the values.
    with sqlite3.connect(stack.data_dir / "rasa-tracker.db") as tracker:
        data = " ".join(
            row[0]
            for row in tracker.execute(
                "SELECT data FROM events WHERE sender_id = ?", (conversation_id,)
            )
        )
    assert "PHI_DOB_1" in data

    files = _files_outside_our_database(stack.data_dir)
    assert any(p.name.startswith("rasa-tracker") for p in files)
    assert any((stack.data_dir / "knowledge") in p.parents for p in files)
    leaks = [
        (str(path.relative_to(stack.data_dir)), needle.decode())
        for path in files
        for needle in _needles()
        if needle in path.read_bytes().lower()
    ]
    assert leaks == []
