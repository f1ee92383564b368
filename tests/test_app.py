"""The application's own guards: which Host it answers to, headers, docs (no lifespan needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from frontdesk.app import create_app
from frontdesk.settings import Settings
from tests.doubles import ScriptedBot

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


@pytest.mark.parametrize(
    "path", ["/widget.js", "/demo", "/", "/static/widget.js", "/no-such-page", "/api/nothing"]
)
def test_every_response_carries_the_security_headers(tmp_path: Path, path: str) -> None:
    client = app_client(tmp_path, env="production", public_url=PUBLIC)
    response = client.get(path, follow_redirects=False)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


def test_hsts_only_when_served_over_https(tmp_path: Path) -> None:
    client = app_client(tmp_path, "http://127.0.0.1:8000", env="development")
    response = client.get("/widget.js")
    assert "strict-transport-security" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_demo_page_policy_lets_the_widget_run_and_nothing_inline_execute(
    tmp_path: Path,
) -> None:
    client = app_client(tmp_path, "http://127.0.0.1:8000", env="development")
    policy = client.get("/demo").headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"  # /widget.js, no inline script
    assert "'unsafe-inline'" in directives["style-src"]  # the widget styles its shadow root
    assert directives["connect-src"] == "'self'"  # the widget's socket to us
    widget = client.get("/widget.js")
    assert widget.headers["content-type"].startswith("application/javascript")  # nosniff-safe


def test_the_console_keeps_its_stricter_policy(sqlite_engine: Engine, tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        env="test",
        data_dir=tmp_path,
        public_url=PUBLIC,
        sms_worker_enabled=False,
        reminders_enabled=False,
        **REAL,  # type: ignore[arg-type]
    )
    app = create_app(settings, engine=sqlite_engine, bot=ScriptedBot())
    with TestClient(app, base_url=PUBLIC) as client:
        response = client.get("/console/login")
    assert response.status_code == 200
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.parametrize("path", ["/api/docs", "/api/openapi.json", "/redoc"])
def test_openapi_docs_are_off_in_production(tmp_path: Path, path: str) -> None:
    client = app_client(tmp_path, env="production", public_url=PUBLIC)
    assert client.get(path).status_code == 404


def test_openapi_docs_can_be_enabled_in_production(tmp_path: Path) -> None:
    client = app_client(tmp_path, env="production", public_url=PUBLIC, api_docs_enabled=True)
    assert client.get("/api/openapi.json").status_code == 200
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert "cdn.jsdelivr.net" in docs.headers["content-security-policy"]
