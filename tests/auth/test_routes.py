"""Sign-in, sessions, lock-out, CSRF and roles through the real HTTP entry points."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from frontdesk.audit.models import AuditEvent
from frontdesk.auth.deps import SESSION_COOKIE
from frontdesk.auth.models import LoginAttempt, StaffAccount, StaffRole, StaffSession
from frontdesk.auth.service import create_staff_account, disable_staff_account, hash_token
from frontdesk.demo.access import DEMO_PASSWORD, seed_demo_access
from frontdesk.models import Practice
from tests.auth.support import PASSWORD, Console, make_console

ADMIN = "admin@example.org"
DEMO_ADMIN = "admin@riverside.example"
DESK = "desk@example.org"


def signed_in(console: Console, email: str, role: StaffRole) -> Console:
    console.add_staff(email, role, name="Avery Admin" if role is StaffRole.ADMIN else "Sam Desk")
    response = console.sign_in(email, next_path="/console/audit")
    assert response.status_code == 303, response.text
    return console


def test_signing_in_sets_a_hardened_cookie_and_keeps_only_a_hash(console: Console) -> None:
    console.add_staff(ADMIN, StaffRole.ADMIN, name="Avery Admin")
    response = console.sign_in(" Admin@Example.org ", next_path="/console/audit?page=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/audit?page=1"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "samesite", "path"} <= attributes
    assert "samesite=lax" in cookie.lower()
    token = console.client.cookies[SESSION_COOKIE]
    with console.db() as db:
        stored = db.scalars(select(StaffSession)).one()
        assert stored.token_hash == hash_token(token) and token not in stored.token_hash
        events = db.scalars(select(AuditEvent)).all()
        assert [(e.action, e.actor_id) for e in events] == [
            ("staff.sign_in", console.accounts[ADMIN])
        ]
    page = console.client.get("/console/audit")
    assert page.status_code == 200
    assert "Avery Admin" in page.text and "Riverside Family Medicine" in page.text


def test_wrong_password_and_unknown_email_get_the_same_answer(console: Console) -> None:
    console.add_staff(DESK)
    wrong = console.sign_in(DESK, "not the password at all")
    unknown = console.sign_in("nobody@example.org")
    assert wrong.status_code == unknown.status_code == 401
    assert "do not match" in wrong.text and "do not match" in unknown.text
    assert SESSION_COOKIE not in console.client.cookies
    with console.db() as db:
        assert db.scalar(select(StaffSession)) is None


def test_five_failures_delay_the_account_without_locking_its_owner_out(
    console: Console,
) -> None:
    console.add_staff(DESK)
    answers = [console.sign_in(DESK, f"wrong password {n}").status_code for n in range(5)]
    assert answers == [401, 401, 401, 401, 429]
    delayed = console.sign_in(DESK)  # the right password waits for the delay too
    assert delayed.status_code == 429
    assert "Too many failed sign-ins" in delayed.text
    assert 0 < int(delayed.headers["retry-after"]) <= 30
    console.clock.advance(seconds=31)  # not the old 15-minute lock-out
    assert console.sign_in(DESK).status_code == 303


def test_each_further_failure_doubles_the_delay_up_to_the_cap(console: Console) -> None:
    console.add_staff(DESK)
    for n in range(4):
        console.sign_in(DESK, f"wrong password {n}")
    waits = []
    for n in range(7):
        refused = console.sign_in(DESK, f"still wrong {n}")
        assert refused.status_code == 429
        waits.append(int(refused.headers["retry-after"]))
        console.clock.advance(seconds=waits[-1] + 1)
    assert waits == [30, 60, 120, 240, 480, 900, 900]


def test_failed_and_delayed_sign_ins_are_audited_and_admins_alerted(console: Console) -> None:
    signed_in(console, ADMIN, StaffRole.ADMIN)
    admin_cookies = dict(console.client.cookies)
    console.client.cookies.clear()
    console.add_staff(DESK, name="Sam Desk")
    for n in range(5):
        console.sign_in(DESK, f"wrong password {n}")
    console.sign_in("nobody@example.org", "guess")  # no account: no practice to tell
    with console.db() as db:
        events = db.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        trouble = [(e.action, e.subject_id, e.actor_id) for e in events if e.seq > 1]
    desk = str(console.accounts[DESK])
    assert trouble == [("staff.sign_in_failed", desk, None)] * 5 + [
        ("staff.sign_in_delayed", desk, None)
    ]
    console.client.cookies.update(admin_cookies)
    page = console.client.get("/console/audit")
    assert "Repeated failed sign-ins in the last 24 hours" in page.text
    assert "Sam Desk (1)" in page.text


def test_a_success_resets_the_failure_count(console: Console) -> None:
    console.add_staff(DESK)
    for n in range(4):
        assert console.sign_in(DESK, f"wrong password {n}").status_code == 401
    console.clock.advance(seconds=5)
    assert console.sign_in(DESK).status_code == 303
    console.client.cookies.clear()
    console.clock.advance(seconds=5)
    assert console.sign_in(DESK, "wrong again, once").status_code == 401
    assert console.sign_in(DESK).status_code == 303


@pytest.fixture
def strict_console(sqlite_engine: Engine, tmp_path: Path) -> Iterator[Console]:
    yield from make_console(sqlite_engine, tmp_path, login_max_failures_per_ip=3)


def test_one_address_guessing_many_accounts_is_throttled(strict_console: Console) -> None:
    strict_console.add_staff(DESK)
    answers = [strict_console.sign_in(f"guess{n}@example.org").status_code for n in range(3)]
    assert answers == [401, 401, 429]
    assert strict_console.sign_in(DESK).status_code == 429
    with strict_console.db() as db:
        attempts = db.scalars(select(LoginAttempt)).all()
        assert len(attempts) == 3 and {a.ip for a in attempts} == {"testclient"}


def test_the_sign_in_form_needs_its_own_token(console: Console) -> None:
    console.add_staff(DESK)
    forged = console.client.post(
        "/console/login",
        data={"email": DESK, "password": PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert SESSION_COOKIE not in console.client.cookies
    as_json = console.client.post("/console/login", json={"email": DESK, "password": PASSWORD})
    assert as_json.status_code == 415


def test_sign_out_needs_the_csrf_token_and_ends_the_session_server_side(
    console: Console,
) -> None:
    signed_in(console, ADMIN, StaffRole.ADMIN)
    token = console.client.cookies[SESSION_COOKIE]
    refused = console.client.post("/console/logout", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert console.client.get("/console/audit").status_code == 200  # still signed in

    csrf = console.page_csrf()
    cross_site = console.client.post(
        "/console/logout",
        data={"csrf_token": csrf},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert cross_site.status_code == 403

    done = console.client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/console/login?signed_out=1"
    # Replaying the old cookie gets nowhere: the session is revoked in the database.
    console.client.cookies.set(SESSION_COOKIE, token, domain="testserver")
    again = console.client.get(
        "/console/audit", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert again.status_code == 303
    with console.db() as db:
        actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
        # The two audit page views in between are audited too.
        assert actions == ["staff.sign_in", "audit.view", "audit.view", "staff.sign_out"]


def test_the_csrf_token_also_works_as_a_header_and_is_tied_to_the_session(
    console: Console,
) -> None:
    signed_in(console, ADMIN, StaffRole.ADMIN)
    first = console.page_csrf()
    console.client.cookies.clear()
    assert console.sign_in(ADMIN).status_code == 303
    second = console.page_csrf()
    assert first != second
    stale = console.client.post(
        "/console/logout", headers={"X-CSRF-Token": first}, follow_redirects=False
    )
    assert stale.status_code == 403
    fresh = console.client.post(
        "/console/logout", headers={"X-CSRF-Token": second}, follow_redirects=False
    )
    assert fresh.status_code == 303


def test_inactivity_signs_staff_out(console: Console) -> None:
    signed_in(console, ADMIN, StaffRole.ADMIN)
    for _ in range(3):  # activity keeps the session alive past the timeout in total
        console.clock.advance(minutes=14)
        assert console.client.get("/console/audit").status_code == 200
    console.clock.advance(minutes=15)
    expired = console.client.get(
        "/console/audit", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert expired.status_code == 303
    assert expired.headers["location"] == "/console/login?next=%2Fconsole%2Faudit&expired=1"
    notice = console.client.get(expired.headers["location"])
    assert "signed out after 15 minutes without activity" in notice.text


def test_sessions_end_at_their_maximum_age_even_when_active(console: Console) -> None:
    signed_in(console, ADMIN, StaffRole.ADMIN)
    for _ in range(59):  # 11 h 48 min of steady activity
        console.clock.advance(minutes=12)
        assert console.client.get("/console/audit").status_code == 200
    console.clock.advance(minutes=12)  # 12 hours after sign-in
    assert console.client.get("/console/audit").status_code == 401


def test_roles_and_requests_without_a_session(console: Console) -> None:
    page = console.client.get(
        "/console/audit", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=%2Fconsole%2Faudit"
    assert console.client.get("/console/audit/export").status_code == 401
    signed_in(console, DESK, StaffRole.FRONT_DESK)
    assert console.client.get("/console/audit").status_code == 403
    assert console.client.get("/console/audit/export").status_code == 403


def test_disabling_an_account_ends_its_sessions(console: Console) -> None:
    signed_in(console, ADMIN, StaffRole.ADMIN)
    with console.db() as db:
        account = db.get_one(StaffAccount, console.accounts[ADMIN])
        disable_staff_account(session=db, account=account, now=console.clock())
    assert console.client.get("/console/audit").status_code == 401
    console.client.cookies.clear()
    assert console.sign_in(ADMIN).status_code == 401


def test_sign_in_only_continues_to_console_pages(console: Console) -> None:
    console.add_staff(DESK)
    for target in ("https://evil.example/", "//evil.example", "/api/docs", "/console/login"):
        console.client.cookies.clear()
        response = console.sign_in(DESK, next_path=target)
        assert response.headers["location"] == "/console", target


def test_demo_accounts_are_refused_outside_development(console: Console) -> None:
    demo_email = "admin@riverside.example"
    with console.db() as db:
        if db.scalar(select(StaffAccount.id).where(StaffAccount.email == demo_email)) is None:
            # Seeding only creates it when this process runs in development; make it anyway.
            create_staff_account(
                session=db,
                practice_id=console.practice_id,
                email=demo_email,
                display_name="Avery Admin",
                role=StaffRole.ADMIN,
                password=DEMO_PASSWORD,
                now=console.clock(),
            )
    assert console.settings.env == "test"
    assert console.sign_in(demo_email, DEMO_PASSWORD).status_code == 401


def test_console_pages_carry_security_headers(console: Console) -> None:
    page = console.client.get("/console/login")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    # Every response has security headers now; no-store and the strict policy stay console's.
    health = console.client.get("/healthz").headers
    assert health.get("cache-control") != "no-store"
    assert health["content-security-policy"] != page.headers["content-security-policy"]


def test_background_refreshes_do_not_keep_an_unattended_console_signed_in(
    console: Console,
) -> None:
    signed_in(console, ADMIN, StaffRole.ADMIN)
    background = {"X-Frontdesk-Background": "1"}
    for _ in range(2):  # 2 x 7 minutes of polling, nobody at the keyboard
        console.clock.advance(minutes=7)
        assert console.client.get("/console/audit", headers=background).status_code == 200
    console.clock.advance(minutes=2)  # 16 minutes since the last real request
    assert console.client.get("/console/audit", headers=background).status_code == 401


def test_live_socket_reconnects_do_not_keep_an_unattended_console_signed_in(
    console: Console,
) -> None:
    signed_in(console, ADMIN, StaffRole.ADMIN)
    for _ in range(2):  # a proxy drops the idle socket every 7 minutes; the page reconnects
        console.clock.advance(minutes=7)
        with console.client.websocket_connect("wss://testserver/console/ws"):
            pass
    console.clock.advance(minutes=2)  # 16 minutes since the last real request
    assert console.client.get("/console/api/queue").status_code == 401


@pytest.fixture
def dev_console(sqlite_engine: Engine, tmp_path: Path) -> Iterator[Console]:
    # `make run`: development, plain http on loopback, the placeholder secrets.
    yield from make_console(
        sqlite_engine,
        tmp_path,
        env="development",
        internal_token="dev-only-not-secret",
        rasa_token="dev-only-not-secret",
        secret_key="dev-only-not-secret",
    )


def seed_demo_access_in_development(db: Session, practice_id: int) -> None:
    seed_demo_access(db, db.get_one(Practice, practice_id), staff_accounts=True)


def test_demo_accounts_sign_in_during_development_without_a_secure_cookie(
    dev_console: Console,
) -> None:
    with dev_console.db() as db:
        seeded = db.scalar(select(StaffAccount).where(StaffAccount.email == DEMO_ADMIN))
        if seeded is None:  # this process does not run in development: seed as `make run` does
            seed_demo_access_in_development(db, dev_console.practice_id)
    response = dev_console.sign_in(DEMO_ADMIN, DEMO_PASSWORD)
    assert response.status_code == 303
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    assert "secure" not in cookie.lower() and "httponly" in cookie.lower()
    assert dev_console.client.get("/console/audit").status_code == 200
