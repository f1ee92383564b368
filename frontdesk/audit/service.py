"""Writing, searching, exporting and verifying the audit log.

Each practice has its own chain: event n carries `seq` n and
`hash = HMAC-SHA256(key, prev_hash + canonical_json(event))`, where `prev_hash` is event
n-1's hash (64 zeros for the first). Editing, deleting or reordering any event changes a hash
that a later event depends on, and `verify_chain` names the first event where that shows.

The key (`FRONTDESK_AUDIT_KEY`, else one derived from `FRONTDESK_SECRET_KEY`) is held outside
the database, so someone with SQL access alone cannot rewrite an event and re-chain the rest:
without the key no hash they compute verifies. Chains written before the key existed (plain
SHA-256) are checked and re-chained under the key once, by migration 0013 (`rekey_chains`);
after that only keyed hashes verify. Removing the newest events leaves a shorter valid chain:
keep the head hash somewhere else (an export) to detect that too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, String, cast, func, select, text
from sqlalchemy.orm import Session

from frontdesk.audit.models import GENESIS_HASH, AuditEvent
from frontdesk.auth.models import StaffAccount
from frontdesk.settings import Settings, get_settings

MAX_REASON_CHARS = 500
# Any constant works; it only keeps our advisory locks apart from other users of the database.
_PG_LOCK_CLASS = 0x46444155  # "FDAU"


class AuditError(ValueError):
    """An audit event that cannot be recorded as given."""


def canonical_json(fields: dict[str, Any]) -> str:
    """The one byte-exact JSON form of an event that the hash covers."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_fields(event: AuditEvent) -> dict[str, Any]:
    """What the hash of an event covers: everything but its own id and hashes."""
    return {
        "practice_id": event.practice_id,
        "seq": event.seq,
        "actor_id": event.actor_id,
        "action": event.action,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "reason": event.reason,
        "at": event.at.astimezone(UTC).isoformat(timespec="microseconds"),
    }


def chain_hash(prev_hash: str, fields: dict[str, Any], key: bytes | None = None) -> str:
    """HMAC-SHA256 (hex) under `key` of the previous hash followed by the event's canonical
    JSON; plain SHA-256 without a key (how chains were written before the key existed)."""
    message = (prev_hash + canonical_json(fields)).encode("utf-8")
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def audit_key_for(settings: Settings) -> bytes:
    """The chain key: `FRONTDESK_AUDIT_KEY`, else derived from `FRONTDESK_SECRET_KEY`.

    A separate audit key can stay with whoever verifies the log (an export, a compliance
    officer) while the secret key rotates; the derived one keeps a default install keyed.
    """
    if settings.audit_key is not None and settings.audit_key.get_secret_value().strip():
        return settings.audit_key.get_secret_value().strip().encode("utf-8")
    secret = settings.secret_key.get_secret_value().encode("utf-8")
    return hmac.new(secret, b"frontdesk audit chain v1", hashlib.sha256).digest()


def _key_from_process_settings() -> bytes:
    return audit_key_for(get_settings())


_key_source: Callable[[], bytes] = _key_from_process_settings


def use_audit_key(key: bytes | Callable[[], bytes]) -> None:
    """Set the key this process writes and verifies chains with (the app does, from its
    settings); by default it comes from the process settings on first use."""
    global _key_source
    _key_source = key if callable(key) else (lambda: key)


def current_audit_key() -> bytes:
    """The key chains are written and verified with in this process."""
    return _key_source()


def _check(value: str, name: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise AuditError(f"audit {name} must be 1 to {limit} characters")
    return value


def record_audit(
    *,
    session: Session,
    actor_id: int | None,
    action: str,
    subject_type: str,
    subject_id: str,
    reason: str | None,
    now: datetime,
    practice_id: int | None = None,
) -> AuditEvent:
    """Append one event to the practice's chain, in the caller's transaction.

    Args:
        session: The caller's session; the event commits or rolls back with its work.
        actor_id: The staff member who acted (None for the system).
        action: What happened, dotted: "conversation.view", "patient.view", "audit.export".
        subject_type: What it happened to: "conversation", "patient", "staff", "audit_log".
        subject_id: Which one (an opaque id, never a name or phone number).
        reason: Why (the queue item, "export csv", ...); at most 500 characters.
        now: When.
        practice_id: Whose chain; defaults to the actor's practice. Required without actor.
    """
    _check(action, "action", 64)
    _check(subject_type, "subject_type", 32)
    _check(subject_id, "subject_id", 64)
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 1] + "…"
    if actor_id is not None:
        actor_practice = session.scalar(
            select(StaffAccount.practice_id).where(StaffAccount.id == actor_id)
        )
        if actor_practice is None:
            raise AuditError(f"no staff account {actor_id}")
        if practice_id is not None and practice_id != actor_practice:
            raise AuditError("staff can only write to their own practice's audit log")
        practice_id = actor_practice
    if practice_id is None:
        raise AuditError("an audit event without an actor needs a practice_id")
    if session.get_bind().dialect.name == "postgresql":
        # Writers of one practice's chain queue here until commit, so none reads a stale
        # head; SQLite writers are already serialised by BEGIN IMMEDIATE (frontdesk.db).
        session.execute(
            text("SELECT pg_advisory_xact_lock(:cls, :key)"),
            {"cls": _PG_LOCK_CLASS, "key": practice_id},
        )
    head = session.execute(
        select(AuditEvent.seq, AuditEvent.hash)
        .where(AuditEvent.practice_id == practice_id)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).one_or_none()
    seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
    event = AuditEvent(
        practice_id=practice_id,
        seq=seq,
        actor_id=actor_id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        reason=reason,
        at=now.astimezone(UTC),
        prev_hash=prev_hash,
    )
    event.hash = chain_hash(prev_hash, event_fields(event), current_audit_key())
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainCheck:
    """The result of `verify_chain`."""

    ok: bool
    checked: int
    head_hash: str | None = None
    broken_seq: int | None = None  # the first event that does not verify
    broken_id: int | None = None
    problem: str | None = None


def verify_chain(*, session: Session, practice_id: int) -> ChainCheck:
    """Recompute a practice's chain from the first event; report the first broken link."""
    rows = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.practice_id == practice_id)
        .order_by(AuditEvent.seq)
        .execution_options(yield_per=1000)
    )
    with rows:  # a server-side cursor on PostgreSQL: close it on the early return too
        return _walk_chain(rows, current_audit_key())


def _walk_chain(rows: Iterable[AuditEvent], key: bytes | None) -> ChainCheck:
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    for event in rows:
        problem = None
        if event.seq != expected_seq:
            problem = f"expected event {expected_seq} but found {event.seq}: events are missing"
        elif event.prev_hash != prev_hash:
            problem = "it does not point at the previous event's hash"
        elif event.hash != chain_hash(prev_hash, event_fields(event), key):
            problem = (
                "its contents do not match its hash: it was changed, or re-chained without "
                "the audit key"
            )
        if problem is not None:
            return ChainCheck(
                ok=False,
                checked=checked,
                head_hash=prev_hash if checked else None,
                broken_seq=event.seq,
                broken_id=event.id,
                problem=problem,
            )
        checked += 1
        expected_seq, prev_hash = event.seq + 1, event.hash
    return ChainCheck(ok=True, checked=checked, head_hash=prev_hash if checked else None)


class ChainRekeyError(RuntimeError):
    """An existing chain does not verify, so re-chaining it would launder the damage."""


def rekey_chains(session: Session, *, old_key: bytes | None, new_key: bytes | None) -> int:
    """Re-chain every practice's audit log from `old_key` to `new_key` (None: SHA-256).

    Each chain is verified under `old_key` first and left alone (`ChainRekeyError`) if it does
    not verify. The append-only guard refuses the rewrite, so the caller (migration 0013) lifts
    it around this call. Returns the number of events re-chained.
    """
    practices = session.scalars(select(AuditEvent.practice_id).distinct()).all()
    for practice_id in practices:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.practice_id == practice_id).order_by(AuditEvent.seq)
        ).all()
        check = _walk_chain(rows, old_key)
        if not check.ok:
            raise ChainRekeyError(
                f"the audit chain of practice {practice_id} is broken at event "
                f"{check.broken_seq} ({check.problem}); not re-chaining it"
            )
    changed = 0
    for practice_id in practices:
        prev = GENESIS_HASH
        ids = session.scalars(
            select(AuditEvent.id)
            .where(AuditEvent.practice_id == practice_id)
            .order_by(AuditEvent.seq)
        ).all()
        for event_id in ids:
            event = session.get_one(AuditEvent, event_id)
            digest = chain_hash(prev, event_fields(event), new_key)
            # Raw SQL, one row at a time: the unique hash never collides mid-way.
            session.execute(
                text("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE id = :id"),
                {"p": prev, "h": digest, "id": event_id},
            )
            prev = digest
            changed += 1
    session.expire_all()
    return changed


@dataclass(frozen=True)
class AuditFilter:
    """What the admin page narrows the log to; every field optional."""

    action: str | None = None
    actor_id: int | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditRow:
    """One event with its actor's name, for display and export."""

    event: AuditEvent
    actor_name: str | None
    actor_email: str | None

    def as_record(self) -> dict[str, Any]:
        """Flat form for CSV and JSON lines (includes what a verifier needs)."""
        return {
            "seq": self.event.seq,
            "at": self.event.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor_id": self.event.actor_id,
            "actor_name": self.actor_name,
            "actor_email": self.actor_email,
            "action": self.event.action,
            "subject_type": self.event.subject_type,
            "subject_id": self.event.subject_id,
            "reason": self.event.reason,
            "practice_id": self.event.practice_id,
            "prev_hash": self.event.prev_hash,
            "hash": self.event.hash,
        }


def _filtered(practice_id: int, where: AuditFilter) -> Select[AuditEvent, str, str]:
    query = (
        select(AuditEvent, StaffAccount.display_name, StaffAccount.email)
        .outerjoin(StaffAccount, StaffAccount.id == AuditEvent.actor_id)
        .where(AuditEvent.practice_id == practice_id)
    )
    if where.action:
        query = query.where(AuditEvent.action == where.action)
    if where.actor_id is not None:
        query = query.where(AuditEvent.actor_id == where.actor_id)
    if where.subject_type:
        query = query.where(AuditEvent.subject_type == where.subject_type)
    if where.subject_id:
        query = query.where(AuditEvent.subject_id == where.subject_id)
    if where.since is not None:
        query = query.where(AuditEvent.at >= where.since)
    if where.until is not None:
        query = query.where(AuditEvent.at < where.until)
    return query


def search_audit(
    *, session: Session, practice_id: int, where: AuditFilter, page: int, page_size: int = 50
) -> tuple[list[AuditRow], int]:
    """One page of matching events, newest first, and how many match in all."""
    query = _filtered(practice_id, where)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(AuditEvent.seq.desc()).offset(max(page - 1, 0) * page_size).limit(page_size)
    )
    return [AuditRow(event, name, email) for event, name, email in rows], int(total)


def iter_audit(*, session: Session, practice_id: int, where: AuditFilter) -> Iterator[AuditRow]:
    """Every matching event, oldest first (for export), fetched in batches."""
    rows = session.execute(
        _filtered(practice_id, where).order_by(AuditEvent.seq).execution_options(yield_per=1000)
    )
    with rows:  # closes the server-side cursor even if the consumer stops early
        for event, name, email in rows:
            yield AuditRow(event, name, email)


def audit_actions(*, session: Session, practice_id: int) -> list[str]:
    """The distinct actions in a practice's log (for the filter menu)."""
    return list(
        session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.practice_id == practice_id)
            .distinct()
            .order_by(AuditEvent.action)
        )
    )


def sign_in_alerts(*, session: Session, practice_id: int, since: datetime) -> list[tuple[str, int]]:
    """Accounts whose sign-ins were delayed by repeated failures since `since`: (name, times).

    The backoff (`frontdesk.auth.service`) records `staff.sign_in_delayed`; this is the
    admins' alert on the audit page.
    """
    rows = session.execute(
        select(StaffAccount.display_name, func.count())
        .join(AuditEvent, AuditEvent.subject_id == cast(StaffAccount.id, String))
        .where(
            AuditEvent.practice_id == practice_id,
            AuditEvent.action == "staff.sign_in_delayed",
            AuditEvent.subject_type == "staff",
            AuditEvent.at >= since,
        )
        .group_by(StaffAccount.id, StaffAccount.display_name)
        .order_by(StaffAccount.display_name)
    )
    return [(name, int(count)) for name, count in rows]
