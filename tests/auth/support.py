"""A console harness for tests: the real app on a migrated SQLite file, a settable clock,
staff accounts, and sign-in through the real form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from frontdesk.app import create_app
from frontdesk.auth.models import StaffAccount, StaffRole
from frontdesk.auth.passwords import hash_password
from frontdesk.db import clock_of, make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.models import Practice
from frontdesk.settings import Settings
from tests.conftest import AT_NOW, NOW
from tests.doubles import ScriptedBot

TOKEN = "internal-test-token"
PASSWORD = "correct horse battery staple"
_FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Clock:
    """A clock tests move by hand."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Console:
    """The running app and what tests need around it."""

    client: TestClient
    engine: Engine
    clock: Clock
    settings: Settings
    practice_id: int
    accounts: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def db(self) -> Iterator[Session]:
        with session_scope(make_session_factory(self.engine, clock=self.clock)) as session:
            yield session

    def add_staff(
        self,
        email: str,
        role: StaffRole = StaffRole.FRONT_DESK,
        *,
        name: str = "Sam Staff",
        practice_id: int | None = None,
    ) -> int:
        with self.db() as session:
            account_id = insert_staff(
                session, practice_id or self.practice_id, email, name=name, role=role
            )
            self.accounts[email] = account_id
            return account_id

    def login_form_token(self) -> str:
        page = self.client.get("/console/login")
        assert page.status_code == 200
        match = _FORM_TOKEN.search(page.text)
        assert match, "the sign-in form has no CSRF token"
        return match.group(1)

    def sign_in(
        self, email: str, password: str = PASSWORD, *, next_path: str = "/console"
    ) -> httpx2.Response:
        token = self.login_form_token()
        return self.client.post(
            "/console/login",
            data={"email": email, "password": password, "csrf_token": token, "next": next_path},
            follow_redirects=False,
        )

    def page_csrf(self, path: str = "/console/audit") -> str:
        """The session's CSRF token, as a page's meta tag carries it."""
        page = self.client.get(path)
        match = re.search(r'<meta name="csrf-token" content="([^"]*)">', page.text)
        assert match, f"{path} has no csrf meta tag"
        return match.group(1)


def insert_staff(
    session: Session,
    practice_id: int,
    email: str,
    *,
    name: str = "Sam Staff",
    role: StaffRole = StaffRole.FRONT_DESK,
    password: str = PASSWORD,
) -> int:
    """A staff account row as test setup, without the audited service call that makes one."""
    account = StaffAccount(
        practice_id=practice_id,
        email=email.strip().lower(),
        display_name=name,
        role=role,
        password_hash=hash_password(password),
        created_at=clock_of(session)(),
    )
    session.add(account)
    session.flush()
    return account.id


def make_console(engine: Engine, tmp_path: Path, **overrides: Any) -> Iterator[Console]:
    """Seed the demo practice, build the app, and yield a signed-out client over https."""
    with session_scope(make_session_factory(engine, clock=AT_NOW)) as db:
        practice: Practice = seed_demo(db)
        practice_id = practice.id
    options: dict[str, Any] = {
        "env": "test",
        "data_dir": tmp_path,
        "internal_token": TOKEN,
        "rasa_token": "rasa-test-token",
        "secret_key": "secret-test-key",
        "allowed_hosts": "testserver",  # the TestClient's Host header
        # Background workers of other areas are not under test here.
        "sms_worker_enabled": False,
        "reminders_enabled": False,
    }
    options.update(overrides)
    settings = Settings(**options)
    clock = Clock()
    bot = ScriptedBot()
    app = create_app(settings, engine=engine, bot=bot, clock=clock)
    bot.attach(app, TOKEN)
    # https, so the Secure session cookie travels back as it would in production.
    with TestClient(app, base_url="https://testserver") as client:
        yield Console(client, engine, clock, settings, practice_id)
