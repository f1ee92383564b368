"""The application's own guards: which Host it answers to, headers, docs (no lifespan needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from frontdesk.app import create_app
from frontdesk.settings import Settings

REAL = {"secret_key": "s" * 32, "internal_token": "i" * 32, "rasa_token": "r" * 32}
PUBLIC = "https://chat.example.org"


def app_client(tmp_path: Path, base_url: str = PUBLIC, **options: Any) -> TestClient:
    """A client of an app that was built but not started (these routes need no services)."""
    settings = Settings(_env_file=None, data_dir=tmp_path, **{**REAL, **options})
    return TestClient(create_app(settings), base_url=base_url)


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("chat.example.org", 200),  # the public URL's host
        ("127.0.0.1:8000", 200),  # the internal address Rasa calls back on
        ("evil.example", 400),  # DNS rebinding, a forged Host
        ("abc123.ngrok.example", 400),  # a tunnel forwarding its own name
    ],
)
def test_only_the_configured_hosts_are_answered(tmp_path: Path, host: str, status: int) -> None:
    client = app_client(tmp_path, env="production", public_url=PUBLIC)
    assert client.get("/widget.js", headers={"host": host}).status_code == status


def test_development_answers_loopback_names_only(tmp_path: Path) -> None:
    client = app_client(tmp_path, "http://127.0.0.1:8000", env="development")
    assert client.get("/widget.js", headers={"host": "localhost:8000"}).status_code == 200
    # A tunnel's connections come from loopback, but it forwards its own public name.
    tunnel = client.get("/dev/sms", headers={"host": "abc123.ngrok.example"})
    assert tunnel.status_code == 400


def test_extra_hosts_are_a_setting(tmp_path: Path) -> None:
    client = app_client(tmp_path, env="production", public_url=PUBLIC, allowed_hosts="service, x")
    assert client.get("/widget.js", headers={"host": "service:8000"}).status_code == 200
