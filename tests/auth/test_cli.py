"""`frontdesk staff …` and `frontdesk widget …` against a real migrated database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from frontdesk.audit.models import AuditEvent
from frontdesk.auth.models import StaffAccount, StaffRole
from frontdesk.auth.passwords import verify_password
from frontdesk.cli import app
from frontdesk.db import make_engine
from frontdesk.demo.access import DEMO_EMAILS
from frontdesk.settings import get_settings

PASSWORD = "a long enough passphrase"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A migrated, seeded database in a temp folder, the CLI pointed at it."""
    for name in ("FRONTDESK_DATABASE_URL", "FRONTDESK_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FRONTDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FRONTDESK_ENV", "development")  # a developer's shell (`make`)
    monkeypatch.chdir(tmp_path)  # a developer's .env in the checkout must not be used
    get_settings.cache_clear()
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    assert runner.invoke(app, ["seed-demo"]).exit_code == 0
    yield tmp_path / "frontdesk.db"
    get_settings.cache_clear()


def accounts(database: Path) -> dict[str, StaffAccount]:
    engine = make_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as db:
            return {a.email: a for a in db.scalars(select(StaffAccount))}
    finally:
        engine.dispose()


def test_staff_add_reads_the_password_from_stdin(database: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "staff",
            "add",
            "--practice",
            "riverside",
            "--email",
            "Lee@Example.org",
            "--name",
            "Lee Billing",
            "--role",
            "billing",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "created billing lee@example.org" in result.output
    created = accounts(database)["lee@example.org"]
    assert created.role is StaffRole.BILLING and created.display_name == "Lee Billing"
    assert verify_password(created.password_hash, PASSWORD)
    listed = CliRunner().invoke(app, ["staff", "list", "--practice", "riverside"])
    assert "lee@example.org\tLee Billing\tbilling\tactive" in listed.output


def test_staff_add_prompts_twice_and_refuses_bad_input(database: Path) -> None:
    runner = CliRunner()
    prompted = runner.invoke(
        app,
        ["staff", "add", "--practice", "riverside", "--email", "kim@example.org", "--name", "Kim"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert prompted.exit_code == 0, prompted.output
    assert accounts(database)["kim@example.org"].role is StaffRole.FRONT_DESK
    for args, stdin, message in (
        (
            ["--practice", "nope", "--email", "x@example.org", "--name", "X"],
            PASSWORD,
            "no practice",
        ),
        (["--practice", "riverside", "--email", "y@example.org", "--name", "Y"], "short", "12"),
        (
            ["--practice", "riverside", "--email", "kim@example.org", "--name", "K"],
            PASSWORD,
            "exists",
        ),
    ):
        result = runner.invoke(app, ["staff", "add", *args, "--password-stdin"], input=stdin + "\n")
        assert result.exit_code != 0 and message in result.output, args
    disabled = runner.invoke(app, ["staff", "disable", "--email", "kim@example.org"])
    assert disabled.exit_code == 0 and not accounts(database)["kim@example.org"].active


def test_the_demo_seed_creates_demo_staff_only_in_development(
    database: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert set(accounts(database)) >= DEMO_EMAILS  # the fixture runs in development
    fresh = tmp_path / "prod"
    fresh.mkdir()
    monkeypatch.setenv("FRONTDESK_DATA_DIR", str(fresh))
    monkeypatch.setenv("FRONTDESK_ENV", "production")
    for name in ("SECRET_KEY", "INTERNAL_TOKEN", "RASA_TOKEN"):
        monkeypatch.setenv(f"FRONTDESK_{name}", "a-real-secret-for-this-test-only")
    get_settings.cache_clear()
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    assert runner.invoke(app, ["seed-demo"]).exit_code == 0
    assert not DEMO_EMAILS & set(accounts(fresh / "frontdesk.db"))


def test_widget_origins_are_managed_from_the_command_line(database: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["widget", "origins", "--practice", "riverside"])
    assert listed.output.split() == ["http://127.0.0.1:*", "http://localhost:*"]
    added = runner.invoke(
        app, ["widget", "allow", "https://WWW.Clinic.example/", "--practice", "riverside"]
    )
    assert added.exit_code == 0 and "allowed https://www.clinic.example" in added.output
    bad = runner.invoke(app, ["widget", "allow", "clinic.example", "--practice", "riverside"])
    assert bad.exit_code == 1 and "not an origin" in bad.output
    removed = runner.invoke(
        app, ["widget", "disallow", "https://www.clinic.example", "--practice", "riverside"]
    )
    assert removed.output.strip() == "removed"
    assert (
        "clinic" not in runner.invoke(app, ["widget", "origins", "--practice", "riverside"]).output
    )


def audit_trail(database: Path) -> list[tuple[str, str, str, int | None]]:
    engine = make_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as db:
            events = db.scalars(select(AuditEvent).order_by(AuditEvent.id))
            return [(e.action, e.subject_type, e.subject_id, e.actor_id) for e in events]
    finally:
        engine.dispose()


def test_staff_account_and_widget_origin_changes_are_audited(database: Path) -> None:
    runner = CliRunner()
    add = ["staff", "add", "--practice", "riverside", "--email", "ana@example.org"]
    added = runner.invoke(app, [*add, "--name", "Ana", "--password-stdin"], input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    reset = runner.invoke(
        app,
        ["staff", "set-password", "--email", "ana@example.org", "--password-stdin"],
        input=PASSWORD + " again\n",
    )
    assert reset.exit_code == 0, reset.output
    assert runner.invoke(app, ["staff", "disable", "--email", "ana@example.org"]).exit_code == 0
    site = "https://www.riverside.example"
    allow = ["widget", "allow", site, "--practice", "riverside"]
    assert runner.invoke(app, allow).exit_code == 0
    assert runner.invoke(app, allow).exit_code == 0  # already allowed: nothing changes
    assert (
        runner.invoke(app, ["widget", "disallow", site, "--practice", "riverside"]).exit_code == 0
    )
    ana = str(accounts(database)["ana@example.org"].id)
    # The command line acts as the host's operator: no staff actor.
    assert audit_trail(database) == [
        ("staff.create", "staff", ana, None),
        ("staff.password_set", "staff", ana, None),
        ("staff.disable", "staff", ana, None),
        ("widget_origin.allow", "widget_origin", site, None),
        ("widget_origin.disallow", "widget_origin", site, None),
    ]
