"""The endpoints only Rasa calls take the internal token as a header, never in the URL."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from frontdesk.app import create_app
from frontdesk.settings import PROJECT_ROOT, Settings
from tests.doubles import ScriptedBot

TOKEN = "internal-test-token-0123456789"
CALLBACK = {"recipient_id": "c_unknown", "text": "hi"}
ACTION = {"next_action": "nope", "tracker": {}, "domain": {}}


@pytest.fixture
def client(sqlite_engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        _env_file=None,
        env="test",
        data_dir=tmp_path,
        internal_token=TOKEN,
        rasa_token="rasa-test-token",
        secret_key="secret-test-key",
        allowed_hosts="testserver",  # the TestClient's Host header
        sms_worker_enabled=False,
        reminders_enabled=False,
    )
    with TestClient(create_app(settings, engine=sqlite_engine, bot=ScriptedBot())) as served:
        yield served


@pytest.mark.parametrize(("path", "body"), [("callback", CALLBACK), ("actions", ACTION)])
def test_the_token_is_taken_from_the_authorization_header(
    client: TestClient, path: str, body: dict[str, Any]
) -> None:
    response = client.post(
        f"/internal/rasa/{path}", headers={"Authorization": f"Bearer {TOKEN}"}, json=body
    )
    assert response.status_code == (200 if path == "callback" else 404)  # in, then answered


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"X-Token": TOKEN}],
)
@pytest.mark.parametrize(("path", "body"), [("callback", CALLBACK), ("actions", ACTION)])
def test_anything_else_is_refused(
    client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str]
) -> None:
    response = client.post(f"/internal/rasa/{path}", headers=headers, json=body)
    assert response.status_code == 403


@pytest.mark.parametrize(("path", "body"), [("callback", CALLBACK), ("actions", ACTION)])
def test_a_token_in_the_query_string_is_refused_even_when_right(
    client: TestClient, path: str, body: dict[str, Any]
) -> None:
    # Query strings reach access and proxy logs: a token sent that way counts as leaked.
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
        response = client.post(
            f"/internal/rasa/{path}", params={"token": TOKEN}, headers=headers, json=body
        )
        assert response.status_code == 403


RASA_READS_OUR_FILES = """
import json, sys
from rasa.shared.utils.io import read_config_file
from rasa.utils.endpoints import EndpointConfig, read_endpoint_config

action = read_endpoint_config(sys.argv[1], "action_endpoint")
callback = EndpointConfig.from_dict(
    read_config_file(sys.argv[2])["frontdesk_callback.MetadataCallbackInput"]
)
print(json.dumps({
    name: {"url": e.url, "headers": e.headers, "params": e.combine_parameters()}
    for name, e in (("action", action), ("callback", callback))
}))
"""


@pytest.mark.rasa
@pytest.mark.parametrize("endpoints", ["endpoints.yml", "endpoints.scale.yml"])
def test_rasa_sends_the_token_as_a_header_from_our_bot_files(endpoints: str) -> None:
    """Read with Rasa 3.6's own loader, as `rasa run` reads them (${VAR}s substituted)."""
    settings = Settings(_env_file=None, env="development")
    python = settings.rasa_venv / "bin" / "python"
    env = {
        **os.environ,
        "FRONTDESK_ACTION_ENDPOINT_URL": "http://127.0.0.1:8000/internal/rasa/actions",
        "FRONTDESK_CALLBACK_URL": "http://127.0.0.1:8000/internal/rasa/callback",
        "FRONTDESK_INTERNAL_TOKEN": TOKEN,
        "FRONTDESK_RASA_TRACKER_URL": "sqlite:////tmp/unused.db",
        "FRONTDESK_REDIS_HOST": "127.0.0.1",
        "FRONTDESK_REDIS_PORT": "6379",
        "FRONTDESK_REDIS_DB": "1",
        "RASA_TELEMETRY_ENABLED": "false",
    }
    bot = PROJECT_ROOT / "bot"
    result = subprocess.run(
        [
            str(python),
            "-c",
            RASA_READS_OUR_FILES,
            str(bot / endpoints),
            str(bot / "credentials.yml"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    for name in ("action", "callback"):
        assert seen[name]["headers"] == {"Authorization": f"Bearer {TOKEN}"}
        assert seen[name]["params"] == {}  # nothing in the query string
    assert seen["callback"]["url"].endswith("/internal/rasa/callback")
