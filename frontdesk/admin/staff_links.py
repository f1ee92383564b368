"""One-time links that let a staff member choose a password (invitations and resets).

There is no e-mail server: the admin copies the link and hands it on. The link needs no
table. It carries the account id, an expiry and an HMAC over both and the account's current
password hash. Issuing a link replaces the password hash with an unusable one, and choosing a
password replaces it again, so a link works once and every earlier link of the account dies
with the next one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from frontdesk.auth.csrf import derive_token, tokens_match
from frontdesk.auth.models import StaffAccount
from frontdesk.auth.passwords import hash_password

LINK_LIFETIME = timedelta(hours=72)
_PURPOSE = "staff-password-link"


@dataclass(frozen=True)
class PasswordLink:
    """A link's token (goes into the URL) and when it stops working."""

    token: str
    expires_at: datetime


def _signature(secret: str, account: StaffAccount, expires: int) -> str:
    return derive_token(secret, _PURPOSE, f"{account.id}:{expires}:{account.password_hash}")


def issue_link(*, account: StaffAccount, secret: str, now: datetime) -> PasswordLink:
    """Make the account's password unusable and return a fresh one-time link for it."""
    account.password_hash = hash_password(secrets.token_urlsafe(32))
    expires_at = now + LINK_LIFETIME
    expires = int(expires_at.timestamp())
    token = f"{account.id}.{expires}.{_signature(secret, account, expires)}"
    return PasswordLink(token=token, expires_at=expires_at)


def account_for_link(
    *, session: Session, token: str, secret: str, now: datetime
) -> StaffAccount | None:
    """The active account a link is for, or None when it is forged, used, replaced or old."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    account = session.get(StaffAccount, int(parts[0]))
    expires = int(parts[1])
    if account is None or not account.active:
        return None
    if now >= datetime.fromtimestamp(expires, UTC):
        return None
    if not tokens_match(_signature(secret, account, expires), parts[2]):
        return None
    return account
