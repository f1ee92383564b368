"""CSRF synchronizer tokens, derived from (and so tied to) the staff session.

The token is an HMAC of the session token under the service's secret key: it changes with
every sign-in, cannot be computed without the HttpOnly cookie's value, and needs no storage.
The sign-in form, which has no session yet, is tied the same way to a short-lived cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def derive_token(secret: str, purpose: str, value: str) -> str:
    """An unguessable token bound to `value` (a session or login-form cookie)."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{purpose}:{value}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def tokens_match(expected: str, given: str | None) -> bool:
    """Constant-time comparison; an empty expected token never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
