"""The SMS channel through its real entry points: signed Twilio webhooks in, the outbox worker
sending to a local Twilio fake out, Rasa replaced by a double answering through the real
callback endpoint."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from starlette.datastructures import ImmutableMultiDict

from connectors import dispatcher
from frontdesk import texts
from frontdesk.app import create_app
from frontdesk.conversations.models import (
    Conversation,
    Message,
    Owner,
    PatientTurn,
    Role,
    TurnState,
)
from frontdesk.conversations.service import record_outgoing_message
from frontdesk.db import make_engine, make_session_factory, session_scope
from frontdesk.demo import DEMO_SMS_NUMBER, seed_demo
from frontdesk.events import Event
from frontdesk.migrate import upgrade
from frontdesk.settings import Settings
from frontdesk.sms.models import (
    InboundOutcome,
    InboundSms,
    OutboundSms,
    OutboundStatus,
    SmsConsent,
)
from frontdesk.sms.text import segment_info
from tests.conftest import AT_NOW, NOW, empty_database
from tests.doubles import DownBot, ScriptedBot
from tests.support.apps import app_of, portal_of, services_of, settle_turns
from tests.twilio_fake import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    TwilioFake,
    inbound_params,
    running_fake,
    sign,
)

WAITING_NOTICE = texts.text(dispatcher.WAITING_NOTICE, "en")

TOKEN = "internal-test-token"
PUBLIC = "https://frontdesk.example.org"
LOCAL = "http://127.0.0.1:8000"  # development mode: this machine only
SMS_URL = f"{PUBLIC}/webhooks/twilio/sms"
STATUS_URL = f"{PUBLIC}/webhooks/twilio/status"
PATIENT = "+15555550101"  # Jordan Sample in the demo data
STRANGER = "+15555550177"


def replies(text: str) -> list[dict[str, Any]]:
    if "book" in text:
        return [
            {
                "text": "What kind of visit do you need?",
                "buttons": [
                    {"title": "Sick visit", "payload": '/inform{"visit_type":"sick-visit"}'},
                    {"title": "Annual physical", "payload": '/inform{"visit_type":"physical"}'},
                ],
            }
        ]
    if text == "verify me":
        return [{"custom": {"type": "identity_request", "reason": "to see your visits"}}]
    return [{"text": f"you said: {text}"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[TwilioFake]:
    with running_fake() as served:
        yield served


@pytest.fixture
def bot() -> ScriptedBot:
    return ScriptedBot(replies)


def make_client(
    engine: Engine, bot: ScriptedBot, fake: TwilioFake, tmp_path: Path, **overrides: Any
) -> Iterator[TestClient]:
    client_address = overrides.pop("client_address", ("testclient", 50000))
    with session_scope(make_session_factory(engine, clock=AT_NOW)) as db:
        seed_demo(db)
    fake.messages.clear()
    settings = Settings(
        **{
            "env": "test",
            "data_dir": tmp_path,
            "internal_token": TOKEN,
            "rasa_token": "rasa-test-token",
            "secret_key": "secret-test-key",
            "public_url": PUBLIC,
            "allowed_hosts": "testserver",  # the TestClient's Host header
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": AUTH_TOKEN,
            "twilio_api_base_url": fake.url,
            "sms_worker_enabled": False,
            "reminders_enabled": False,
            **overrides,
        }
    )
    app = create_app(settings, engine=engine, bot=bot, clock=lambda: NOW)
    bot.attach(app, TOKEN)
    with TestClient(app, client=client_address) as client:
        yield client


@pytest.fixture
def client(
    sqlite_engine: Engine, bot: ScriptedBot, fake: TwilioFake, tmp_path: Path
) -> Iterator[TestClient]:
    yield from make_client(sqlite_engine, bot, fake, tmp_path)


def text_in(
    client: TestClient,
    body: str,
    *,
    from_: str = PATIENT,
    to: str = DEMO_SMS_NUMBER,
    sid: str | None = None,
    num_media: int = 0,
) -> Any:
    params = inbound_params(body=body, from_=from_, to=to, sid=sid, num_media=num_media)
    response = client.post(
        "/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": sign(SMS_URL, params)}
    )
    settle_turns(app_of(client))  # the dispatcher hands the queued turn to the bot
    return response


def send_outbox(client: TestClient) -> int:
    return int(app_of(client).state.sms.worker.drain())


def rows(engine: Engine, model: Any) -> list[Any]:
    with Session(engine) as db:
        return list(db.scalars(select(model).order_by(model.id)))


def test_a_text_is_stored_acknowledged_with_empty_twiml_and_answered_by_sms(
    client: TestClient, bot: ScriptedBot, fake: TwilioFake, sqlite_engine: Engine
) -> None:
    response = text_in(client, "hello there 🙂", sid="SM" + "a" * 32)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    # The bot saw an opaque id, never the number.
    [(conversation_id, text)] = bot.turns
    assert conversation_id.startswith("c_") and "555" not in conversation_id
    assert text == "hello there 🙂"
    [inbound] = rows(sqlite_engine, InboundSms)
    assert inbound.outcome is InboundOutcome.BOT and inbound.processed_at is not None
    assert send_outbox(client) == 1
    [sent] = fake.messages
    assert (sent["to"], sent["from"], sent["body"]) == (
        PATIENT,
        DEMO_SMS_NUMBER,
        "you said: hello there 🙂",
    )
    [outbound] = rows(sqlite_engine, OutboundSms)
    assert outbound.status is OutboundStatus.QUEUED and outbound.twilio_sid == sent["sid"]
    assert (outbound.encoding, outbound.segments) == ("UCS-2", 1)


def test_a_retried_webhook_with_the_same_message_sid_is_processed_once(
    client: TestClient, bot: ScriptedBot, sqlite_engine: Engine
) -> None:
    sid = "SM" + "b" * 32
    first = text_in(client, "hi", sid=sid)
    second = text_in(client, "hi", sid=sid)
    assert first.status_code == second.status_code == 200
    assert len(bot.turns) == 1
    assert len(rows(sqlite_engine, InboundSms)) == 1
    assert len(rows(sqlite_engine, OutboundSms)) == 1


def test_the_same_message_sid_delivered_concurrently_is_stored_and_answered_once(
    engine: Engine, bot: ScriptedBot, fake: TwilioFake, tmp_path: Path
) -> None:
    empty_database(engine)
    try:
        params = inbound_params(body="hello there", from_=PATIENT, to=DEMO_SMS_NUMBER)
        headers = {"X-Twilio-Signature": sign(SMS_URL, params)}
        for client in make_client(engine, bot, fake, tmp_path):
            # Twilio retrying while the first delivery is still being stored.
            with ThreadPoolExecutor(max_workers=6) as pool:
                answers = pool.map(
                    lambda c: c.post("/webhooks/twilio/sms", data=params, headers=headers),
                    [client] * 6,
                )
                assert {a.status_code for a in answers} == {200}
            settle_turns(app_of(client))  # the dispatcher hands the queued turn to the bot
            assert len(rows(engine, InboundSms)) == 1
            assert [text for _, text in bot.turns] == ["hello there"]
            assert [m.text for m in rows(engine, Message) if m.role is Role.PATIENT] == [
                "hello there"
            ]
    finally:
        empty_database(engine)


@pytest.mark.parametrize(
    "headers",
    [
        {},  # unsigned
        {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},  # forged
    ],
)
def test_unsigned_or_forged_webhooks_get_403_and_reach_nobody(
    client: TestClient, bot: ScriptedBot, sqlite_engine: Engine, headers: dict[str, str]
) -> None:
    params = inbound_params(body="hi", from_=PATIENT, to=DEMO_SMS_NUMBER)
    response = client.post("/webhooks/twilio/sms", data=params, headers=headers)
    assert response.status_code == 403
    assert bot.turns == [] and rows(sqlite_engine, InboundSms) == []


def test_a_signature_for_other_fields_or_another_url_is_refused(
    client: TestClient, bot: ScriptedBot
) -> None:
    params = inbound_params(body="hi", from_=PATIENT, to=DEMO_SMS_NUMBER)
    tampered = {**params, "Body": "cancel everything"}
    assert (
        client.post(
            "/webhooks/twilio/sms",
            data=tampered,
            headers={"X-Twilio-Signature": sign(SMS_URL, params)},
        ).status_code
        == 403
    )
    # Signed for the address this process sees, not the public one Twilio calls: refused.
    internal = sign("http://testserver/webhooks/twilio/sms", params)
    assert (
        client.post(
            "/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": internal}
        ).status_code
        == 403
    )
    assert bot.turns == []


def test_repeated_fields_are_checked_as_twilio_signs_them(
    client: TestClient, bot: ScriptedBot, sqlite_engine: Engine
) -> None:
    def post(pairs: list[tuple[str, str]]) -> Any:
        # Twilio's signature covers every value of a repeated name.
        signature = sign(SMS_URL, ImmutableMultiDict(pairs))  # type: ignore[arg-type]
        response = client.post(
            "/webhooks/twilio/sms",
            content=urlencode(pairs),
            headers={
                "X-Twilio-Signature": signature,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        settle_turns(app_of(client))
        return response

    params = list(inbound_params(body="hi", from_=PATIENT, to=DEMO_SMS_NUMBER).items())
    # A field the service does not read may come twice: the text is kept and answered.
    assert post([*params, ("AddOns", "a"), ("AddOns", "b")]).status_code == 200
    assert bot.turns == [(bot.turns[0][0], "hi")]
    # A field it acts on may not: which of the signed values is meant is not signed.
    again = list(inbound_params(body="hi", from_=PATIENT, to=DEMO_SMS_NUMBER).items())
    assert post([*again, ("Body", "cancel everything")]).status_code == 400
    assert len(rows(sqlite_engine, InboundSms)) == 1


def test_without_a_twilio_token_every_webhook_is_refused(
    sqlite_engine: Engine, bot: ScriptedBot, fake: TwilioFake, tmp_path: Path
) -> None:
    for client in make_client(
        sqlite_engine, bot, fake, tmp_path, twilio_account_sid="", twilio_auth_token=""
    ):
        params = inbound_params(body="hi", from_=PATIENT, to=DEMO_SMS_NUMBER)
        response = client.post(
            "/webhooks/twilio/sms",
            data=params,
            headers={"X-Twilio-Signature": sign(SMS_URL, params)},
        )
        assert response.status_code == 403


@pytest.mark.parametrize(
    "word",
    [
        "STOP",
        "stop",
        "Cancel.",
        "UNSUBSCRIBE",
        "end",
        "Quit",
        "REVOKE",
        "optout",
        "STOPALL",
        "Stop texting me",
    ],
)
def test_opt_out_words_record_the_opt_out_and_confirm_once(
    client: TestClient, bot: ScriptedBot, fake: TwilioFake, sqlite_engine: Engine, word: str
) -> None:
    text_in(client, word)
    text_in(client, "STOP")  # a repeated STOP gets no second confirmation
    assert bot.turns == []
    [consent] = rows(sqlite_engine, SmsConsent)
    assert consent.opted_out and consent.phone == PATIENT
    send_outbox(client)
    [confirmation] = fake.bodies_to(PATIENT)
    assert "unsubscribed" in confirmation and "START" in confirmation


def test_an_opted_out_number_gets_nothing_until_it_opts_back_in(
    client: TestClient, bot: ScriptedBot, fake: TwilioFake, sqlite_engine: Engine
) -> None:
    text_in(client, "hello")  # the bot's reply is waiting in the outbox...
    text_in(client, "STOP")  # ...and is dropped with the opt-out
    text_in(client, "are you there?")  # stored, not answered, not forwarded
    assert [t for _, t in bot.turns] == ["hello"]
    send_outbox(client)
    assert len(fake.bodies_to(PATIENT)) == 1  # only the opt-out confirmation
    outcomes = [r.outcome for r in rows(sqlite_engine, InboundSms)]
    assert outcomes == [InboundOutcome.BOT, InboundOutcome.OPT_OUT, InboundOutcome.OPTED_OUT]
    text_in(client, "YES")  # YES re-subscribes an opted-out number
    text_in(client, "hello again")
    send_outbox(client)
    bodies = fake.bodies_to(PATIENT)
    assert "subscribed again" in bodies[1] and bodies[2] == "you said: hello again"


def test_cancel_my_appointment_is_not_an_opt_out(
    client: TestClient, bot: ScriptedBot, sqlite_engine: Engine
) -> None:
    text_in(client, "cancel my appointment")
    text_in(client, "yes")  # an answer to the bot, not a re-subscription
    assert [t for _, t in bot.turns] == ["cancel my appointment", "yes"]
    assert rows(sqlite_engine, SmsConsent) == []


def test_help_answers_with_name_opt_out_frequency_rates_and_contact(
    client: TestClient, bot: ScriptedBot, fake: TwilioFake
) -> None:
    text_in(client, "HELP")
    send_outbox(client)
    [answer] = fake.bodies_to(PATIENT)
    assert bot.turns == []
    for part in ("Riverside Family Medicine", "STOP", "frequency", "Msg & data rates may apply"):
        assert part in answer
    assert "555-0100" in answer or "5555550100" in answer


@pytest.mark.parametrize("word", ["ALTO", "parar", "No me manden más mensajes"])
def test_a_spanish_opt_out_is_recorded_and_confirmed_in_spanish(
    client: TestClient, bot: ScriptedBot, fake: TwilioFake, sqlite_engine: Engine, word: str
) -> None:
    text_in(client, word)
    assert bot.turns == []
    [consent] = rows(sqlite_engine, SmsConsent)
    assert consent.opted_out
    text_in(client, "AYUDA")
    text_in(client, "EMPEZAR")
    send_outbox(client)
    confirmation, help_answer, welcome_back = fake.bodies_to(PATIENT)
    assert "ya no le enviaremos mensajes" in confirmation and "EMPEZAR" in confirmation
    for part in ("Riverside Family Medicine", "ALTO", "tarifas de mensajes y datos"):
        assert part in help_answer
    assert "volvera a recibir" in welcome_back  # GSM-7 lacks á: one segment, not three
    assert {segment_info(b).encoding for b in (confirmation, help_answer, welcome_back)} == {
        "GSM-7"
    }
    assert not rows(sqlite_engine, SmsConsent)[0].opted_out


def test_cancelar_mi_cita_reaches_the_bot(
    client: TestClient, bot: ScriptedBot, sqlite_engine: Engine
) -> None:
    text_in(client, "cancelar mi cita")
    assert [t for _, t in bot.turns] == ["cancelar mi cita"]
    assert rows(sqlite_engine, SmsConsent) == []


def test_a_patient_writing_in_spanish_gets_a_spanish_conversation(
    client: TestClient, bot: ScriptedBot, sqlite_engine: Engine
) -> None:
    text_in(client, "hola, necesito una cita para mi hijo")
    text_in(client, "ok")  # a short reply keeps the language the conversation was in
    [conversation] = rows(sqlite_engine, Conversation)
    assert conversation.language == "es"


def test_buttons_become_numbered_choices_and_a_number_picks_the_payload(
    client: TestClient, bot: ScriptedBot, fake: TwilioFake
) -> None:
    text_in(client, "I want to book")
    send_outbox(client)
    [offer] = fake.bodies_to(PATIENT)
    assert offer == (
        "What kind of visit do you need?\n1) Sick visit\n2) Annual physical\nReply 1 or 2"
    )
    text_in(client, " 2 ")
    assert bot.turns[-1][1] == '/inform{"visit_type":"physical"}'
    text_in(client, "2")  # no buttons offered since: plain text, never a forged payload
    assert bot.turns[-1][1] == "2"


def test_a_typed_slash_cannot_forge_an_intent(client: TestClient, bot: ScriptedBot) -> None:
    text_in(client, '/inform{"slot_choice":"x"}')
    assert not bot.turns[-1][1].startswith("/")


def test_staff_owned_conversations_get_the_text_in_their_inbox_not_the_bot(
    client: TestClient, bot: ScriptedBot, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    text_in(client, "hello")
    with session_scope(make_session_factory(sqlite_engine, clock=AT_NOW)) as db:
        conversation = db.scalars(select(Conversation)).one()
        conversation.owner = Owner.STAFF
    events: list[Event] = []
    bus = services_of(client).events
    original = bus.publish

    def publish(event: Event) -> None:
        events.append(event)
        original(event)

    monkeypatch.setattr(bus, "publish", publish)
    text_in(client, "is anyone there?")
    assert [t for _, t in bot.turns] == ["hello"]
    assert [e.kind for e in events] == ["conversation.patient_message"]
    assert events[0].data["conversation_id"] == conversation.public_id
    [_, second] = rows(sqlite_engine, InboundSms)
    assert second.outcome is InboundOutcome.STAFF


def test_mms_without_text_empty_long_and_unknown_numbers_are_handled(
    client: TestClient, bot: ScriptedBot, fake: TwilioFake, sqlite_engine: Engine
) -> None:
    assert text_in(client, "", num_media=1).status_code == 200
    assert text_in(client, "   ").status_code == 200
    long_text = "I need to talk about my bill " * 200  # 5,800 characters
    assert text_in(client, long_text).status_code == 200
    assert text_in(client, "hi", to="+15555550188").status_code == 200  # not our number
    outcomes = [r.outcome for r in rows(sqlite_engine, InboundSms)]
    assert outcomes == [
        InboundOutcome.EMPTY,
        InboundOutcome.EMPTY,
        InboundOutcome.BOT,
        InboundOutcome.UNKNOWN_NUMBER,
    ]
    [(_, forwarded)] = bot.turns
    assert len(forwarded) <= 1000  # cut to the bot's limit; the stored message keeps it all
    send_outbox(client)
    bodies = fake.bodies_to(PATIENT)
    assert bodies[0].startswith("Sorry, we can only read text")
    # The bot's echo of 1,000 characters fits one Twilio message.
    assert all(len(b) <= 1600 for b in bodies)


def test_a_stranger_gets_a_conversation_of_their_own(
    client: TestClient, bot: ScriptedBot, sqlite_engine: Engine
) -> None:
    text_in(client, "hi", from_=PATIENT)
    text_in(client, "hi", from_=STRANGER)
    text_in(client, "again", from_=PATIENT)
    ids = [c for c, _ in bot.turns]
    assert ids[0] == ids[2] != ids[1]


def test_bot_unavailable_keeps_the_turn_queued_says_one_moment_once_and_answers_later(
    sqlite_engine: Engine, fake: TwilioFake, tmp_path: Path
) -> None:
    down = DownBot()
    for client in make_client(sqlite_engine, down, fake, tmp_path):
        text_in(client, "hello")
        text_in(client, "are you there?")
        [first, second] = rows(sqlite_engine, PatientTurn)
        assert first.state is TurnState.QUEUED and first.attempts == 1
        assert second.state is TurnState.QUEUED and second.attempts == 0  # waits its turn
        assert [t for _, t in down.turns] == ["hello"]
        assert send_outbox(client) == 1
        assert [m["body"] for m in fake.messages] == [WAITING_NOTICE]  # once, not per text
        working = ScriptedBot(replies)
        working.attach(app_of(client), TOKEN)
        services = services_of(client)
        services.bot = working
        services.clock = lambda: NOW + timedelta(minutes=1)  # past the retry delay
        services.wake_turns()
        settle_turns(app_of(client))
        assert [t for _, t in working.turns] == ["hello", "are you there?"]  # in order, once
        assert [t.state for t in rows(sqlite_engine, PatientTurn)] == [TurnState.ANSWERED] * 2
        assert send_outbox(client) == 2


def test_delivery_statuses_are_recorded_and_never_go_backwards(
    client: TestClient, fake: TwilioFake, sqlite_engine: Engine
) -> None:
    text_in(client, "hello")
    send_outbox(client)
    [outbound] = rows(sqlite_engine, OutboundSms)

    def status(value: str, **extra: str) -> int:
        params = {"MessageSid": outbound.twilio_sid, "MessageStatus": value, **extra}
        response = client.post(
            "/webhooks/twilio/status",
            data=params,
            headers={"X-Twilio-Signature": sign(STATUS_URL, params)},
        )
        return response.status_code

    assert status("sent") == 204
    assert status("delivered") == 204
    assert status("sent") == 204  # late and out of order
    [outbound] = rows(sqlite_engine, OutboundSms)
    assert outbound.status is OutboundStatus.DELIVERED
    unsigned = client.post(
        "/webhooks/twilio/status",
        data={"MessageSid": outbound.twilio_sid, "MessageStatus": "failed"},
    )
    assert unsigned.status_code == 403


def test_an_identity_request_asks_for_the_date_of_birth_and_keeps_it_from_the_bot(
    client: TestClient, bot: ScriptedBot, fake: TwilioFake, sqlite_engine: Engine
) -> None:
    text_in(client, "verify me")
    send_outbox(client)
    [prompt] = fake.bodies_to(PATIENT)
    assert "date of birth" in prompt
    text_in(client, "4/13/1985")  # not Jordan's: said so, asked again, the bot hears nothing
    text_in(client, "my birthday")  # no date at all
    assert [t for _, t in bot.turns] == ["verify me"]
    text_in(client, "04/12/1985")  # Jordan Sample's, from the number on file
    send_outbox(client)
    code = _texted_code(fake)
    assert [t for _, t in bot.turns] == ["verify me"]  # a code first: numbers can be spoofed
    text_in(client, code)
    assert [t for _, t in bot.turns] == ["verify me", "/identity_provided"]
    text_in(client, "thanks")  # the next text goes to the bot again
    assert bot.turns[-1][1] == "thanks"
    send_outbox(client)
    bodies = fake.bodies_to(PATIENT)
    assert bodies[1].startswith("Sorry, that doesn't match our records")
    assert bodies[2].startswith("Please reply with your date of birth")
    with Session(sqlite_engine) as db:
        conversation = db.scalars(select(Conversation)).one()
        assert conversation.patient_id is not None and conversation.identity_verified_at
        texts = [
            m.text or "" for m in db.scalars(select(Message).where(Message.role == Role.PATIENT))
        ]
        assert all("1985" not in t and code not in t for t in texts)  # the transcript neither
        kept = db.scalar(
            select(func.count()).select_from(InboundSms).where(InboundSms.body.contains("1985"))
        )
        assert kept == 0  # the receipt forgets the date of birth once checked


def _texted_code(fake: TwilioFake, to: str = PATIENT) -> str:
    [body] = [b for b in fake.bodies_to(to) if b.startswith("Your verification code is")]
    return body.split()[4].rstrip(".")


def test_a_spoofed_number_with_the_right_birthday_reveals_nothing(
    client: TestClient, bot: ScriptedBot, fake: TwilioFake, sqlite_engine: Engine
) -> None:
    """Someone sending as the patient's number knows the birthday, but never sees the code."""
    text_in(client, "verify me")
    text_in(client, "04/12/1985")
    for guess in ("123456", "654321", "000000", "999999", "111111"):
        text_in(client, guess)
    assert [t for _, t in bot.turns] == ["verify me", "/identity_failed"]
    send_outbox(client)
    assert _texted_code(fake)  # it went to the real phone on file
    with Session(sqlite_engine) as db:
        conversation = db.scalars(select(Conversation)).one()
        assert conversation.patient_id is None and conversation.identity_verified_at is None


def test_booking_by_sms_identifies_without_a_code_but_does_not_verify(
    sqlite_engine: Engine, fake: TwilioFake, tmp_path: Path
) -> None:
    def booking(text: str) -> list[dict[str, Any]]:
        if text == "book":
            return [{"custom": {"type": "identity_request", "purpose": "book", "channel": "sms"}}]
        return [{"text": "ok"}]

    bot = ScriptedBot(booking)
    for client in make_client(sqlite_engine, bot, fake, tmp_path):
        text_in(client, "book")
        text_in(client, "04/12/1985")
        assert [t for _, t in bot.turns] == ["book", "/identity_provided"]
        send_outbox(client)
        assert not [b for b in fake.bodies_to(PATIENT) if "verification code" in b]
    with Session(sqlite_engine) as db:
        conversation = db.scalars(select(Conversation)).one()
        assert conversation.patient_id is not None  # enough to book
        assert conversation.identity_verified_at is None  # not enough to see or change visits


def test_repeated_wrong_dates_of_birth_lock_and_tell_the_bot(
    client: TestClient, bot: ScriptedBot
) -> None:
    text_in(client, "verify me")
    for day in range(1, 10):
        text_in(client, f"01/0{day}/1970")
        if bot.turns[-1][1] == "/identity_failed":
            break
    assert bot.turns[-1][1] == "/identity_failed"
    text_in(client, "hello?")
    assert bot.turns[-1][1] == "hello?"


def test_staff_and_bot_messages_for_sms_conversations_leave_through_the_outbox(
    client: TestClient, fake: TwilioFake, sqlite_engine: Engine
) -> None:
    text_in(client, "hello")
    with session_scope(make_session_factory(sqlite_engine, clock=AT_NOW)) as db:
        conversation = db.scalars(select(Conversation)).one()
        record_outgoing_message(
            session=db,
            conversation=conversation,
            role=Role.STAFF,
            text="Hi, this is Sam from the front desk — we’ll call you shortly…",
            sender_name="Sam",
        )
    send_outbox(client)
    staff = fake.bodies_to(PATIENT)[-1]
    # Typographic characters become GSM-7 look-alikes: one 160-character segment, not UCS-2.
    assert staff == "Hi, this is Sam from the front desk - we'll call you shortly..."
    kinds = [(o.kind, o.encoding) for o in rows(sqlite_engine, OutboundSms)]
    assert kinds == [("bot", "GSM-7"), ("staff", "GSM-7")]


def test_the_sandbox_page_exists_only_in_development(
    sqlite_engine: Engine, bot: ScriptedBot, fake: TwilioFake, tmp_path: Path, client: TestClient
) -> None:
    assert client.get("/dev/sms").status_code == 404
    assert client.post("/dev/sms/inbound", data={"body": "hi"}).status_code == 404


def test_the_sandbox_page_lets_an_installer_text_the_practice(
    tmp_path: Path, bot: ScriptedBot, fake: TwilioFake
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'dev.db'}")
    upgrade(engine)
    try:
        for client in make_client(
            engine,
            bot,
            fake,
            tmp_path,
            env="development",
            public_url=LOCAL,
            twilio_account_sid="",
            twilio_auth_token="",
            internal_token="dev-only-not-secret",
            rasa_token="dev-only-not-secret",
            secret_key="dev-only-not-secret",
            client_address=("127.0.0.1", 50000),
        ):
            bot.attach(app_of(client), "dev-only-not-secret")
            response = client.post(
                "/dev/sms/inbound",
                data={"from_": PATIENT, "to": DEMO_SMS_NUMBER, "body": "I want to book"},
            )
            assert response.status_code == 200  # redirected to the page
            settle_turns(app_of(client))  # the dispatcher hands the queued turn to the bot
            send_outbox(client)
            page = client.get("/dev/sms").text
            assert "1) Sick visit" in page and "Reply 1 or 2" in page
            assert fake.messages == []  # the sandbox never called Twilio
            [outbound] = rows(engine, OutboundSms)
            assert outbound.status is OutboundStatus.DELIVERED
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("host", "client_address", "visible"),
    [
        ("0.0.0.0", ("192.0.2.7", 50000), False),  # another machine on the network
        ("0.0.0.0", ("127.0.0.1", 50000), True),  # the installer's own browser
        ("127.0.0.1", ("127.0.0.1", 50000), True),
        ("127.0.0.1", ("198.51.100.4", 50000), False),  # through a local tunnel or proxy
    ],
)
def test_the_sandbox_is_for_this_machine_only_and_refuses_other_sites(
    sqlite_engine: Engine,
    bot: ScriptedBot,
    fake: TwilioFake,
    tmp_path: Path,
    host: str,
    client_address: tuple[str, int],
    visible: bool,
) -> None:
    for client in make_client(
        sqlite_engine,
        bot,
        fake,
        tmp_path,
        env="development",
        public_url=LOCAL,
        host=host,
        client_address=client_address,
        twilio_account_sid="",
        twilio_auth_token="",
    ):
        page = client.get("/dev/sms")
        form = {"from_": PATIENT, "to": DEMO_SMS_NUMBER, "body": "hello"}
        # A page on another site posting into the sandbox (the browser names its origin).
        forged = client.post(
            "/dev/sms/inbound", data=form, headers={"origin": "https://evil.example"}
        )
        assert (page.status_code, forged.status_code) == (200, 403) if visible else (404, 404)
        assert rows(sqlite_engine, InboundSms) == []
        typed = client.post(
            "/dev/sms/inbound",
            data=form,
            headers={"origin": "http://testserver"},
            follow_redirects=False,
        )
        assert typed.status_code == (303 if visible else 404)
        assert len(rows(sqlite_engine, InboundSms)) == (1 if visible else 0)


def test_phone_numbers_and_bodies_stay_out_of_the_logs(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    text_in(client, "my secret words")
    text_in(client, "STOP")
    send_outbox(client)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "5555550101" not in logged and "secret words" not in logged


def test_json_of_a_button_payload_survives_the_round_trip(
    client: TestClient, bot: ScriptedBot
) -> None:
    text_in(client, "I want to book")
    text_in(client, "Annual physical")  # the title works as well as the number
    assert json.loads(bot.turns[-1][1].removeprefix("/inform")) == {"visit_type": "physical"}


def test_emergency_wording_goes_to_the_bot_as_the_emergency_intent(
    client: TestClient, bot: ScriptedBot
) -> None:
    text_in(client, "I have chest pain and can't breathe")
    assert bot.turns[-1][1] == "/medical_emergency"


@pytest.mark.parametrize(
    "relayed", [{"x-forwarded-for": "203.0.113.9"}, {"forwarded": "for=203.0.113.9"}]
)
def test_the_sandbox_refuses_what_a_same_host_proxy_relays(
    sqlite_engine: Engine,
    bot: ScriptedBot,
    fake: TwilioFake,
    tmp_path: Path,
    relayed: dict[str, str],
) -> None:
    # A proxy on this machine connects from loopback; the header it adds gives it away.
    for client in make_client(
        sqlite_engine,
        bot,
        fake,
        tmp_path,
        env="development",
        public_url=LOCAL,
        client_address=("127.0.0.1", 50000),
        twilio_account_sid="",
        twilio_auth_token="",
    ):
        assert client.get("/dev/sms").status_code == 200
        assert client.get("/dev/sms", headers=relayed).status_code == 404


class CountingBody:
    """A request body sent in 8 KiB chunks that counts how many the service pulled."""

    def __init__(self, size: int) -> None:
        self.chunks = [b"Body=" + b"x" * 8192 for _ in range(size // 8192 + 1)]
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.pulled += 1
            yield chunk


def _post_streamed(client: TestClient, body: CountingBody, headers: dict[str, str]) -> int:
    """POST through an ASGI transport that streams (the TestClient buffers whole bodies)."""

    async def post() -> int:
        transport = httpx.ASGITransport(app=app_of(client))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.post("/webhooks/twilio/sms", content=body, headers=headers)
            return response.status_code

    return portal_of(client).call(post)


FORM = {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": "forged"}


def test_an_oversized_webhook_body_is_refused_before_it_is_read(client: TestClient) -> None:
    body = CountingBody(4 * 1024 * 1024)
    too_long = {**FORM, "content-length": str(4 * 1024 * 1024)}
    assert _post_streamed(client, body, too_long) == 413
    assert body.pulled == 0  # the declared length was enough
    assert rows_count(client, InboundSms) == 0


def test_an_oversized_chunked_webhook_body_is_cut_off_at_the_cap(client: TestClient) -> None:
    body = CountingBody(4 * 1024 * 1024)  # no Content-Length: sent chunked
    assert _post_streamed(client, body, FORM) == 413
    assert body.pulled <= 64 * 1024 // 8192 + 1  # stopped once past 64 KiB
    assert rows_count(client, InboundSms) == 0


def rows_count(client: TestClient, model: type[InboundSms]) -> int:
    with services_of(client).unit_of_work() as db:
        return db.scalar(select(func.count()).select_from(model)) or 0
