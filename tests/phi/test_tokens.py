"""PHI tokens for Rasa, and tracker retention."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Channel, Conversation
from frontdesk.models import Practice
from frontdesk.phi.retention import purge_tracker_events
from frontdesk.phi.tokens import SHORT_KINDS, protect_for_bot, resolve_tokens
from tests import factories
from tests.conftest import NOW


@pytest.fixture
def practice(session: Session) -> Practice:
    """A practice of its own: tokens belong to conversations, not to any demo data."""
    return factories.practice(session)


def _conversation(session: Session, practice: Practice) -> Conversation:
    conversation, _ = conversations.start_conversation(
        session=session, practice=practice, channel=Channel.WEBCHAT
    )
    return conversation


def test_phi_becomes_tokens_that_only_this_conversation_resolves(
    session: Session, practice: Practice
) -> None:
    mine = _conversation(session, practice)
    other = _conversation(session, practice)
    text = "this is maria gonzalez, dob 4/12/1985, call 555-555-0101"
    protected = protect_for_bot(session=session, conversation_id=mine.id, text=text)
    assert protected == "this is PHI_NAME_1, dob PHI_DOB_1, call PHI_PHONE_1"
    assert resolve_tokens(session=session, conversation_id=mine.id, text=protected) == text
    # Another conversation cannot resolve them (a patient cannot fish for tokens).
    assert resolve_tokens(session=session, conversation_id=other.id, text=protected) == protected


def test_the_same_value_keeps_its_token_and_new_values_get_new_ones(
    session: Session, practice: Practice
) -> None:
    conversation = _conversation(session, practice)
    first = protect_for_bot(session=session, conversation_id=conversation.id, text="dob 4/12/1985")
    again = protect_for_bot(
        session=session, conversation_id=conversation.id, text="I said 4/12/1985 and 5/1/1990"
    )
    assert first == "dob PHI_DOB_1"
    assert again == "I said PHI_DOB_1 and PHI_DOB_2"


def test_booking_words_reach_the_bot_unchanged(session: Session, practice: Practice) -> None:
    conversation = _conversation(session, practice)
    for text in ("next tue after 3", "with Dr Patel please", "12/15 at 9am", "a new patient visit"):
        assert protect_for_bot(session=session, conversation_id=conversation.id, text=text) == text


def _tracker_db(path: Path, timestamps: list[float]) -> str:
    # The shape of Rasa 3.6's SQL tracker store `events` table.
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), "
            "type_name VARCHAR(255), timestamp FLOAT, intent_name VARCHAR(255), "
            "action_name VARCHAR(255), data TEXT)"
        )
        db.executemany(
            "INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?, ?, ?, ?)",
            [("c_1", "user", t, "{}") for t in timestamps],
        )
    return f"sqlite:///{path}"


def test_retention_deletes_only_events_older_than_the_period(tmp_path: Path) -> None:
    now = 1_800_000_000.0
    day = 86400.0
    url = _tracker_db(tmp_path / "tracker.db", [now - 40 * day, now - 31 * day, now - 2 * day])
    moment = datetime.fromtimestamp(now, UTC)
    assert purge_tracker_events(tracker_url=url, days=30, now=moment) == 2
    with sqlite3.connect(tmp_path / "tracker.db") as db:
        assert db.execute("SELECT timestamp FROM events").fetchall() == [(now - 2 * day,)]


def test_retention_before_rasa_created_its_store_does_nothing(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    assert purge_tracker_events(tracker_url=missing, days=30, now=NOW) == 0


def test_the_nlu_has_seen_every_token_kind_the_scrubber_writes() -> None:
    # A token the classifier never met is a guess: "my number is PHI_PHONE_1" once came out
    # as medical_emergency.
    examples = (Path(__file__).resolve().parents[2] / "bot/data/nlu/phi_tokens.yml").read_text()
    missing = [short for short in set(SHORT_KINDS.values()) if f"PHI_{short}_1" not in examples]
    assert missing == []
