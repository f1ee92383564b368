"""A status callback names its outbox row: it settles a send whose result a crash lost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from frontdesk.sms.models import OutboundSms, OutboundStatus
from tests.connectors.test_twilio_sms import PUBLIC, make_client, replies, rows, send_outbox
from tests.connectors.test_twilio_sms import text_in as text_from_patient
from tests.doubles import ScriptedBot
from tests.twilio_fake import TwilioFake, running_fake, sign


@pytest.fixture(scope="module")
def fake() -> Iterator[TwilioFake]:
    with running_fake() as served:
        yield served


@pytest.fixture
def client(sqlite_engine: Engine, fake: TwilioFake, tmp_path: Path) -> Iterator[TestClient]:
    yield from make_client(sqlite_engine, ScriptedBot(replies), fake, tmp_path)


def test_a_callback_binds_the_sid_to_the_row_its_url_names_and_nothing_is_resent(
    client: TestClient, fake: TwilioFake, sqlite_engine: Engine
) -> None:
    text_from_patient(client, "hello")
    send_outbox(client)
    [sent] = fake.messages
    [row] = rows(sqlite_engine, OutboundSms)
    callback = urlsplit(sent["_status_callback"])
    assert callback.query == f"outbox={row.id}"
    with Session(sqlite_engine) as db:  # the worker died before it recorded Twilio's answer
        lost = db.get_one(OutboundSms, row.id)
        lost.status, lost.twilio_sid = OutboundStatus.SENDING, None
        db.commit()
    params = {"MessageSid": sent["sid"], "MessageStatus": "sent", "AccountSid": sent["account_sid"]}
    url = f"{PUBLIC}{callback.path}?{callback.query}"
    response = client.post(
        f"{callback.path}?{callback.query}",
        data=params,
        headers={"X-Twilio-Signature": sign(url, params)},
    )
    assert response.status_code == 204
    [row] = rows(sqlite_engine, OutboundSms)
    assert (row.twilio_sid, row.status) == (sent["sid"], OutboundStatus.SENT)
    send_outbox(client)
    assert len(fake.messages) == 1


def test_a_callback_never_moves_a_sid_that_is_already_recorded(
    client: TestClient, fake: TwilioFake, sqlite_engine: Engine
) -> None:
    text_from_patient(client, "hello")
    text_from_patient(client, "again")
    send_outbox(client)
    first, second = rows(sqlite_engine, OutboundSms)
    # A callback for the second message that (wrongly) names the first row.
    params = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "sent"}
    path = f"/webhooks/twilio/status?outbox={first.id}"
    response = client.post(
        path, data=params, headers={"X-Twilio-Signature": sign(PUBLIC + path, params)}
    )
    assert response.status_code == 204
    assert rows(sqlite_engine, OutboundSms)[0].twilio_sid == first.twilio_sid
    forged = client.post(
        "/webhooks/twilio/status?outbox=" + str(second.id),
        data=params,
        headers={"X-Twilio-Signature": sign(PUBLIC + path, params)},  # signed for another URL
    )
    assert forged.status_code == 403
