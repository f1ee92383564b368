"""Allowed widget origins: parsing, matching, and the chat socket's handshake check."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session
from starlette.websockets import WebSocketDisconnect

from frontdesk.auth.origins import (
    InvalidOriginError,
    allow_origin,
    allowed_origins,
    disallow_origin,
    normalize_origin,
    origin_matches,
    widget_origin_allowed,
)
from frontdesk.models import Practice
from tests.auth.support import Console
from tests.conftest import NOW

SERVICE = "https://frontdesk.example.net"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://Example.org/", "https://example.org"),
        ("https://example.org:443", "https://example.org"),
        ("http://example.org:8080", "http://example.org:8080"),
        ("http://LOCALHOST:*", "http://localhost:*"),
        ("http://[::1]:3000", "http://[::1]:3000"),
    ],
)
def test_origins_are_normalised(given: str, expected: str) -> None:
    assert normalize_origin(given) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "example.org",
        "ftp://example.org",
        "https://example.org/path",
        "https://u:p@example.org",
        "https://",
        "https://example.org:99999",
        "javascript:alert(1)",
    ],
)
def test_non_origins_are_refused(bad: str) -> None:
    with pytest.raises(InvalidOriginError):
        normalize_origin(bad)


def test_a_wildcard_port_matches_only_that_scheme_and_host() -> None:
    assert origin_matches("http://localhost:5173", "http://localhost:*")
    assert origin_matches("http://localhost", "http://localhost:*")
    assert not origin_matches("https://localhost:5173", "http://localhost:*")
    assert not origin_matches("http://localhost.evil.example:80", "http://localhost:*")
    assert not origin_matches("http://example.org:8080", "http://example.org")


def test_practice_origins_decide_for_browsers(session: Session, practice: Practice) -> None:
    allow_origin(
        session=session, practice_id=practice.id, origin="https://Clinic.example/", now=NOW
    )
    assert "https://clinic.example" in allowed_origins(session=session, practice_id=practice.id)

    def allowed(origin: str | None, host: str = "frontdesk.example.net") -> bool:
        return widget_origin_allowed(
            session=session,
            practice_slug="riverside",
            origin=origin,
            host=host,
            service_origin=SERVICE,
        )

    assert allowed("https://clinic.example")
    assert allowed(SERVICE)  # the service's own demo page
    assert allowed("http://10.1.2.3:8000", host="10.1.2.3:8000")  # same host as connected to
    assert allowed(None)  # not a browser: an Origin check would not stop it anyway
    assert not allowed("https://evil.example")
    assert not allowed("null")
    assert not allowed("https://clinic.example.evil.example")
    assert disallow_origin(
        session=session, practice_id=practice.id, origin="https://clinic.example"
    )
    assert not allowed("https://clinic.example")


def test_the_socket_refuses_a_foreign_origin_with_4403(console: Console) -> None:
    with console.client.websocket_connect(
        "/chat/ws?practice=riverside", headers={"Origin": "https://evil.example"}
    ) as ws:
        frame = ws.receive_json()
        assert frame["type"] == "error" and frame["code"] == "origin_not_allowed"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4403


def test_the_socket_accepts_allowed_and_same_origin_pages(console: Console) -> None:
    for origin in ("http://localhost:5173", "http://127.0.0.1:9999", "https://testserver"):
        with console.client.websocket_connect(
            "/chat/ws?practice=riverside", headers={"Origin": origin}
        ) as ws:
            assert ws.receive_json()["type"] == "session", origin


def test_an_unknown_practice_is_still_reported_as_unknown(console: Console) -> None:
    with console.client.websocket_connect(
        "/chat/ws?practice=nope", headers={"Origin": "https://evil.example"}
    ) as ws:
        assert ws.receive_json()["code"] == "practice_unknown"
