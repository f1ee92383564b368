"""The staff console through HTTP and WebSockets: a patient escalates in the web chat (the
bot double runs the real action_escalate through the action endpoint), staff see it live,
claim, reply, note, hand back and resolve; every view is audited; patient text stays inert."""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from frontdesk import texts as service_texts
from frontdesk.audit.models import AuditEvent
from frontdesk.conversations import handoff
from frontdesk.conversations.models import (
    Conversation,
    ConversationNote,
    ConversationStatus,
    EscalationReason,
    Message,
    Owner,
    Role,
)
from frontdesk.events import Event
from frontdesk.patients.models import Patient
from frontdesk.practices.models import Practice
from tests import factories
from tests.auth.support import Console, make_console
from tests.doubles import DownBot, ScriptedBot
from tests.support.apps import portal_of, services_of

WIDGET = "/chat/ws?practice=riverside"
# The session cookie is Secure: the test client sends it over wss only.
LIVE = "wss://testserver/console/ws"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def replies(text: str) -> list[dict[str, Any]]:
    """The bot: "person" escalates through action_escalate, anything else is echoed."""
    if "person" in text:
        return [{"action": "action_escalate", "intent": "request_human"}]
    return [{"text": f"bot heard: {text}"}]


@pytest.fixture
def console(sqlite_engine: Engine, tmp_path: Path) -> Iterator[Console]:
    yield from make_console(sqlite_engine, tmp_path)


@pytest.fixture
def bot(console: Console) -> ScriptedBot:
    double = services_of(console.client).bot
    assert isinstance(double, ScriptedBot)
    double.replies = replies
    return double


@pytest.fixture
def desk(console: Console) -> int:
    staff_id = console.add_staff("morgan@riverside.example", name="Morgan Desk")
    assert console.sign_in("morgan@riverside.example").status_code == 303
    return staff_id


def frames_until(ws: WebSocketTestSession, kind: str, limit: int = 20) -> list[dict[str, Any]]:
    """Frames up to and including the first of type `kind`."""
    seen = []
    for _ in range(limit):
        frame = ws.receive_json()
        seen.append(frame)
        if frame.get("type") == kind:
            return seen
    raise AssertionError(f"no {kind} frame in {seen}")


def say(ws: WebSocketTestSession, text: str, client_id: str) -> list[dict[str, Any]]:
    ws.send_json({"type": "message", "text": text, "client_id": client_id})
    return frames_until(ws, "ack")


_OPEN: list[Any] = []


@pytest.fixture(autouse=True)
def _close_patient_sockets(console: Console) -> Iterator[None]:
    """Close every patient socket a test opened, even when it fails half-way."""
    yield
    while _OPEN:
        connection = _OPEN.pop()
        with contextlib.suppress(Exception):
            connection.__exit__(None, None, None)


def open_chat(console: Console) -> tuple[WebSocketTestSession, str]:
    connection = console.client.websocket_connect(WIDGET)
    ws = connection.__enter__()
    _OPEN.append(connection)
    hello = ws.receive_json()
    assert hello["type"] == "session"
    return ws, hello["conversation_id"]


def escalate_from_chat(console: Console, bot: ScriptedBot) -> tuple[WebSocketTestSession, str]:
    """A patient asks for a person; returns their socket (notice read) and conversation id."""
    ws, public_id = open_chat(console)
    say(ws, "can I talk to a person", "p1")
    notice = frames_until(ws, "message")[-1]
    assert notice["role"] == "bot"
    assert "person from our team" in notice["text"]
    assert frames_until(ws, "handoff")[-1]["owner"] == "staff"
    return ws, public_id


def csrf(console: Console) -> str:
    return console.page_csrf("/console")


def post(console: Console, path: str, **fields: str) -> Any:
    return console.client.post(
        path, data={"csrf_token": csrf(console), **fields}, follow_redirects=False
    )


def audits(console: Console, action: str) -> list[AuditEvent]:
    with console.db() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            )
        )


def conversation_row(console: Console, public_id: str) -> Conversation:
    with console.db() as session:
        row = session.scalar(select(Conversation).where(Conversation.public_id == public_id))
        assert row is not None
        return row


def test_the_console_needs_a_signed_in_staff_member(console: Console) -> None:
    page = console.client.get("/console", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/console/login")
    assert console.client.get("/console/api/queue").status_code == 401
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        console.client.websocket_connect(LIVE) as ws,
    ):
        ws.receive_json()
    assert refused.value.code == 4401


def test_an_escalation_reaches_the_patient_the_queue_and_a_live_console(
    console: Console, bot: ScriptedBot, desk: int
) -> None:
    with console.client.websocket_connect(LIVE) as live:
        _patient, public_id = escalate_from_chat(console, bot)
        assert live.receive_json() == {
            "type": "conversation.patient_message",
            "conversation_id": public_id,
        }
        assert live.receive_json() == {
            "type": "conversation.escalated",
            "conversation_id": public_id,
        }
        assert "pause" in str(bot.action_events[-1][1])
    queue = console.client.get("/console/api/queue").json()["items"]
    assert [(i["conversation_id"], i["reason"], i["channel"]) for i in queue] == [
        (public_id, "Asked for a person", "Web chat")
    ]
    page = console.client.get("/console")
    assert page.status_code == 200
    assert f'data-conversation-id="{public_id}"' in page.text
    assert "Asked for a person" in page.text


def test_while_staff_own_it_the_bot_hears_nothing_and_the_console_is_told(
    console: Console, bot: ScriptedBot, desk: int
) -> None:
    patient, public_id = escalate_from_chat(console, bot)
    turns = len(bot.turns)
    with console.client.websocket_connect(LIVE) as live:
        say(patient, "hello? anyone there", "p2")
        assert live.receive_json()["type"] == "conversation.patient_message"
    assert len(bot.turns) == turns
    # The bot's late messages for this conversation are dropped, not shown to the patient.
    late = console.client.post(
        "/internal/rasa/callback",
        headers={"Authorization": "Bearer internal-test-token"},
        json={"recipient_id": public_id, "text": "late bot text"},
    )
    assert late.json() == {"stored": False}


def test_claim_reply_note_and_hand_back(console: Console, bot: ScriptedBot, desk: int) -> None:
    patient, public_id = escalate_from_chat(console, bot)
    page = f"/console/conversations/{public_id}"

    claimed = post(console, f"{page}/claim")
    assert (claimed.status_code, claimed.headers["location"]) == (303, f"{page}?done=claimed")
    assert frames_until(patient, "handoff")[-1] == {
        "type": "handoff",
        "owner": "staff",
        "sender_name": "Morgan Desk",
    }
    assert (public_id, [{"event": "pause"}]) in bot.tracker_events

    view = console.client.get(f"{page}?done=claimed")
    assert 'id="reply-text"' in view.text and "Reply to patient" in view.text
    assert "Hand back to bot" in view.text and "Resolve" in view.text

    with console.client.websocket_connect(LIVE) as live:
        sent = post(console, f"{page}/reply", text="Hi, this is Morgan. How can I help? 🙂")
        assert sent.status_code == 303
        assert live.receive_json() == {
            "type": "conversation.staff_reply",
            "conversation_id": public_id,
        }
    reply = frames_until(patient, "message")[-1]
    assert (reply["role"], reply["sender_name"], reply["text"]) == (
        "staff",
        "Morgan Desk",
        "Hi, this is Morgan. How can I help? 🙂",
    )

    noted = post(console, f"{page}/notes", text="Patient sounded anxious")
    assert noted.status_code == 303
    with console.db() as session:
        convo = session.scalar(select(Conversation).where(Conversation.public_id == public_id))
        assert convo is not None and convo.first_reply_at is not None
        assert [n.text for n in session.scalars(select(ConversationNote))] == [
            "Patient sounded anxious"
        ]
        texts = [m.text for m in session.scalars(select(Message).where(Message.role == Role.STAFF))]
        assert texts == ["Hi, this is Morgan. How can I help? 🙂"]  # the note never went out
    assert "Patient sounded anxious" in console.client.get(page).text

    back = post(console, f"{page}/hand-back")
    assert back.status_code == 303
    assert bot.tracker_events[-1] == (
        public_id,
        [{"event": "resume"}, {"event": "action", "name": "action_listen"}],
    )
    assert frames_until(patient, "message")[-1]["text"] == service_texts.text(
        handoff.HAND_BACK_TEXT, "en"
    )
    assert frames_until(patient, "handoff")[-1]["owner"] == "bot"
    # The bot answers the next message again.
    say(patient, "I want to book", "p3")
    assert frames_until(patient, "message")[-1]["text"] == "bot heard: I want to book"
    assert conversation_row(console, public_id).status is ConversationStatus.PENDING
    assert console.client.get("/console/api/queue").json()["items"] == []


def test_views_and_actions_are_audited_with_a_reason(
    console: Console, bot: ScriptedBot, desk: int
) -> None:
    _patient, public_id = escalate_from_chat(console, bot)
    with console.db() as session:
        convo = session.scalar(select(Conversation).where(Conversation.public_id == public_id))
        patient_row = session.scalar(select(Patient))
        assert convo is not None and patient_row is not None
        convo.patient_id = patient_row.id
    page = f"/console/conversations/{public_id}"
    console.client.get(page)
    post(console, f"{page}/claim")
    console.client.get(page)
    views = audits(console, "conversation.view")
    assert [(e.actor_id, e.subject_id, e.reason) for e in views] == [
        (desk, public_id, "queue triage"),
        (desk, public_id, "claimed"),
    ]
    patient_views = audits(console, "patient.view")
    assert [(e.subject_type, e.subject_id, e.reason) for e in patient_views] == [
        ("patient", str(patient_row.id), "queue triage"),
        ("patient", str(patient_row.id), "claimed"),
    ]
    assert [e.subject_id for e in audits(console, "conversation.claim")] == [public_id]
    # The patient's details sit beside the transcript only on the audited page.
    assert patient_row.last_name in console.client.get(page).text
    assert patient_row.last_name not in console.client.get("/console").text


def test_patient_text_renders_inert(console: Console, bot: ScriptedBot, desk: int) -> None:
    patient, public_id = escalate_from_chat(console, bot)
    say(patient, XSS, "p2")
    page = console.client.get(f"/console/conversations/{public_id}").text
    assert XSS not in page
    assert html.escape(XSS, quote=False) in page.replace("&#34;", '"').replace("&#39;", "'")
    assert "<script>alert" not in page
    live = console.client.get(f"/console/api/conversations/{public_id}/messages").json()
    assert XSS in [e["text"] for e in live["entries"]]  # JSON carries it as plain text


def test_a_second_claim_is_refused_and_only_the_assignee_replies(
    console: Console, bot: ScriptedBot, desk: int
) -> None:
    _patient, public_id = escalate_from_chat(console, bot)
    page = f"/console/conversations/{public_id}"
    assert post(console, f"{page}/claim").status_code == 303
    console.add_staff("riley@riverside.example", name="Riley Desk")
    console.client.cookies.clear()  # another browser
    assert console.sign_in("riley@riverside.example").status_code == 303
    again = post(console, f"{page}/claim")
    assert again.status_code == 409
    assert "already claimed" in again.text
    refused = post(console, f"{page}/reply", text="I'll take it")
    assert refused.status_code == 409
    assert "I&#39;ll take it" in refused.text  # the draft is kept
    assert post(console, f"{page}/resolve").status_code == 409
    assert conversation_row(console, public_id).assignee_staff_id == desk


def test_a_too_long_reply_keeps_the_draft(console: Console, bot: ScriptedBot, desk: int) -> None:
    _patient, public_id = escalate_from_chat(console, bot)
    page = f"/console/conversations/{public_id}"
    post(console, f"{page}/claim")
    draft = "x" * (handoff.MAX_REPLY_CHARS + 1)
    answer = post(console, f"{page}/reply", text=draft)
    assert answer.status_code == 409
    assert "please keep it under" in answer.text
    assert draft in answer.text


def test_forms_without_the_csrf_token_are_refused(
    console: Console, bot: ScriptedBot, desk: int
) -> None:
    _patient, public_id = escalate_from_chat(console, bot)
    refused = console.client.post(
        f"/console/conversations/{public_id}/claim", data={}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert conversation_row(console, public_id).assignee_staff_id is None


def test_hand_back_keeps_the_conversation_when_the_bot_is_down(
    console: Console, bot: ScriptedBot, desk: int
) -> None:
    _patient, public_id = escalate_from_chat(console, bot)
    page = f"/console/conversations/{public_id}"
    post(console, f"{page}/claim")
    services_of(console.client).bot = DownBot()
    answer = post(console, f"{page}/hand-back")
    assert answer.status_code == 503
    assert "stays with you" in answer.text
    row = conversation_row(console, public_id)
    assert (row.owner, row.assignee_staff_id) == (Owner.STAFF, desk)


def test_resolve_closes_the_conversation(console: Console, bot: ScriptedBot, desk: int) -> None:
    patient, public_id = escalate_from_chat(console, bot)
    page = f"/console/conversations/{public_id}"
    with console.client.websocket_connect(LIVE) as live:
        assert post(console, f"{page}/resolve").status_code == 303
        assert live.receive_json() == {
            "type": "conversation.resolved",
            "conversation_id": public_id,
        }
    row = conversation_row(console, public_id)
    assert (row.owner, row.status) == (Owner.BOT, ConversationStatus.RESOLVED)
    assert frames_until(patient, "handoff")[-1]["owner"] == "bot"


def test_other_practices_are_invisible(console: Console, bot: ScriptedBot, desk: int) -> None:
    _patient, public_id = escalate_from_chat(console, bot)
    with console.db() as session:
        other_id = factories.practice(session, slug="elsewhere", name="Elsewhere Clinic").id
    console.add_staff("sam@elsewhere.example", name="Sam Else", practice_id=other_id)
    console.client.cookies.clear()  # another browser
    assert console.sign_in("sam@elsewhere.example").status_code == 303
    assert console.client.get("/console/api/queue").json()["items"] == []
    assert console.client.get(f"/console/conversations/{public_id}").status_code == 404
    assert post(console, f"/console/conversations/{public_id}/claim").status_code == 404
    services = services_of(console.client)
    with console.client.websocket_connect(LIVE) as live:
        # Publish from the app's own loop, as the web chat does.
        portal_of(console.client).call(
            services.events.publish,
            Event("conversation.escalated", console.practice_id, {"conversation_id": public_id}),
        )
        portal_of(console.client).call(
            services.events.publish,
            Event("conversation.escalated", other_id, {"conversation_id": "c_theirs"}),
        )
        assert live.receive_json() == {
            "type": "conversation.escalated",
            "conversation_id": "c_theirs",
        }


def test_the_live_socket_refuses_other_sites(console: Console, desk: int) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        console.client.websocket_connect(LIVE, headers={"origin": "https://evil.example"}) as ws,
    ):
        ws.receive_json()
    assert refused.value.code == 4403


def test_live_message_fetch_returns_only_new_messages(
    console: Console, bot: ScriptedBot, desk: int
) -> None:
    patient, public_id = escalate_from_chat(console, bot)
    url = f"/console/api/conversations/{public_id}/messages"
    first = console.client.get(url).json()
    last = max(e["id"] for e in first["entries"])
    assert (first["owner"], first["status"]) == ("staff", "open")
    assert console.client.get(url, params={"after": last}).json()["entries"] == []
    say(patient, "still here", "p2")
    fresh = console.client.get(url, params={"after": last}).json()["entries"]
    assert [(e["kind"], e["text"]) for e in fresh] == [("patient", "still here")]
    assert [e.reason for e in audits(console, "conversation.view")].count("live update") == 2


def test_an_escalated_sms_style_reason_is_labelled(console: Console, desk: int) -> None:
    with console.db() as session:
        from frontdesk.conversations import service as conversations
        from frontdesk.conversations.models import Channel

        practice = session.get_one(Practice, console.practice_id)
        convo, _ = conversations.start_conversation(
            session=session, practice=practice, channel=Channel.SMS
        )
        handoff.escalate(
            session=session,
            conversation=convo,
            reason=EscalationReason.EMERGENCY,
            now=console.clock(),
        )
    console.clock.advance(minutes=7)
    [item] = console.client.get("/console/api/queue").json()["items"]
    assert (item["reason"], item["channel"], item["urgent"], item["waiting"]) == (
        "Emergency words",
        "SMS",
        True,
        "7 min",
    )
    assert re.search(r"Urgent", console.client.get("/console").text)


def test_an_sms_patient_gets_the_reply_by_text_and_opt_out_shows_beside_it(
    console: Console, bot: ScriptedBot, desk: int
) -> None:
    from frontdesk.sms.consent import record_consent
    from frontdesk.sms.models import OutboundSms
    from frontdesk.sms.threads import sms_thread

    with console.db() as session:
        patient_row = session.scalar(select(Patient).where(Patient.phone == "+15555550103"))
        assert patient_row is not None
        thread = sms_thread(session=session, practice_id=console.practice_id, phone="+15555550103")
        assert thread is not None
        convo = session.get_one(Conversation, thread.conversation_id)
        convo.patient_id = patient_row.id
        handoff.escalate(
            session=session, conversation=convo, reason=EscalationReason.REFILL, now=console.clock()
        )
        public_id = convo.public_id
    page = f"/console/conversations/{public_id}"
    post(console, f"{page}/claim")
    assert "Texts allowed" in console.client.get(page).text
    assert post(console, f"{page}/reply", text="Your refill is ready at CVS.").status_code == 303
    with console.db() as session:
        [sms] = session.scalars(select(OutboundSms).where(OutboundSms.conversation_id == convo.id))
        assert (sms.to_phone, sms.kind) == ("+15555550103", "staff")
        assert "Your refill is ready at CVS." in sms.body
        record_consent(
            session=session,
            practice_id=console.practice_id,
            phone="+15555550103",
            opted_out=True,
            keyword="STOP",
            now=console.clock(),
        )
    assert "Opted out of texts" in console.client.get(page).text


def test_upcoming_visits_show_with_their_ehr_sync_state(
    console: Console, bot: ScriptedBot, desk: int
) -> None:
    from datetime import UTC, datetime

    from frontdesk.practices.models import Provider
    from frontdesk.scheduling.booking import book_appointment
    from frontdesk.scheduling.models import VisitType

    _patient, public_id = escalate_from_chat(console, bot)
    with console.db() as session:
        practice = session.get_one(Practice, console.practice_id)
        patient_row = session.scalar(select(Patient).where(Patient.phone == "+15555550101"))
        provider = session.scalar(
            select(Provider).where(Provider.display_name == "Dr. Amara Patel")
        )
        visit = session.scalar(select(VisitType).where(VisitType.code == "sick-visit"))
        assert patient_row is not None and provider is not None and visit is not None
        # Tuesday 1 December 2026, 3:00 PM in New York.
        book_appointment(
            session=session,
            practice=practice,
            patient=patient_row,
            visit_type=visit,
            provider_id=provider.id,
            start=datetime(2026, 12, 1, 20, 0, tzinfo=UTC),
            now=console.clock(),
        )
        convo = session.scalar(select(Conversation).where(Conversation.public_id == public_id))
        assert convo is not None
        convo.patient_id = patient_row.id
    panel = console.client.get(f"/console/conversations/{public_id}").text
    section = panel[panel.index('id="patient-context"') :]
    assert "Tue Dec 1, 3:00 PM · Sick visit with Dr. Amara Patel" in section
    assert re.search(r"Waiting to sync|In the EHR|No EHR sync", section)


def test_the_live_socket_ends_when_its_session_signs_out(console: Console, desk: int) -> None:
    services = services_of(console.client)
    with console.client.websocket_connect(LIVE) as live:
        event = Event("conversation.escalated", console.practice_id, {"conversation_id": "c_1"})
        portal_of(console.client).call(services.events.publish, event)
        assert live.receive_json()["conversation_id"] == "c_1"
        assert post(console, "/console/logout").status_code == 303
        portal_of(console.client).call(services.events.publish, event)
        with pytest.raises(WebSocketDisconnect) as ended:
            live.receive_json()  # no more events for a signed-out browser
    assert ended.value.code == 4401


def test_staff_see_the_language_the_patient_writes_in(
    console: Console, bot: ScriptedBot, desk: int
) -> None:
    ws, public_id = open_chat(console)
    say(ws, "hola, quiero hablar con una persona por favor", "p1")
    assert frames_until(ws, "handoff")[-1]["owner"] == "staff"
    assert conversation_row(console, public_id).language == "es"
    [item] = console.client.get("/console/api/queue").json()["items"]
    assert (item["channel"], item["language"]) == ("Web chat", "Spanish")
    assert "· Spanish" in console.client.get("/console").text
    page = console.client.get(f"/console/conversations/{public_id}")
    assert "Web chat · Spanish" in page.text
