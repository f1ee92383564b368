"""The staff accounts admin page and one-time password links, through HTTP."""

from __future__ import annotations

import re

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.websockets import WebSocketDisconnect

from frontdesk.audit.models import AuditEvent
from frontdesk.auth.models import StaffAccount, StaffRole
from frontdesk.events import Event
from frontdesk.models import Practice
from tests.auth.support import Console
from tests.support.apps import portal_of, services_of

ADMIN = "avery.admin@example.org"
DESK = "dana.desk@example.org"
PAGE = "/console/admin/staff"
NEW_PASSWORD = "a brand new passphrase"
_LINK = re.compile(r'value="https?://[^"]*(/console/welcome/[^"]+)"')


def admin_signed_in(console: Console) -> int:
    account = console.add_staff(ADMIN, StaffRole.ADMIN, name="Avery Admin")
    assert console.sign_in(ADMIN).status_code == 303
    return account


def fresh(console: Console) -> Console:
    """A second browser on the same app, signed out."""
    client = TestClient(console.client.app, base_url="https://testserver")
    return Console(client, console.engine, console.clock, console.settings, console.practice_id)


def post(console: Console, path: str, **fields: str) -> httpx2.Response:
    return console.client.post(
        path, data={"csrf_token": console.page_csrf(PAGE), **fields}, follow_redirects=False
    )


def link_in(text: str) -> str:
    match = _LINK.search(text)
    assert match, "the page shows no one-time link"
    return match.group(1)


def audit_reasons(console: Console, action: str) -> list[str]:
    with console.db() as db:
        rows = db.scalars(select(AuditEvent.reason).where(AuditEvent.action == action))
        return [r or "" for r in rows]


def test_only_admins_see_the_page(console: Console) -> None:
    console.add_staff(DESK, StaffRole.FRONT_DESK)
    assert console.client.get(PAGE, follow_redirects=False).status_code == 401
    assert console.sign_in(DESK).status_code == 303
    assert console.client.get(PAGE).status_code == 403
    for path in (PAGE, f"{PAGE}/1/disable"):
        token = console.page_csrf("/console")
        assert console.client.post(path, data={"csrf_token": token}).status_code == 403


def test_an_invitation_link_sets_the_password_once(console: Console) -> None:
    admin_signed_in(console)
    page = console.client.post(
        PAGE,
        data={
            "csrf_token": console.page_csrf(PAGE),
            "name": "Nia New",
            "email": "Nia.New@example.org",
            "role": "billing",
        },
    )
    assert page.status_code == 201
    assert "nia.new@example.org" in page.text
    link = link_in(page.text)
    newcomer = fresh(console)
    assert newcomer.sign_in("nia.new@example.org", NEW_PASSWORD).status_code == 401

    other = fresh(console).client
    assert other.get(link).status_code == 200
    mismatch = other.post(link, data={"password": NEW_PASSWORD, "confirm": "something else!!"})
    assert mismatch.status_code == 400
    short = other.post(link, data={"password": "short", "confirm": "short"})
    assert short.status_code == 400
    done = other.post(
        link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, follow_redirects=False
    )
    assert done.status_code == 303
    assert other.get(link).status_code == 410  # used once
    again = other.post(
        link, data={"password": "another passphrase", "confirm": "another passphrase"}
    )
    assert again.status_code == 410
    assert newcomer.sign_in("nia.new@example.org", NEW_PASSWORD).status_code == 303
    assert audit_reasons(console, "staff.invite")[0].startswith("before: none; after: billing")


def test_a_link_expires(console: Console) -> None:
    admin_signed_in(console)
    page = post(console, PAGE, name="Late Larry", email="larry@example.org", role="front_desk")
    link = link_in(page.text)
    console.clock.advance(hours=73)
    assert console.client.get(link).status_code == 410


def test_reset_ends_sessions_voids_the_password_and_replaces_older_links(console: Console) -> None:
    admin_signed_in(console)
    desk = console.add_staff(DESK, StaffRole.FRONT_DESK, name="Dana Desk")
    desk_console = fresh(console)
    desk_client = desk_console.client
    assert desk_console.sign_in(DESK).status_code == 303
    assert desk_client.get("/console").status_code == 200

    first = link_in(post(console, f"{PAGE}/{desk}/reset").text)
    assert desk_client.get("/console", follow_redirects=False).status_code == 401
    assert desk_console.sign_in(DESK).status_code == 401  # the old password is void
    second = link_in(post(console, f"{PAGE}/{desk}/reset").text)
    assert desk_client.get(first).status_code == 410  # replaced by the newer link
    assert desk_client.get(second).status_code == 200
    assert "sessions ended" in audit_reasons(console, "staff.password_reset")[0]


def test_disable_ends_sessions_at_once_and_enable_restores(console: Console) -> None:
    admin_signed_in(console)
    desk = console.add_staff(DESK, StaffRole.FRONT_DESK, name="Dana Desk")
    desk_console = fresh(console)
    desk_client = desk_console.client
    assert desk_console.sign_in(DESK).status_code == 303

    assert post(console, f"{PAGE}/{desk}/disable").status_code == 303
    assert desk_client.get("/console", follow_redirects=False).status_code == 401
    assert desk_console.sign_in(DESK).status_code == 401
    assert "disabled" in console.client.get(PAGE).text
    assert post(console, f"{PAGE}/{desk}/enable").status_code == 303
    assert desk_console.sign_in(DESK).status_code == 303
    assert audit_reasons(console, "staff.disable") == [
        "before: front_desk, active; after: front_desk, disabled; sessions ended"
    ]
    assert audit_reasons(console, "staff.enable") == [
        "before: front_desk, disabled; after: front_desk, active"
    ]


def test_role_changes_are_audited_and_the_last_admin_stays(console: Console) -> None:
    me = admin_signed_in(console)
    desk = console.add_staff(DESK, StaffRole.FRONT_DESK, name="Dana Desk")
    refused = post(console, f"{PAGE}/{me}/role", role="front_desk")
    assert refused.status_code == 409
    assert "last active admin" in refused.text
    assert post(console, f"{PAGE}/{me}/disable").status_code == 409
    assert post(console, f"{PAGE}/{desk}/role", role="owner").status_code == 400

    assert post(console, f"{PAGE}/{desk}/role", role="admin").status_code == 303
    assert post(console, f"{PAGE}/{me}/role", role="manager").status_code == 303
    assert console.client.get(PAGE).status_code == 403  # my own role changed at once
    assert audit_reasons(console, "staff.role_change") == [
        "before: front_desk, active; after: admin, active",
        "before: admin, active; after: manager, active",
    ]


def test_another_practices_accounts_are_out_of_reach(console: Console) -> None:
    admin_signed_in(console)
    with console.db() as db:
        other = Practice(slug="elsewhere", name="Elsewhere Clinic", timezone="America/Chicago")
        db.add(other)
        db.flush()
        other_id = other.id
    stranger = console.add_staff("sam@elsewhere.example.org", StaffRole.ADMIN, practice_id=other_id)
    console.add_staff("pat@elsewhere.example.org", StaffRole.ADMIN, practice_id=other_id)
    assert "elsewhere.example.org" not in console.client.get(PAGE).text
    for change in ("disable", "reset", "role"):
        response = post(console, f"{PAGE}/{stranger}/{change}", role="front_desk")
        assert response.status_code == 404
    with console.db() as db:
        account = db.get(StaffAccount, stranger)
        assert account is not None and account.active and account.role is StaffRole.ADMIN


def test_forged_or_malformed_links_are_refused(console: Console) -> None:
    admin_signed_in(console)
    page = post(console, PAGE, name="Nia New", email="nia@example.org", role="front_desk")
    account_id, expires, _ = link_in(page.text).removeprefix("/console/welcome/").split(".")
    later = int(expires) + 3600
    for token in (f"{account_id}.{later}.AAAA", "1.2", "x.y.z", f"{account_id}.{expires}."):
        assert console.client.get(f"/console/welcome/{token}").status_code == 410, token
    taken = post(console, PAGE, name="Nia Again", email="NIA@example.org", role="front_desk")
    assert taken.status_code == 400
    assert post(console, PAGE, name="No Email", email="nobody", role="admin").status_code == 400


def test_a_disabled_accounts_live_socket_ends(console: Console) -> None:
    admin_signed_in(console)
    desk = console.add_staff(DESK, StaffRole.FRONT_DESK, name="Dana Desk")
    desk_console = fresh(console)
    assert desk_console.sign_in(DESK).status_code == 303
    services = services_of(console.client)
    event = Event("conversation.escalated", console.practice_id, {"conversation_id": "c_1"})
    with desk_console.client.websocket_connect("wss://testserver/console/ws") as live:
        portal_of(console.client).call(services.events.publish, event)
        assert live.receive_json()["conversation_id"] == "c_1"
        assert post(console, f"{PAGE}/{desk}/disable").status_code == 303
        portal_of(console.client).call(services.events.publish, event)
        with pytest.raises(WebSocketDisconnect) as ended:
            live.receive_json()
    assert ended.value.code == 4401
