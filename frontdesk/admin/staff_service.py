"""Managing a practice's staff accounts from the console: invite, disable, enable, reset a
password, change a role.

Every change is audited in the practice's chain with who did it and the before and after
state, and a practice always keeps at least one active admin (otherwise nobody could manage
its accounts from the console again).
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from frontdesk.admin.staff_links import PasswordLink, issue_link
from frontdesk.audit.service import record_audit
from frontdesk.auth.models import StaffAccount, StaffRole
from frontdesk.auth.passwords import check_password_rules, hash_password
from frontdesk.auth.service import (
    StaffAccountError,
    create_staff_account,
    revoke_all_sessions,
)


class LastAdminError(StaffAccountError):
    """The change would leave the practice without an active admin."""


def practice_account(*, session: Session, practice_id: int, account_id: int) -> StaffAccount:
    """One of the practice's accounts; another practice's account is as good as missing."""
    account = session.get(StaffAccount, account_id)
    if account is None or account.practice_id != practice_id:
        raise LookupError(f"no staff account {account_id}")
    return account


def _state(account: StaffAccount) -> str:
    return f"{account.role.value}, {'active' if account.active else 'disabled'}"


def _audit(
    session: Session,
    *,
    actor_id: int,
    account: StaffAccount,
    action: str,
    change: str,
    now: datetime,
) -> None:
    record_audit(
        session=session,
        actor_id=actor_id,
        action=action,
        subject_type="staff",
        subject_id=str(account.id),
        reason=change,
        now=now,
        practice_id=account.practice_id,
    )


def _refuse_losing_last_admin(session: Session, account: StaffAccount) -> None:
    if account.role is not StaffRole.ADMIN or not account.active:
        return
    admins = session.scalar(
        select(func.count(StaffAccount.id)).where(
            StaffAccount.practice_id == account.practice_id,
            StaffAccount.role == StaffRole.ADMIN,
            StaffAccount.active.is_(True),
        )
    )
    if (admins or 0) <= 1:
        raise LastAdminError(
            "this is the practice's last active admin: make someone else admin first"
        )


def invite(
    *,
    session: Session,
    practice_id: int,
    email: str,
    display_name: str,
    role: StaffRole,
    actor_id: int,
    secret: str,
    now: datetime,
) -> tuple[StaffAccount, PasswordLink]:
    """Create an account with no usable password and the link that lets its owner set one."""
    account = create_staff_account(
        session=session,
        practice_id=practice_id,
        email=email,
        display_name=display_name,
        role=role,
        password=secrets.token_urlsafe(32),  # nobody knows it; the link replaces it anyway
        now=now,
        actor_id=actor_id,
    )
    link = issue_link(account=account, secret=secret, now=now)
    _audit(
        session,
        actor_id=actor_id,
        account=account,
        action="staff.invite",
        change=f"before: none; after: {_state(account)}, "
        f"invited until {link.expires_at:%Y-%m-%d %H:%M} UTC",
        now=now,
    )
    return account, link


def reset_password(
    *, session: Session, account: StaffAccount, actor_id: int, secret: str, now: datetime
) -> PasswordLink:
    """End the account's sessions, void its password and return a link to choose a new one."""
    link = issue_link(account=account, secret=secret, now=now)
    revoke_all_sessions(session=session, staff_id=account.id, now=now)
    _audit(
        session,
        actor_id=actor_id,
        account=account,
        action="staff.password_reset",
        change=f"before: password set; after: password void, link until "
        f"{link.expires_at:%Y-%m-%d %H:%M} UTC; sessions ended",
        now=now,
    )
    return link


def disable(*, session: Session, account: StaffAccount, actor_id: int, now: datetime) -> None:
    """Disable the account; its sessions end at once (refused for the last active admin)."""
    if not account.active:
        return
    _refuse_losing_last_admin(session, account)
    before = _state(account)
    account.active = False
    revoke_all_sessions(session=session, staff_id=account.id, now=now)
    session.flush()
    _audit(
        session,
        actor_id=actor_id,
        account=account,
        action="staff.disable",
        change=f"before: {before}; after: {_state(account)}; sessions ended",
        now=now,
    )


def enable(*, session: Session, account: StaffAccount, actor_id: int, now: datetime) -> None:
    """Let a disabled account sign in again (with its old password, or a reset link)."""
    if account.active:
        return
    before = _state(account)
    account.active = True
    session.flush()
    _audit(
        session,
        actor_id=actor_id,
        account=account,
        action="staff.enable",
        change=f"before: {before}; after: {_state(account)}",
        now=now,
    )


def change_role(
    *, session: Session, account: StaffAccount, role: StaffRole, actor_id: int, now: datetime
) -> None:
    """Give the account another role (demoting the last active admin is refused).

    The account's sessions stay: every request reads the role afresh from the database.
    """
    if account.role is role:
        return
    if role is not StaffRole.ADMIN:
        _refuse_losing_last_admin(session, account)
    before = _state(account)
    account.role = role
    session.flush()
    _audit(
        session,
        actor_id=actor_id,
        account=account,
        action="staff.role_change",
        change=f"before: {before}; after: {_state(account)}",
        now=now,
    )


def choose_password(
    *, session: Session, account: StaffAccount, password: str, now: datetime
) -> None:
    """Set the password an invitation or reset link's owner chose (the link dies with it)."""
    check_password_rules(password)
    account.password_hash = hash_password(password)
    revoke_all_sessions(session=session, staff_id=account.id, now=now)
    session.flush()
    record_audit(
        session=session,
        actor_id=account.id,
        action="staff.password_set",
        subject_type="staff",
        subject_id=str(account.id),
        reason="through a one-time link",
        now=now,
    )
