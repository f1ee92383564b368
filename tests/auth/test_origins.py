"""Allowed widget origins: parsing, matching, the chat frame's frame-ancestors and the chat
socket's handshake check."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session
from starlette.websockets import WebSocketDisconnect

from frontdesk.auth.origins import (
    InvalidOriginError,
    allow_origin,
    allowed_origins,
    disallow_origin,
    frame_ancestors,
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


def test_only_our_own_pages_may_open_the_chat_socket(session: Session, practice: Practice) -> None:
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

    assert allowed(SERVICE)  # the chat frame (and the demo page), served by us
    assert allowed("http://10.1.2.3:8000", host="10.1.2.3:8000")  # same host as connected to
    assert allowed(None)  # not a browser: an Origin check would not stop it anyway
    # An allowed website embeds the chat frame (frame-ancestors); its own page's scripts
    # may not open the chat themselves, or they would hold the resume token again.
    assert not allowed("https://clinic.example")
    assert not allowed("https://evil.example")
    assert not allowed("null")
    assert not allowed("https://clinic.example.evil.example")


def test_frame_ancestors_list_our_pages_and_the_practice_sites(
    session: Session, practice: Practice
) -> None:
    assert frame_ancestors(session=session, practice_slug=practice.slug) is not None
    for origin in ("https://Clinic.example/", "http://localhost:*"):
        allow_origin(session=session, practice_id=practice.id, origin=origin, now=NOW)
    sources = frame_ancestors(session=session, practice_slug=practice.slug)
    assert sources is not None
    assert sources.split()[0] == "'self'"
    assert {"https://clinic.example", "http://localhost:*"} <= set(sources.split())
    assert disallow_origin(
        session=session, practice_id=practice.id, origin="https://clinic.example"
    )
    sources = frame_ancestors(session=session, practice_slug=practice.slug)
    assert sources is not None and "https://clinic.example" not in sources.split()
    assert frame_ancestors(session=session, practice_slug="no-such-practice") is None


def test_the_socket_refuses_a_foreign_origin_with_4403(console: Console) -> None:
    with console.client.websocket_connect(
        "/chat/ws?practice=riverside", headers={"Origin": "https://evil.example"}
    ) as ws:
        frame = ws.receive_json()
        assert frame["type"] == "error" and frame["code"] == "origin_not_allowed"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4403


def test_the_socket_accepts_our_own_pages_only(console: Console) -> None:
    with console.client.websocket_connect(
        "/chat/ws?practice=riverside", headers={"Origin": "https://testserver"}
    ) as ws:
        assert ws.receive_json()["type"] == "session"
    # The demo practice allows these sites to embed its chat: they frame it, nothing more.
    for origin in ("http://localhost:5173", "http://127.0.0.1:9999"):
        with console.client.websocket_connect(
            "/chat/ws?practice=riverside", headers={"Origin": origin}
        ) as ws:
            assert ws.receive_json()["code"] == "origin_not_allowed", origin
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4403


def test_an_unknown_practice_is_still_reported_as_unknown(console: Console) -> None:
    with console.client.websocket_connect(
        "/chat/ws?practice=nope", headers={"Origin": "https://evil.example"}
    ) as ws:
        assert ws.receive_json()["code"] == "practice_unknown"


def _frame_policy(console: Console, slug: str = "riverside") -> tuple[int, dict[str, str]]:
    response = console.client.get(f"/chat/frame?practice={slug}")
    return response.status_code, dict(response.headers)


def test_the_chat_frame_may_be_framed_by_the_practice_sites_only(console: Console) -> None:
    status, headers = _frame_policy(console)
    assert status == 200
    policy = headers["content-security-policy"]
    [ancestors] = [d.strip() for d in policy.split(";") if d.strip().startswith("frame-ancestors")]
    assert ancestors.split() == [
        "frame-ancestors",
        "'self'",
        "http://127.0.0.1:*",
        "http://localhost:*",
    ]  # the demo practice's allowed origins
    assert "script-src 'self';" in policy and "connect-src 'self'" in policy
    assert "x-frame-options" not in headers  # DENY would override frame-ancestors' list
    assert headers["cache-control"] == "no-store"
    assert headers["x-content-type-options"] == "nosniff"
    # Every other page still refuses all framing.
    widget = console.client.get("/widget.js").headers
    assert widget["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in widget["content-security-policy"]


def test_a_disallowed_site_leaves_the_frame_policy_at_once(console: Console) -> None:
    with console.db() as session:
        assert disallow_origin(session=session, practice_id=1, origin="http://localhost:*")
    _, headers = _frame_policy(console)
    assert "http://localhost:*" not in headers["content-security-policy"]
    assert "http://127.0.0.1:*" in headers["content-security-policy"]


def test_the_frame_of_an_unknown_practice_is_framed_by_nobody(console: Console) -> None:
    status, headers = _frame_policy(console, "no-such-practice")
    assert status == 404
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_the_chat_frame_loads_the_chat_script_from_our_origin(console: Console) -> None:
    page = console.client.get("/chat/frame?practice=riverside")
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/chat.js" defer></script>' in page.text
    script = console.client.get("/static/chat.js")
    assert script.status_code == 200 and "sessionStorage" in script.text
    launcher = console.client.get("/widget.js").text
    assert "sessionStorage." not in launcher and "localStorage" not in launcher
    assert "/chat/frame" in launcher
