"""Staff accounts, passwords and sessions at the service level, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.auth.models import StaffAccount, StaffRole, StaffSession
from frontdesk.auth.passwords import WeakPasswordError, hash_password, verify_password
from frontdesk.auth.service import (
    LoginPolicy,
    SignInStatus,
    StaffAccountError,
    authenticate,
    create_staff_account,
    set_password,
    sign_in,
    sign_out,
)
from frontdesk.models import Practice
from tests.conftest import NOW

PASSWORD = "a long enough passphrase"
POLICY = LoginPolicy()


def account(session: Session, practice: Practice, email: str = "pat@example.org") -> StaffAccount:
    return create_staff_account(
        session=session,
        practice_id=practice.id,
        email=email,
        display_name="  Pat   Front ",
        role=StaffRole.FRONT_DESK,
        password=PASSWORD,
        now=NOW,
    )


def test_passwords_are_argon2id_and_verify(session: Session, practice: Practice) -> None:
    staff = account(session, practice)
    assert staff.password_hash.startswith("$argon2id$")
    assert PASSWORD not in staff.password_hash
    assert staff.display_name == "Pat Front" and staff.email == "pat@example.org"
    assert verify_password(staff.password_hash, PASSWORD)
    assert not verify_password(staff.password_hash, PASSWORD.upper())
    assert not verify_password(None, PASSWORD)
    assert not verify_password("not a hash", PASSWORD)
    assert not verify_password(hash_password(PASSWORD), "x" * 5000)


@pytest.mark.parametrize(
    ("email", "name", "password", "error"),
    [
        ("not-an-email", "Pat", PASSWORD, StaffAccountError),
        ("pat@example.org", "", PASSWORD, StaffAccountError),
        ("pat@example.org", "Pat", "short", WeakPasswordError),
        ("pat@example.org", "Pat", " " * 20, WeakPasswordError),
    ],
)
def test_bad_account_details_are_refused(
    session: Session,
    practice: Practice,
    email: str,
    name: str,
    password: str,
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        create_staff_account(
            session=session,
            practice_id=practice.id,
            email=email,
            display_name=name,
            role=StaffRole.ADMIN,
            password=password,
            now=NOW,
        )


def test_emails_are_unique_whatever_their_case(session: Session, practice: Practice) -> None:
    account(session, practice)
    with pytest.raises(StaffAccountError, match="already exists"):
        account(session, practice, email="PAT@Example.org ")


def test_a_session_is_scoped_to_the_staff_members_practice(
    session: Session, practice: Practice
) -> None:
    staff = account(session, practice)
    result = sign_in(
        session=session,
        email="Pat@example.org",
        password=PASSWORD,
        ip="10.0.0.1",
        now=NOW,
        policy=POLICY,
    )
    assert result.status is SignInStatus.OK and result.token
    user = authenticate(session=session, token=result.token, now=NOW, policy=POLICY)
    assert user is not None
    assert (user.id, user.practice_id, user.practice_slug) == (staff.id, practice.id, "riverside")
    assert user.role is StaffRole.FRONT_DESK and not user.is_admin
    assert authenticate(session=session, token=result.token + "x", now=NOW, policy=POLICY) is None
    assert authenticate(session=session, token="", now=NOW, policy=POLICY) is None


def test_idle_sessions_expire_and_activity_is_recorded_sparingly(
    session: Session, practice: Practice
) -> None:
    account(session, practice)
    token = sign_in(
        session=session,
        email="pat@example.org",
        password=PASSWORD,
        ip="ip",
        now=NOW,
        policy=POLICY,
    ).token
    assert token
    stored = session.scalars(select(StaffSession)).one()
    later = NOW + timedelta(seconds=10)
    assert authenticate(session=session, token=token, now=later, policy=POLICY)
    assert stored.last_seen_at == NOW  # touched at most every 30 s
    later = NOW + timedelta(minutes=14)
    assert authenticate(session=session, token=token, now=later, policy=POLICY)
    assert stored.last_seen_at == later
    gone = later + timedelta(minutes=15)
    assert authenticate(session=session, token=token, now=gone, policy=POLICY) is None


def test_sign_out_and_password_change_end_sessions(session: Session, practice: Practice) -> None:
    staff = account(session, practice)

    def new_token() -> str:
        token = sign_in(
            session=session, email=staff.email, password=PASSWORD, ip="ip", now=NOW, policy=POLICY
        ).token
        assert token
        return token

    first, second = new_token(), new_token()
    assert sign_out(session=session, token=first, now=NOW) is not None
    assert sign_out(session=session, token=first, now=NOW) is None  # already ended
    assert authenticate(session=session, token=first, now=NOW, policy=POLICY) is None
    assert authenticate(session=session, token=second, now=NOW, policy=POLICY) is not None
    set_password(session=session, account=staff, password="another long passphrase", now=NOW)
    assert authenticate(session=session, token=second, now=NOW, policy=POLICY) is None
    refused = sign_in(
        session=session, email=staff.email, password=PASSWORD, ip="ip", now=NOW, policy=POLICY
    )
    assert refused.status is SignInStatus.INVALID


def test_signing_in_clears_out_long_dead_sessions(session: Session, practice: Practice) -> None:
    staff = account(session, practice)
    first = sign_in(
        session=session, email=staff.email, password=PASSWORD, ip="ip", now=NOW, policy=POLICY
    )
    assert first.token
    a_day_later = NOW + POLICY.max_age + timedelta(days=1, seconds=1)
    sign_in(
        session=session,
        email=staff.email,
        password=PASSWORD,
        ip="ip",
        now=a_day_later,
        policy=POLICY,
    )
    remaining = session.scalars(select(StaffSession)).all()
    assert len(remaining) == 1 and remaining[0].created_at == a_day_later
