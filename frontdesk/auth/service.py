"""Staff accounts, sign-in with lock-out, and server-side sessions.

Sessions live in the database (only a SHA-256 of the cookie's token is kept), so signing out,
disabling an account and the inactivity timeout take effect on the very next request.
"""

from __future__ import annotations

import enum
import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from frontdesk.audit.service import record_audit
from frontdesk.auth.models import LoginAttempt, StaffAccount, StaffRole, StaffSession
from frontdesk.auth.passwords import (
    check_password_rules,
    hash_password,
    needs_rehash,
    verify_password,
)
from frontdesk.demo.access import DEMO_EMAILS
from frontdesk.practices.models import Practice
from frontdesk.settings import Settings

# Touch `last_seen_at` at most this often: every request would turn reads into writes.
TOUCH_INTERVAL = timedelta(seconds=30)
ATTEMPT_RETENTION = timedelta(days=1)


@dataclass(frozen=True)
class LoginPolicy:
    """Sign-in backoff and throttling thresholds, and session lifetimes (from settings).

    An account is never locked: after `max_failures` failed sign-ins since its last
    successful one (within a day) each further attempt waits `backoff_base` from the latest
    failure, doubling with every further failure up to `backoff_cap`. One client address
    gets `max_failures_per_ip` failures per `window` over all accounts. Someone guessing a
    colleague's password slows the account down; it cannot shut its owner out for longer
    than the current delay.
    """

    max_failures: int = 5
    max_failures_per_ip: int = 20
    window: timedelta = timedelta(minutes=15)
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_cap: timedelta = timedelta(minutes=15)
    idle_timeout: timedelta = timedelta(minutes=15)
    max_age: timedelta = timedelta(hours=12)
    refused_emails: frozenset[str] = frozenset()  # demo accounts outside development

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginPolicy:
        """The policy a deployment configured."""
        return cls(
            max_failures=settings.login_max_failures,
            max_failures_per_ip=settings.login_max_failures_per_ip,
            window=timedelta(minutes=settings.login_failure_window_minutes),
            backoff_base=timedelta(seconds=settings.login_backoff_base_seconds),
            backoff_cap=timedelta(seconds=settings.login_backoff_cap_seconds),
            idle_timeout=timedelta(minutes=settings.console_idle_timeout_minutes),
            max_age=timedelta(hours=settings.console_session_max_hours),
            refused_emails=frozenset() if settings.env == "development" else DEMO_EMAILS,
        )


@dataclass(frozen=True)
class StaffUser:
    """The signed-in staff member, as request handlers see them."""

    id: int
    practice_id: int
    practice_slug: str
    practice_name: str
    display_name: str
    email: str
    role: StaffRole
    session_id: int

    @property
    def is_admin(self) -> bool:
        """Admins see the audit log."""
        return self.role is StaffRole.ADMIN


class SignInStatus(enum.StrEnum):
    """How a sign-in attempt ended."""

    OK = "ok"
    INVALID = "invalid"  # wrong email or password (never says which)
    LOCKED = "locked"  # too many failures for this account: wait for the backoff delay
    THROTTLED = "throttled"  # too many failures from this address


@dataclass(frozen=True)
class SignInResult:
    """The outcome; `token` goes into the session cookie and is never stored."""

    status: SignInStatus
    token: str | None = None
    account: StaffAccount | None = None
    retry_after: timedelta | None = None


class StaffAccountError(ValueError):
    """A staff account cannot be created as asked."""


def hash_token(token: str) -> str:
    """What the database keeps of a session token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively and without surrounding spaces."""
    return email.strip().lower()


def create_staff_account(
    *,
    session: Session,
    practice_id: int,
    email: str,
    display_name: str,
    role: StaffRole,
    password: str,
    now: datetime,
    actor_id: int | None = None,
) -> StaffAccount:
    """Create a staff account (audited); raises `StaffAccountError` or `WeakPasswordError`.

    `actor_id` is the admin who did it; None for the command line (the host's operator).
    """
    address = normalize_email(email)
    name = " ".join(display_name.split())
    if "@" not in address or len(address) > 254 or address.startswith("@"):
        raise StaffAccountError("give a valid email address")
    if not name or len(name) > 100:
        raise StaffAccountError("give a display name of 1 to 100 characters")
    check_password_rules(password)
    if session.scalar(select(StaffAccount.id).where(StaffAccount.email == address)) is not None:
        raise StaffAccountError(f"an account with the email {address} already exists")
    account = StaffAccount(
        practice_id=practice_id,
        email=address,
        display_name=name,
        role=role,
        password_hash=hash_password(password),
        created_at=now,
    )
    session.add(account)
    session.flush()
    _audit_account(session, account, "staff.create", f"role {role.value}", now, actor_id)
    return account


def _audit_account(
    session: Session,
    account: StaffAccount,
    action: str,
    reason: str | None,
    now: datetime,
    actor_id: int | None = None,
) -> None:
    """Staff account changes and sign-in trouble go to the practice's audit log."""
    record_audit(
        session=session,
        actor_id=actor_id,
        action=action,
        subject_type="staff",
        subject_id=str(account.id),
        reason=reason,
        now=now,
        practice_id=account.practice_id,
    )


def set_password(
    *,
    session: Session,
    account: StaffAccount,
    password: str,
    now: datetime,
    actor_id: int | None = None,
) -> None:
    """Replace the password and end every session of the account (audited)."""
    check_password_rules(password)
    account.password_hash = hash_password(password)
    revoke_all_sessions(session=session, staff_id=account.id, now=now)
    _audit_account(session, account, "staff.password_set", None, now, actor_id)


def _failures_since(
    session: Session, column: InstrumentedAttribute[str], value: str, since: datetime
) -> list[datetime]:
    rows = session.scalars(
        select(LoginAttempt.at)
        .where(column == value, LoginAttempt.succeeded.is_(False), LoginAttempt.at >= since)
        .order_by(LoginAttempt.at.desc())
    )
    return list(rows)


def _lock_state(
    session: Session, *, email: str, ip: str, now: datetime, policy: LoginPolicy
) -> tuple[SignInStatus | None, timedelta | None]:
    window_start = now - policy.window
    ip_failures = _failures_since(session, LoginAttempt.ip, ip, window_start)
    if len(ip_failures) >= policy.max_failures_per_ip:
        return SignInStatus.THROTTLED, ip_failures[
            policy.max_failures_per_ip - 1
        ] + policy.window - now
    last_success = session.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.email == email, LoginAttempt.succeeded.is_(True)
        )
    )
    # Counted over a day, not the window: a delay must not outlast the failures behind it.
    failures = _failures_since(session, LoginAttempt.email, email, now - ATTEMPT_RETENTION)
    if last_success is not None:  # a successful sign-in starts the count afresh
        failures = [at for at in failures if at > last_success]
    delay = backoff_delay(len(failures), policy)
    if delay is not None and now < failures[0] + delay:  # newest first
        return SignInStatus.LOCKED, failures[0] + delay - now
    return None, None


def backoff_delay(failures: int, policy: LoginPolicy) -> timedelta | None:
    """How long after the latest of `failures` failed sign-ins the next attempt must wait."""
    if failures < policy.max_failures:
        return None
    doublings = min(failures - policy.max_failures, 32)
    return min(policy.backoff_base * (1 << doublings), policy.backoff_cap)


def sign_in(
    *,
    session: Session,
    email: str,
    password: str,
    ip: str,
    now: datetime,
    policy: LoginPolicy,
) -> SignInResult:
    """Check a password and open a session, unless the account must wait or the address is
    throttled.

    Attempts refused while an account waits are not counted, so the delay ends when it says,
    whatever an attacker keeps sending. A failure on a known account is audited, and so is
    the failure that starts an account's backoff (`staff.sign_in_delayed`: the admins'
    alert, shown on the audit page).
    """
    address = normalize_email(email)[:254]
    ip = ip[:64]
    blocked, retry_after = _lock_state(session, email=address, ip=ip, now=now, policy=policy)
    if blocked is not None:
        return SignInResult(blocked, retry_after=retry_after)
    account = session.scalar(select(StaffAccount).where(StaffAccount.email == address))
    valid = verify_password(account.password_hash if account else None, password)
    refused = address in policy.refused_emails
    if account is None or not account.active or not valid or refused:
        session.add(LoginAttempt(email=address, ip=ip, succeeded=False, at=now))
        session.flush()
        blocked, retry_after = _lock_state(session, email=address, ip=ip, now=now, policy=policy)
        if account is not None:
            _audit_failure(session, account, why=_failure_reason(account, valid, refused), now=now)
            if blocked is SignInStatus.LOCKED and retry_after is not None:
                wait = math.ceil(retry_after.total_seconds())
                why = f"repeated failed sign-ins; next attempt in {wait} s"
                _audit_account(session, account, "staff.sign_in_delayed", why, now)
        if blocked is not None:
            return SignInResult(blocked, retry_after=retry_after)
        return SignInResult(SignInStatus.INVALID)
    if needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    session.add(LoginAttempt(email=address, ip=ip, succeeded=True, at=now))
    # Housekeeping on the (rare) sign-in path: old attempts and long-dead sessions go.
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - ATTEMPT_RETENTION))
    session.execute(delete(StaffSession).where(StaffSession.expires_at < now - ATTEMPT_RETENTION))
    account.last_sign_in_at = now
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            practice_id=account.practice_id,
            staff_id=account.id,
            token_hash=hash_token(token),
            created_at=now,
            last_seen_at=now,
            expires_at=now + policy.max_age,
        )
    )
    session.flush()
    return SignInResult(SignInStatus.OK, token=token, account=account)


def _failure_reason(account: StaffAccount, valid: bool, refused: bool) -> str:
    if refused:
        return "demo account refused outside development"
    if not account.active:
        return "account disabled"
    return "wrong password" if not valid else "refused"


def _audit_failure(session: Session, account: StaffAccount, *, why: str, now: datetime) -> None:
    _audit_account(session, account, "staff.sign_in_failed", why, now)


def authenticate(
    *, session: Session, token: str, now: datetime, policy: LoginPolicy, touch: bool = True
) -> StaffUser | None:
    """The staff member a session token belongs to, if the session is still alive.

    Alive means: not signed out, not past its maximum age, used within the idle timeout, and
    the account still active. A live session's last use is recorded unless `touch` is False
    (background refreshes of an open page are not activity: an unattended tab times out).
    """
    if not token or len(token) > 200:
        return None
    row = session.execute(
        select(StaffSession, StaffAccount, Practice)
        .join(StaffAccount, StaffAccount.id == StaffSession.staff_id)
        .join(Practice, Practice.id == StaffAccount.practice_id)
        .where(StaffSession.token_hash == hash_token(token))
    ).one_or_none()
    if row is None:
        return None
    staff_session, account, practice = row
    if (
        staff_session.revoked_at is not None
        or not account.active
        or staff_session.practice_id != account.practice_id
        or now >= staff_session.expires_at
        or now - staff_session.last_seen_at >= policy.idle_timeout
    ):
        return None
    if touch and now - staff_session.last_seen_at >= TOUCH_INTERVAL:
        staff_session.last_seen_at = now
        session.flush()
    return StaffUser(
        id=account.id,
        practice_id=account.practice_id,
        practice_slug=practice.slug,
        practice_name=practice.name,
        display_name=account.display_name,
        email=account.email,
        role=account.role,
        session_id=staff_session.id,
    )


def sign_out(*, session: Session, token: str, now: datetime) -> StaffSession | None:
    """End the session a token belongs to; returns it, or None when it was not live."""
    if not token:
        return None
    staff_session = session.scalar(
        select(StaffSession).where(StaffSession.token_hash == hash_token(token))
    )
    if staff_session is None or staff_session.revoked_at is not None:
        return None
    staff_session.revoked_at = now
    session.flush()
    return staff_session


def revoke_all_sessions(*, session: Session, staff_id: int, now: datetime) -> None:
    """Sign a staff member out everywhere (password change, account disabled)."""
    session.execute(
        update(StaffSession)
        .where(StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def disable_staff_account(
    *, session: Session, account: StaffAccount, now: datetime, actor_id: int | None = None
) -> None:
    """Disable an account (kept for the audit trail; audited) and end its sessions."""
    account.active = False
    revoke_all_sessions(session=session, staff_id=account.id, now=now)
    session.flush()
    _audit_account(session, account, "staff.disable", None, now, actor_id)


def get_account(*, session: Session, email: str) -> StaffAccount | None:
    """A staff account by email."""
    return session.scalar(select(StaffAccount).where(StaffAccount.email == normalize_email(email)))


def list_accounts(*, session: Session, practice_id: int) -> list[StaffAccount]:
    """A practice's staff accounts, by name."""
    return list(
        session.scalars(
            select(StaffAccount)
            .where(StaffAccount.practice_id == practice_id)
            .order_by(StaffAccount.display_name)
        )
    )
