"""How many identity checks, registrations and codes may be asked for: the guessing limits.

Every web chat identity check is counted, hit or miss alike, so that when a limit locks nothing
is learnt from when it did: per conversation, per practice and name (any birthday) and per
client address, over windows read from the injected clock. Rows in `verification_attempts`
hold keyed hashes (HMAC under the service's secret), never a name, a birthday or an address.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from frontdesk.conversations.models import Conversation
from frontdesk.patients.models import Patient, VerificationAttempt
from frontdesk.patients.service import match_key

ATTEMPT_WINDOW = timedelta(hours=1)
DAY = timedelta(days=1)
Limits = Sequence[tuple[int, timedelta]]  # (most allowed, within this window)
# SMS: failed date-of-birth checks one conversation may make per window.
MAX_FAILED_ATTEMPTS = 3
# Web chat: identity checks (hit or miss) one conversation may make per window.
MAX_CHECKS_PER_CONVERSATION = 3
# Checks for one name at one practice, whatever the birthday: stops a search for the date of
# birth of someone whose name is known, from any number of chats and addresses.
# More than a patient's daily code cap, so that cap is what a real patient meets first.
IDENTITY_CHECK_LIMITS: Limits = ((12, DAY),)
# Checks from one client address (a keyed hash of it), whatever the name.
CLIENT_CHECK_LIMITS: Limits = ((10, ATTEMPT_WINDOW), (30, DAY))
# New patient records registered in web chat, per client address and per practice.
CLIENT_REGISTRATION_LIMITS: Limits = ((3, DAY),)
PRACTICE_REGISTRATION_LIMITS: Limits = ((30, ATTEMPT_WINDOW),)

FAILURES = ("web_identity", "sms_identity")
WEB_CHECKS = ("web_identity", "web_lookup")


def keyed_hash(secret: str, *parts: object) -> str:
    """An HMAC-SHA256 of `parts` under the service's secret: a stable key that holds no PHI.

    A plain hash of a name or an address could be reversed by trying the likely ones.
    """
    message = "\x1f".join(str(part) for part in parts).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Requester:
    """Who is asking, as far as the guessing limits go.

    `secret` keys the identity hashes (the service's secret key); `client_key` is the keyed
    hash of the client's address (`connectors.webchat.limits.client_key`), None when unknown.
    """

    secret: str
    client_key: str | None = None

    def identity_key(self, practice_id: int, full_name: str) -> str:
        """The key one name at one practice is counted under (any birthday)."""
        return keyed_hash(self.secret, "identity", practice_id, match_key(full_name))


def _failures(session: Session, conversation: Conversation, now: datetime) -> tuple[int, bool]:
    """(failed identity checks, whether a code was locked) within the window."""
    rows = session.execute(
        select(VerificationAttempt.kind, func.count())
        .where(
            VerificationAttempt.conversation_id == conversation.id,
            VerificationAttempt.at > now - ATTEMPT_WINDOW,
        )
        .group_by(VerificationAttempt.kind)
    ).all()
    counts = {kind: int(n) for kind, n in rows}
    return sum(counts.get(kind, 0) for kind in FAILURES), counts.get("code_locked", 0) > 0


def is_locked(*, session: Session, conversation: Conversation, now: datetime) -> bool:
    """Whether verification is locked for this conversation right now (its own failures)."""
    failed, code_locked = _failures(session, conversation, now)
    return code_locked or failed >= MAX_FAILED_ATTEMPTS


def attempts_left(session: Session, conversation: Conversation, now: datetime) -> int:
    failed, code_locked = _failures(session, conversation, now)
    return 0 if code_locked else max(0, MAX_FAILED_ATTEMPTS - failed)


def _count(session: Session, model: Any, *where: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _over_limits(
    session: Session, limits: Limits, now: datetime, *where: ColumnElement[bool]
) -> bool:
    """Whether the attempts matching `where` reached any of `limits`."""
    return any(
        _count(session, VerificationAttempt, *where, VerificationAttempt.at > now - window) >= most
        for most, window in limits
    )


def record_attempt(
    session: Session,
    conversation: Conversation,
    kind: str,
    now: datetime,
    *,
    identity_key: str | None = None,
    client_key: str | None = None,
) -> None:
    session.add(
        VerificationAttempt(
            practice_id=conversation.practice_id,
            conversation_id=conversation.id,
            kind=kind,
            at=now,
            identity_key=identity_key,
            client_key=client_key,
        )
    )
    session.flush()


def web_checks_locked(
    session: Session, conversation: Conversation, requester: Requester, key: str, now: datetime
) -> bool:
    """Whether this conversation, this name or this address has used up its identity checks.

    Hits and misses count alike, so a lock tells nothing about which the earlier ones were.
    """
    checks = VerificationAttempt.kind.in_(WEB_CHECKS)
    if is_locked(session=session, conversation=conversation, now=now):
        return True
    in_conversation = VerificationAttempt.conversation_id == conversation.id
    if _over_limits(
        session, ((MAX_CHECKS_PER_CONVERSATION, ATTEMPT_WINDOW),), now, checks, in_conversation
    ):
        return True
    if _over_limits(
        session, IDENTITY_CHECK_LIMITS, now, checks, VerificationAttempt.identity_key == key
    ):
        return True
    return requester.client_key is not None and _over_limits(
        session,
        CLIENT_CHECK_LIMITS,
        now,
        checks,
        VerificationAttempt.client_key == requester.client_key,
    )


def verified_here_before(
    session: Session, patient: Patient, requester: Requester, now: datetime
) -> bool:
    """Whether this client address verified as this patient within the day."""
    if requester.client_key is None:
        return False
    return (
        _count(
            session,
            VerificationAttempt,
            VerificationAttempt.kind == "web_verified",
            VerificationAttempt.identity_key
            == requester.identity_key(patient.practice_id, patient.match_key),
            VerificationAttempt.client_key == requester.client_key,
            VerificationAttempt.at > now - DAY,
        )
        > 0
    )


def registration_limited(
    session: Session, conversation: Conversation, requester: Requester, now: datetime
) -> bool:
    registrations = VerificationAttempt.kind == "registration"
    if _over_limits(
        session,
        PRACTICE_REGISTRATION_LIMITS,
        now,
        registrations,
        VerificationAttempt.practice_id == conversation.practice_id,
    ):
        return True
    return requester.client_key is not None and _over_limits(
        session,
        CLIENT_REGISTRATION_LIMITS,
        now,
        registrations,
        VerificationAttempt.client_key == requester.client_key,
    )
