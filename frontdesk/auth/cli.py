"""`frontdesk staff …` (staff accounts) and `frontdesk widget …` (embedding origins)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from frontdesk.auth.models import StaffRole
from frontdesk.auth.origins import (
    InvalidOriginError,
    allow_origin,
    allowed_origins,
    disallow_origin,
)
from frontdesk.auth.passwords import WeakPasswordError
from frontdesk.auth.service import (
    StaffAccountError,
    create_staff_account,
    disable_staff_account,
    get_account,
    list_accounts,
    set_password,
)
from frontdesk.clock import system_clock
from frontdesk.conversations.service import get_practice
from frontdesk.db import make_engine, make_session_factory, session_scope
from frontdesk.practices.models import Practice
from frontdesk.settings import get_settings

staff_app = typer.Typer(help="Staff console accounts.", no_args_is_help=True)
widget_app = typer.Typer(help="Websites allowed to embed the chat widget.", no_args_is_help=True)

PracticeOption = typer.Option(..., "--practice", help="The practice's slug.")


@contextmanager
def _unit_of_work() -> Iterator[Session]:
    engine = make_engine(get_settings().sqlalchemy_url)
    try:
        with session_scope(make_session_factory(engine, clock=system_clock)) as session:
            yield session
    finally:
        engine.dispose()


def _practice(session: Session, slug: str) -> Practice:
    practice = get_practice(session=session, slug=slug)
    if practice is None:
        typer.echo(f"error: no practice {slug!r}", err=True)
        raise typer.Exit(code=2)
    return practice


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@staff_app.command("add")
def add(
    practice: str = PracticeOption,
    email: str = typer.Option(..., help="Sign-in email (unique across the deployment)."),
    name: str = typer.Option(..., help="Name patients and colleagues see."),
    role: Annotated[StaffRole, typer.Option(help="front_desk, billing, manager or admin.")] = (
        StaffRole.FRONT_DESK
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
) -> None:
    """Create a staff account (asks for the password, at least 12 characters)."""
    password = _read_password(password_stdin)
    try:
        with _unit_of_work() as session:
            account = create_staff_account(
                session=session,
                practice_id=_practice(session, practice).id,
                email=email,
                display_name=name,
                role=role,
                password=password,
                now=system_clock(),
            )
            typer.echo(f"created {account.role.value} {account.email} (id {account.id})")
    except (StaffAccountError, WeakPasswordError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc


@staff_app.command("list")
def list_staff(practice: str = PracticeOption) -> None:
    """List a practice's staff accounts."""
    with _unit_of_work() as session:
        for account in list_accounts(session=session, practice_id=_practice(session, practice).id):
            state = "active" if account.active else "disabled"
            typer.echo(
                f"{account.id}\t{account.email}\t{account.display_name}\t"
                f"{account.role.value}\t{state}"
            )


@staff_app.command("disable")
def disable(email: str = typer.Option(..., help="The account's email.")) -> None:
    """Disable an account and sign it out everywhere (accounts are kept for the audit log)."""
    with _unit_of_work() as session:
        account = get_account(session=session, email=email)
        if account is None:
            typer.echo(f"error: no account {email!r}", err=True)
            raise typer.Exit(code=1)
        disable_staff_account(session=session, account=account, now=system_clock())
        typer.echo(f"disabled {account.email}")


@staff_app.command("set-password")
def change_password(
    email: str = typer.Option(..., help="The account's email."),
    password_stdin: bool = typer.Option(False, "--password-stdin"),
) -> None:
    """Set a new password and sign the account out everywhere."""
    password = _read_password(password_stdin)
    try:
        with _unit_of_work() as session:
            account = get_account(session=session, email=email)
            if account is None:
                typer.echo(f"error: no account {email!r}", err=True)
                raise typer.Exit(code=1)
            set_password(session=session, account=account, password=password, now=system_clock())
            typer.echo(f"password changed for {account.email}")
    except WeakPasswordError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc


@widget_app.command("allow")
def allow(
    origin: str = typer.Argument(..., help="e.g. https://www.example-practice.org"),
    practice: str = PracticeOption,
) -> None:
    """Allow a website to embed the practice's chat widget."""
    try:
        with _unit_of_work() as session:
            normalized = allow_origin(
                session=session,
                practice_id=_practice(session, practice).id,
                origin=origin,
                now=system_clock(),
            )
            typer.echo(f"allowed {normalized}")
    except InvalidOriginError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc


@widget_app.command("disallow")
def disallow(origin: str = typer.Argument(...), practice: str = PracticeOption) -> None:
    """Stop allowing a website to embed the widget."""
    try:
        with _unit_of_work() as session:
            removed = disallow_origin(
                session=session, practice_id=_practice(session, practice).id, origin=origin
            )
    except InvalidOriginError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo("removed" if removed else "was not allowed")


@widget_app.command("origins")
def origins(practice: str = PracticeOption) -> None:
    """List the origins allowed to embed the widget (the service's own is always allowed)."""
    with _unit_of_work() as session:
        for origin in allowed_origins(session=session, practice_id=_practice(session, practice).id):
            typer.echo(origin)
