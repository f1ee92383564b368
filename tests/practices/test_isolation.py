"""Two practices configured from the example files in one running service: each has its own
SMS number, widget, knowledge base, staff and console, and nothing of one is visible to the
other through HTTP (console pages and JSON), the console's live socket, the web chat socket
or the SMS webhooks. Rasa is replaced by an echoing double; the knowledge action runs
through the service's real action endpoint, as Rasa calls it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from frontdesk.app import create_app
from frontdesk.auth.models import StaffRole
from frontdesk.conversations.models import Conversation
from frontdesk.db import make_session_factory, session_scope
from frontdesk.practices.models import Practice
from frontdesk.settings import Settings
from frontdesk.sms.models import OutboundSms
from tests.auth.support import PASSWORD, insert_staff
from tests.conftest import AT_NOW, NOW
from tests.doubles import ScriptedBot, bot_domain
from tests.practices.test_practice_file import EXAMPLES
from tests.support.apps import app_of, settle_turns
from tests.support.commands import run
from tests.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, inbound_params, sign

TOKEN = "internal-test-token"
PUBLIC = "https://frontdesk.example.org"
SMS_URL = f"{PUBLIC}/webhooks/twilio/sms"
NUMBERS = {"riverside": "+15555550199", "maple-peds": "+15555550299"}  # the example files
ADMINS = {"riverside": "admin@riverside.example.org", "maple-peds": "admin@maple-peds.example"}
SITES = {"riverside": "http://localhost:8000", "maple-peds": "https://www.maple-peds.example"}
PATIENT_PHONES = {"riverside": "+15555550161", "maple-peds": "+15555550162"}
BIKES = b"# Bicycles\n\n## Bicycle rack\nLock your bicycle at the covered rack by the north door.\n"


QUESTION = "where can I lock my bicycle?"


def replies(text: str) -> list[dict[str, Any]]:
    """The bot echoes; the knowledge action is called as Rasa would (see `answer_in`)."""
    return [{"text": f"you said: {text}"}]


def answer_in(client: TestClient, conversation_id: str, question: str) -> dict[str, Any]:
    """What action_answer_question dispatches for a question in that conversation."""
    call = {
        "next_action": "action_answer_question",
        "sender_id": conversation_id,
        "version": "3.6.21",
        "domain": bot_domain(),
        "tracker": {
            "sender_id": conversation_id,
            "slots": {},
            "latest_message": {
                "intent": {"name": "ask_question"},
                "entities": [],
                "text": question,
            },
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }
    response = client.post(
        "/internal/rasa/actions", json=call, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200
    reply: dict[str, Any] = response.json()["responses"][0]
    return reply


@pytest.fixture
def client(database: Engine, tmp_path: Path) -> Iterator[TestClient]:
    for name in ("riverside.yaml", "pediatric.yaml"):
        copy = tmp_path / name
        copy.write_text(EXAMPLES.joinpath(name).read_text("utf-8"), encoding="utf-8")
        applied = run("practice", "apply", str(copy))
        assert applied.exit_code == 0, applied.output
    with session_scope(make_session_factory(database, clock=AT_NOW)) as db:
        for slug, email in ADMINS.items():
            practice = db.scalars(select(Practice).where(Practice.slug == slug)).one()
            insert_staff(db, practice.id, email, name=f"Admin of {slug}", role=StaffRole.ADMIN)
    settings = Settings(
        env="test",
        allowed_hosts="testserver",
        data_dir=tmp_path,
        database_url=str(database.url),
        internal_token=TOKEN,
        rasa_token="rasa-test-token",
        secret_key="secret-test-key",
        public_url=PUBLIC,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        sms_worker_enabled=False,
        reminders_enabled=False,
    )
    bot = ScriptedBot(replies)
    app = create_app(settings, engine=database, bot=bot, clock=lambda: NOW)
    bot.attach(app, TOKEN)
    with TestClient(app, base_url="https://testserver") as served:
        yield served


def browser(client: TestClient, slug: str) -> TestClient:
    """A console browser signed in as the practice's admin."""
    other = TestClient(app_of(client), base_url="https://testserver")
    page = other.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    signed = other.post(
        "/console/login",
        data={"email": ADMINS[slug], "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert signed.status_code == 303
    return other


def csrf(console: TestClient, path: str = "/console") -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]*)">', console.get(path).text)
    assert found is not None
    return found.group(1)


def text_in(client: TestClient, body: str, *, slug: str) -> str:
    """A signed SMS from the practice's patient to its number; the conversation it landed in."""
    params = inbound_params(body=body, from_=PATIENT_PHONES[slug], to=NUMBERS[slug])
    response = client.post(
        SMS_URL.removeprefix(PUBLIC),
        data=params,
        headers={"X-Twilio-Signature": sign(SMS_URL, params)},
    )
    assert response.status_code == 200
    with Session(app_of(client).state.services.engine) as db:
        return db.scalars(
            select(Conversation.public_id)
            .join(Practice, Practice.id == Conversation.practice_id)
            .where(Practice.slug == slug)
            .order_by(Conversation.id.desc())
            .limit(1)
        ).one()


def test_sms_numbers_route_to_their_own_practice(client: TestClient) -> None:
    river = text_in(client, "hello from the river", slug="riverside")
    maple = text_in(client, "hello from maple street", slug="maple-peds")
    assert river != maple
    with Session(app_of(client).state.services.engine) as db:
        rows = db.execute(
            select(Conversation.public_id, Practice.slug).join(
                Practice, Practice.id == Conversation.practice_id
            )
        ).all()
    assert dict(rows) == {river: "riverside", maple: "maple-peds"}
    settle_turns(app_of(client))  # the bot answers from the turn queue, after the webhook
    with Session(app_of(client).state.services.engine) as db:
        replies = db.execute(
            select(OutboundSms.to_phone, OutboundSms.from_phone, OutboundSms.body)
        ).all()
    # Each practice answers from its own number, to its own patient, with its own reply.
    assert sorted(replies) == sorted(
        [
            (PATIENT_PHONES["riverside"], NUMBERS["riverside"], "you said: hello from the river"),
            (
                PATIENT_PHONES["maple-peds"],
                NUMBERS["maple-peds"],
                "you said: hello from maple street",
            ),
        ]
    )


def test_the_console_never_shows_the_other_practice(client: TestClient) -> None:
    maple = text_in(client, "my maple question", slug="maple-peds")
    river_admin = browser(client, "riverside")
    maple_admin = browser(client, "maple-peds")
    assert maple_admin.get(f"/console/conversations/{maple}").status_code == 200
    token = csrf(river_admin)
    for path in (f"/console/conversations/{maple}", f"/console/api/conversations/{maple}/messages"):
        assert river_admin.get(path).status_code == 404, path
    for action in ("claim", "reply", "notes", "resolve", "hand-back"):
        refused = river_admin.post(
            f"/console/conversations/{maple}/{action}",
            data={"csrf_token": token, "text": "hi", "body": "hi"},
            follow_redirects=False,
        )
        assert refused.status_code == 404, action
    queue = river_admin.get("/console/api/queue").json()
    assert maple not in str(queue)
    staff_page = river_admin.get("/console/admin/staff").text
    assert ADMINS["riverside"] in staff_page and ADMINS["maple-peds"] not in staff_page
    audit = river_admin.get("/console/audit").text
    assert "maple" not in audit.lower()


def test_the_console_live_socket_carries_only_its_practice(client: TestClient) -> None:
    river_admin = browser(client, "riverside")
    with river_admin.websocket_connect(
        "wss://testserver/console/ws", headers={"origin": "https://testserver"}
    ) as ws:
        maple = text_in(client, "maple news", slug="maple-peds")
        river = text_in(client, "river news", slug="riverside")
        first = ws.receive_json()  # the maple event was published first, and never arrives
        assert first == {"type": "conversation.patient_message", "conversation_id": river}
        assert maple != river


def test_each_widget_answers_from_its_own_knowledge_base(client: TestClient) -> None:
    river_admin = browser(client, "riverside")
    knowledge = river_admin.get("/console/admin/knowledge").text
    assert 'data-document="parking.md"' in knowledge  # riverside's knowledge_folder
    maple_admin = browser(client, "maple-peds")
    assert 'data-document="parking.md"' not in maple_admin.get("/console/admin/knowledge").text
    uploaded = river_admin.post(
        "/console/admin/knowledge/documents/bikes.md",
        content=BIKES,
        headers={"X-CSRF-Token": csrf(river_admin), "Content-Type": "application/octet-stream"},
    )
    assert uploaded.status_code == 202
    assert river_admin.get("/console/admin/knowledge/status").json()["state"] == "done"
    assert maple_admin.get("/console/admin/knowledge/status").json()["state"] == "idle"

    answers = {}
    for slug in ("riverside", "maple-peds"):
        # The practice's website shows the chat frame; the frame, on our origin, chats.
        frame = client.get(f"/chat/frame?practice={slug}").headers["content-security-policy"]
        assert SITES[slug] in frame or f"{SITES[slug].rsplit(':', 1)[0]}:*" in frame
        site = {"origin": "http://testserver"}
        with client.websocket_connect(f"/chat/ws?practice={slug}", headers=site) as ws:
            hello = ws.receive_json()
            assert hello["practice"]["slug"] == slug
            answers[slug] = answer_in(client, hello["conversation_id"], QUESTION)
    assert answers["riverside"]["source"] == "bikes.md"
    assert answers["maple-peds"].get("source") != "bikes.md"
    assert "north door" not in str(answers["maple-peds"])
    # Neither widget runs on the other practice's website.
    maple_frame = client.get("/chat/frame?practice=maple-peds")
    assert SITES["riverside"] not in maple_frame.headers["content-security-policy"]
    with client.websocket_connect(
        "/chat/ws?practice=maple-peds", headers={"origin": SITES["riverside"]}
    ) as ws:
        assert ws.receive_json()["code"] == "origin_not_allowed"
