"""Password hashing with argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; this only bounds the work per request

_hasher = PasswordHasher()  # argon2id; parameters live in each hash, so they can be raised later
# Verified against when the email is unknown, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password-just-equal-timing")


class WeakPasswordError(ValueError):
    """The password does not meet the minimum rules."""


def check_password_rules(password: str) -> None:
    """Raise `WeakPasswordError` unless the password is long enough (length beats rules)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(f"use at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPasswordError(f"use at most {MAX_PASSWORD_LENGTH} characters")
    if not password.strip():
        raise WeakPasswordError("the password cannot be only spaces")


def hash_password(password: str) -> str:
    """An argon2id hash of the password (salted; parameters encoded in the string)."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no hash (unknown account) it still spends the time."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's defaults."""
    return _hasher.check_needs_rehash(password_hash)
