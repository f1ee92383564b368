"""Proof that a real practice can adopt Frontdesk: the pediatric example file is applied to a
fresh database and 500 made-up patients are imported with the `frontdesk` command; then one
of them books by texting the practice's own number (signed Twilio webhooks in, the real
booking actions run through the service's action endpoint, SMS out to a Twilio fake) and
another over the practice's widget from its own website, while the demo practice keeps
answering on its number. Rasa's language understanding is replaced by
a script; everything the practice file and the import set up is real."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.testclient import WebSocketTestSession

from frontdesk.app import create_app
from frontdesk.conversations.models import Conversation
from frontdesk.db import make_session_factory, session_scope
from frontdesk.demo import DEMO_SMS_NUMBER, seed_demo
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Practice, Provider
from frontdesk.scheduling.models import Appointment, AppointmentStatus
from frontdesk.scheduling.slots import parse_slot_key
from frontdesk.settings import Settings
from frontdesk.sms.models import InboundSms, OutboundSms
from tests.conftest import AT_NOW, NOW
from tests.doubles import ScriptedBot
from tests.patients.test_importing import made_up_patients, write_csv
from tests.practices.test_practice_file import EXAMPLES
from tests.support.apps import app_of, settle_turns
from tests.support.commands import run
from tests.twilio_fake import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    TwilioFake,
    inbound_params,
    running_fake,
    sign,
)

TOKEN = "internal-test-token"
PUBLIC = "https://frontdesk.example.org"
SMS_URL = f"{PUBLIC}/webhooks/twilio/sms"
PEDS_NUMBER = "+15555550299"  # sms_numbers in pediatric.yaml
JORDAN = "+15555550101"  # a demo patient


class Script:
    """What Rasa's booking form would do at each turn, as the service's real actions."""

    def __init__(self) -> None:
        self.chosen = ""

    def __call__(self, text: str) -> list[dict[str, Any]]:
        """The replies (or actions to run) for one patient turn."""
        return self.replies(text)

    def replies(self, text: str) -> list[dict[str, Any]]:
        """See the class."""
        return _script(text, self.chosen)


def _script(text: str, chosen: str) -> list[dict[str, Any]]:
    if text == "I need a sick visit":
        return [
            {
                "action": "action_ask_slot_choice",
                "intent": "book_appointment",
                "slots": {"visit_type": "sick-visit", "time_preference": "monday morning"},
            }
        ]
    if text.startswith("/inform"):  # a numbered reply, turned into the button's payload
        return [{"custom": {"type": "identity_request", "purpose": "book", "channel": "sms"}}]
    if text == "/identity_provided":
        return [
            {
                "action": "action_book_appointment",
                "intent": "inform",
                "slots": {"visit_type": "sick-visit", "slot_choice": chosen},
            }
        ]
    return [{"text": f"you said: {text}"}]


@pytest.fixture
def fake() -> Iterator[TwilioFake]:
    with running_fake() as served:
        yield served


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def bot(script: Script) -> ScriptedBot:
    return ScriptedBot(script)


@pytest.fixture
def client(
    database: Engine, fake: TwilioFake, bot: ScriptedBot, tmp_path: Path
) -> Iterator[TestClient]:
    with session_scope(make_session_factory(database, clock=AT_NOW)) as db:
        seed_demo(db)
    peds = tmp_path / "pediatric.yaml"
    peds.write_text(EXAMPLES.joinpath("pediatric.yaml").read_text("utf-8"), encoding="utf-8")
    applied = run("practice", "apply", str(peds))
    assert applied.exit_code == 0, applied.output
    csv_file = write_csv(tmp_path / "children.csv", made_up_patients(500, date(2010, 1, 1)))
    imported = run("patients", "import", str(csv_file), "--practice", "maple-peds")
    assert "500 row(s): 500 created" in imported.output, imported.output
    settings = Settings(
        env="test",
        allowed_hosts="testserver",  # the TestClient's Host header
        data_dir=tmp_path,
        database_url=str(database.url),
        internal_token=TOKEN,
        rasa_token="rasa-test-token",
        secret_key="secret-test-key",
        public_url=PUBLIC,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_api_base_url=fake.url,
        sms_worker_enabled=False,
        reminders_enabled=False,
    )
    app = create_app(settings, engine=database, bot=bot, clock=lambda: NOW)
    bot.attach(app, TOKEN)
    with TestClient(app) as served:
        yield served


def text_in(client: TestClient, body: str, *, from_: str, to: str) -> None:
    params = inbound_params(body=body, from_=from_, to=to)
    response = client.post(
        SMS_URL.removeprefix(PUBLIC),
        data=params,
        headers={"X-Twilio-Signature": sign(SMS_URL, params)},
    )
    assert response.status_code == 200
    settle_turns(app_of(client))  # the dispatcher hands the queued turn to the bot
    app_of(client).state.sms.worker.drain()


def test_an_imported_patient_books_by_texting_the_pediatric_practice(
    client: TestClient, database: Engine, fake: TwilioFake, bot: ScriptedBot, script: Script
) -> None:
    with Session(database) as db:
        peds = db.scalars(select(Practice).where(Practice.slug == "maple-peds")).one()
        child = db.scalars(select(Patient).where(Patient.external_id == "MRN00004")).one()
        peds_providers = set(db.scalars(select(Provider.id).where(Provider.practice_id == peds.id)))
    assert child.practice_id == peds.id and child.phone is not None

    text_in(client, "I need a sick visit", from_=child.phone, to=PEDS_NUMBER)
    [offer] = fake.bodies_to(child.phone)
    offered = next(
        event["value"]
        for _sender, events in bot.action_events
        for event in events
        if event.get("name") == "offered_slots"
    )
    assert offered and {parse_slot_key(key)[0] for key in offered} <= peds_providers
    script.chosen = offered[0]
    assert "1" in offer  # the offered times, numbered for a reply by digit
    text_in(client, "1", from_=child.phone, to=PEDS_NUMBER)
    assert json.loads(bot.turns[-1][1].removeprefix("/inform"))["slot_choice"] == offered[0]
    assert "date of birth" in fake.bodies_to(child.phone)[-1]
    text_in(client, child.date_of_birth.strftime("%m/%d/%Y"), from_=child.phone, to=PEDS_NUMBER)
    assert bot.turns[-1][1] == "/identity_provided"

    with Session(database) as db:
        [booked] = db.scalars(select(Appointment).where(Appointment.patient_id == child.id)).all()
        assert booked.practice_id == peds.id and booked.provider_id in peds_providers
        assert booked.status is AppointmentStatus.BOOKED
        assert (booked.provider_id, booked.start_at) == parse_slot_key(offered[0])
        conversation = db.scalars(
            select(Conversation).where(Conversation.patient_id == child.id)
        ).one()
        assert conversation.practice_id == peds.id
        receipts = db.scalars(select(InboundSms).where(InboundSms.to_phone == PEDS_NUMBER)).all()
        assert {r.practice_id for r in receipts} == {peds.id}
    assert all(m["from"] == PEDS_NUMBER for m in fake.messages if m["to"] == child.phone)

    # The demo practice still answers on its own number, as its own practice.
    text_in(client, "hello", from_=JORDAN, to=DEMO_SMS_NUMBER)
    assert fake.bodies_to(JORDAN) == ["you said: hello"]
    with Session(database) as db:
        riverside = db.scalars(select(Practice.id).where(Practice.slug == "riverside")).one()
        receipt = db.scalars(select(InboundSms).where(InboundSms.from_phone == JORDAN)).one()
        assert receipt.practice_id == riverside


def turn(ws: WebSocketTestSession, frame: dict[str, Any]) -> list[dict[str, Any]]:
    """Send a frame; collect frames until the bot's turn ends (or an error arrives)."""
    ws.send_text(json.dumps(frame))
    frames = []
    while True:
        received = ws.receive_json()
        frames.append(received)
        if received["type"] == "error" or (received["type"] == "typing" and not received["active"]):
            return frames


def _latest_code(database: Engine, phone: str | None) -> str:
    """The one-time code last queued for `phone`, read from the outbox as the phone would."""
    with Session(database) as db:
        body = db.scalars(
            select(OutboundSms.body)
            .where(OutboundSms.kind == "otp", OutboundSms.to_phone == phone)
            .order_by(OutboundSms.id.desc())
            .limit(1)
        ).one()
    found = re.search(r"\b(\d{6})\b", body)
    assert found is not None
    return found.group(1)


def test_an_imported_patient_books_over_the_widget_on_the_practices_website(
    client: TestClient, database: Engine, bot: ScriptedBot, script: Script
) -> None:
    with Session(database) as db:
        peds = db.scalars(select(Practice).where(Practice.slug == "maple-peds")).one()
        child = db.scalars(select(Patient).where(Patient.external_id == "MRN00011")).one()
    # The practice's website (in widget_origins) may show the chat frame, whose page on our
    # origin opens the socket.
    frame = client.get("/chat/frame?practice=maple-peds")
    assert "https://www.maple-peds.example" in frame.headers["content-security-policy"]
    site = {"origin": "http://testserver"}
    with client.websocket_connect("/chat/ws?practice=maple-peds", headers=site) as ws:
        hello = ws.receive_json()
        assert hello["practice"] == {"slug": "maple-peds", "name": "Maple Street Pediatrics"}
        frames = turn(ws, {"type": "message", "text": "I need a sick visit"})
        [offer] = [f for f in frames if f["type"] == "message" and f.get("buttons")]
        first = offer["buttons"][0]
        script.chosen = json.loads(first["payload"].removeprefix("/inform"))["slot_choice"]
        frames = turn(ws, {"type": "message", "text": first["title"], "payload": first["payload"]})
        assert any(f["type"] == "identity_request" for f in frames)
        identity = {
            "type": "identity",
            "full_name": f"{child.first_name} {child.last_name}",
            "date_of_birth": child.date_of_birth.isoformat(),
        }
        ws.send_text(json.dumps(identity))
        while ws.receive_json()["type"] != "otp_request":
            pass  # an existing record: linked once the code texted to its phone is back
        turn(ws, {"type": "otp", "code": _latest_code(database, child.phone)})
    assert bot.turns[-1] == (hello["conversation_id"], "/identity_provided")
    with Session(database) as db:
        [booked] = db.scalars(select(Appointment).where(Appointment.patient_id == child.id)).all()
        assert booked.practice_id == peds.id
        assert (booked.provider_id, booked.start_at) == parse_slot_key(script.chosen)
    # Another website (here the demo's test pages) cannot embed this practice's chat.
    assert (
        "localhost"
        not in client.get("/chat/frame?practice=maple-peds").headers["content-security-policy"]
    )
    refused = {"origin": "http://localhost:8000"}
    with client.websocket_connect("/chat/ws?practice=maple-peds", headers=refused) as ws:
        error = ws.receive_json()
        assert (error["type"], error["code"]) == ("error", "origin_not_allowed")
