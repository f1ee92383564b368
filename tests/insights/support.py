"""Driving the insights page like a manager and the bot like Rasa does, for the tests."""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Iterator
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from starlette.testclient import WebSocketTestSession

from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Conversation
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Practice
from frontdesk.scheduling.matching import active_visit_types
from frontdesk.scheduling.slots import find_open_slots
from frontdesk.scheduling.timeprefs import parse_time_preference
from tests.auth.support import Console
from tests.doubles import ScriptedBot
from tests.support.apps import services_of

WIDGET = "/chat/ws?practice=riverside"
_KPI = re.compile(r'data-kpi="(\w+)">([^<]*)<')


def kpis(console: Console, query: str = "") -> dict[str, str]:
    """The headline figures of the insights page as the manager sees them."""
    page = console.client.get("/console/insights" + query)
    assert page.status_code == 200, page.text[:500]
    return {name: value.strip() for name, value in _KPI.findall(page.text)}


def number(console: Console, name: str, query: str = "") -> int:
    """One whole-number headline figure."""
    return int(kpis(console, query)[name])


def csv_rows(console: Console, key: str, query: str = "") -> list[dict[str, str]]:
    """One table of the page, through its CSV export."""
    response = console.client.get(f"/console/insights/export/{key}.csv{query}")
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def scripted(console: Console) -> ScriptedBot:
    """The Rasa double of the running app."""
    bot = services_of(console.client).bot
    assert isinstance(bot, ScriptedBot)
    return bot


@contextlib.contextmanager
def chat(console: Console) -> Iterator[tuple[WebSocketTestSession, str]]:
    """A patient's web chat socket and its opaque conversation id."""
    with console.client.websocket_connect(WIDGET) as ws:
        hello = ws.receive_json()
        assert hello["type"] == "session"
        yield ws, hello["conversation_id"]


def say(ws: WebSocketTestSession, text: str, client_id: str) -> list[dict[str, Any]]:
    """Send a patient message and read frames up to the bot's (or staff notice's) reply."""
    ws.send_json({"type": "message", "text": text, "client_id": client_id})
    seen = []
    for _ in range(20):
        frame = ws.receive_json()
        seen.append(frame)
        if frame.get("type") == "message" and frame.get("role") == "bot":
            return seen
    raise AssertionError(f"no bot reply in {seen}")


def identify(console: Console, public_id: str) -> int:
    """Link the chat to a demo patient, as the widget's identity form does."""
    with console.db() as session:
        conversation = conversations.get_conversation(session=session, public_id=public_id)
        assert conversation is not None
        assert conversations.identify_patient(
            session=session,
            conversation=conversation,
            full_name="Jordan Sample",
            date_of_birth=date(1985, 4, 12),
            now=console.clock(),
        )
        assert conversation.patient_id is not None
        return conversation.patient_id


def open_slot_key(console: Console, visit_code: str = "sick-visit") -> str:
    """A bookable slot of the demo practice, as the bot offers it."""
    with console.db() as session:
        practice = session.get_one(Practice, console.practice_id)
        zone = ZoneInfo(practice.timezone)
        visit_type = next(
            v
            for v in active_visit_types(session=session, practice_id=practice.id)
            if v.code == visit_code
        )
        now = console.clock()
        slots = find_open_slots(
            session=session,
            practice=practice,
            visit_type=visit_type,
            preference=parse_time_preference("next week", now=now, tz=zone),
            now=now,
        )
        assert slots, "the demo practice has open time next week"
        return slots[0].key


def conversation_row(console: Console, public_id: str) -> Conversation:
    """The stored conversation."""
    with console.db() as session:
        row = session.scalar(select(Conversation).where(Conversation.public_id == public_id))
        assert row is not None
        session.expunge(row)
        return row


def demo_patient(console: Console) -> Patient:
    """The demo patient the tests talk as."""
    with console.db() as session:
        patient = session.scalars(select(Patient).where(Patient.last_name == "Sample")).first()
        assert patient is not None
        session.expunge(patient)
        return patient
