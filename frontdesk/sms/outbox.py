"""The SMS outbox: queueing (one message or many), dead letters, retries and delivery statuses.

A message is a row in `outbound_sms`, written in the caller's transaction; the outbox worker
(`frontdesk.sms.worker`) sends it after commit. The database refuses a second row for a
dedupe key, so a reminder is queued once however often it is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from frontdesk.db import clock_of
from frontdesk.sms.consent import is_opted_out, practice_number
from frontdesk.sms.models import OutboundSms, OutboundStatus, SmsStatusEvent
from frontdesk.sms.text import segment_info, split_body, to_gsm_friendly

# Kinds that go out even to an opted-out number: the one opt-out confirmation, and answers to
# HELP (carriers require both).
COMPLIANCE_KINDS = frozenset({"compliance"})
MAX_SINGLE_BODY = 1600
RETRY_CAP = timedelta(minutes=30)  # the longest wait between two attempts


# --- queueing -----------------------------------------------------------------------------


def queue_sms(
    *,
    session: Session,
    practice_id: int,
    to: str,
    body: str,
    kind: str,
    conversation_id: int | None = None,
    message_id: int | None = None,
    dedupe_key: str | None = None,
    not_after: datetime | None = None,
) -> OutboundSms | None:
    """Put an SMS in the outbox; the worker sends it after the caller commits.

    Returns None when the number opted out (nothing is queued). With a `dedupe_key`, a second
    call returns the row the first one queued: the database refuses a second copy. A body
    longer than Twilio accepts is queued as several messages; the first is returned.
    Outreach passes `not_after`: held back by quiet hours past it, it is dropped.
    """
    if kind not in COMPLIANCE_KINDS and is_opted_out(
        session=session, practice_id=practice_id, phone=to
    ):
        return None
    if dedupe_key is not None:
        existing = session.scalar(select(OutboundSms).where(OutboundSms.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
    number = practice_number(session=session, practice_id=practice_id)
    parts = split_body(to_gsm_friendly(body)) or [""]
    first: OutboundSms | None = None
    for index, part in enumerate(parts):
        info = segment_info(part)
        row = OutboundSms(
            practice_id=practice_id,
            to_phone=to,
            from_phone=number.phone if number else None,
            messaging_service_sid=number.messaging_service_sid if number else None,
            body=part,
            kind=kind,
            conversation_id=conversation_id,
            message_id=message_id,
            dedupe_key=dedupe_key
            if index == 0
            else (f"{dedupe_key}#{index}" if dedupe_key else None),
            segments=info.segments,
            encoding=info.encoding,
            next_attempt_at=clock_of(session)(),
            not_after=not_after,
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            # A concurrent caller queued the same key first: theirs is the one.
            existing = session.scalar(
                select(OutboundSms).where(OutboundSms.dedupe_key == row.dedupe_key)
            )
            if existing is None:
                raise
            row = existing
        first = first or row
    return first


@dataclass(frozen=True)
class BulkSms:
    """One message for `queue_many`; the caller has checked consent already."""

    to: str
    body: str
    kind: str
    dedupe_key: str
    conversation_id: int | None = None
    message_id: int | None = None
    not_after: datetime | None = None


def queue_many(*, session: Session, practice_id: int, messages: list[BulkSms]) -> dict[str, int]:
    """Queue many single-part messages at once; returns outbox ids by dedupe key.

    Reminders queue hundreds of messages per transaction. Keys already in the outbox are left
    alone (the database refuses a second copy) and map to the existing row.
    """
    if not messages:
        return {}
    number = practice_number(session=session, practice_id=practice_id)
    now = clock_of(session)()
    rows = []
    for message in messages:
        body = to_gsm_friendly(message.body)[:MAX_SINGLE_BODY]
        info = segment_info(body)
        rows.append(
            {
                "practice_id": practice_id,
                "to_phone": message.to,
                "from_phone": number.phone if number else None,
                "messaging_service_sid": number.messaging_service_sid if number else None,
                "body": body,
                "kind": message.kind,
                "conversation_id": message.conversation_id,
                "message_id": message.message_id,
                "dedupe_key": message.dedupe_key,
                "status": OutboundStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "segments": info.segments,
                "encoding": info.encoding,
                "created_at": now,
                "updated_at": now,
                "not_after": message.not_after,
            }
        )
    dialect = session.get_bind().dialect.name
    table = cast(Table, OutboundSms.__table__)
    statement = (
        postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    ).on_conflict_do_nothing()
    session.connection().execute(statement, rows)
    keys = [m.dedupe_key for m in messages]
    ids: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        for key, outbound_id in session.execute(
            select(OutboundSms.dedupe_key, OutboundSms.id).where(
                OutboundSms.dedupe_key.in_(keys[start : start + 500])
            )
        ):
            if key is not None:
                ids[key] = outbound_id
    return ids


def drop_pending(*, session: Session, practice_id: int, phone: str, now: datetime) -> None:
    """Dead-letter what still waits for a number that just opted out.

    "No further messages of any kind": only compliance messages (the confirmation just
    queued) stay.
    """
    session.execute(
        update(OutboundSms)
        .where(
            OutboundSms.practice_id == practice_id,
            OutboundSms.to_phone == phone,
            OutboundSms.status == OutboundStatus.PENDING,
            OutboundSms.kind != "compliance",
        )
        .values(status=OutboundStatus.DEAD, last_error="opted out", updated_at=now)
    )


# --- what became of a message -------------------------------------------------------------


def dead_letters(*, session: Session, practice_id: int) -> list[OutboundSms]:
    """Messages the outbox gave up on, newest first (for staff)."""
    return list(
        session.scalars(
            select(OutboundSms)
            .where(
                OutboundSms.practice_id == practice_id,
                OutboundSms.status.in_([OutboundStatus.DEAD, OutboundStatus.FAILED]),
            )
            .order_by(OutboundSms.id.desc())
        )
    )


def retry_dead_letter(*, session: Session, outbound_id: int, now: datetime) -> bool:
    """Put a dead-lettered message back in the outbox (a staff decision); False if not dead."""
    result = session.execute(
        update(OutboundSms)
        .where(OutboundSms.id == outbound_id, OutboundSms.status == OutboundStatus.DEAD)
        .values(status=OutboundStatus.PENDING, attempts=0, next_attempt_at=now, updated_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def stale_claims(*, session: Session, now: datetime) -> list[OutboundSms]:
    """Messages a worker claimed and never finished (it died mid-send), oldest first.

    While a message is `sending`, `next_attempt_at` is when to look it up (again): a failed
    lookup pushes it back.
    """
    return list(
        session.scalars(
            select(OutboundSms)
            .where(
                OutboundSms.status == OutboundStatus.SENDING,
                OutboundSms.claimed_until <= now,
                OutboundSms.next_attempt_at <= now,
            )
            .order_by(OutboundSms.id)
        )
    )


_STATUS_RANK = {
    OutboundStatus.QUEUED: 1,
    OutboundStatus.SENT: 2,
    OutboundStatus.DELIVERED: 3,
    OutboundStatus.UNDELIVERED: 3,
    OutboundStatus.FAILED: 3,
}


def record_delivery_status(
    *,
    session: Session,
    message_sid: str,
    status: str,
    error_code: str | None,
    now: datetime,
    outbound_id: int | None = None,
) -> bool:
    """Record a Twilio status callback; False for an unknown message or a repeated callback.

    Callbacks can arrive out of order: a later status never goes back to an earlier one.
    `outbound_id` is the outbox row our callback URL named: when the worker died before
    recording the sid, the callback binds it to that row, exactly (see `bind_sid`).
    """
    outbound = session.scalar(select(OutboundSms).where(OutboundSms.twilio_sid == message_sid))
    if outbound is None and outbound_id is not None:
        outbound = bind_sid(session=session, outbound_id=outbound_id, sid=message_sid, now=now)
    event = SmsStatusEvent(
        outbound_id=outbound.id if outbound else None,
        message_sid=message_sid,
        status=status[:16],
        error_code=(error_code or None) and error_code[:16],
        received_at=now,
    )
    try:
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:
        return False
    if outbound is None:
        return False
    try:
        new = OutboundStatus(status)
    except ValueError:
        return True  # a status we do not track (e.g. "accepted", "read"): kept as an event
    if _STATUS_RANK.get(new, 0) > _STATUS_RANK.get(outbound.status, 0):
        outbound.status = new
        outbound.error_code = error_code or None
        outbound.updated_at = now
    session.flush()
    return True


# Rows whose sid may still be unknown to us: in flight, put back after a lookup found nothing
# (the provider's log can lag), or dead-lettered because the provider could not be asked.
_UNBOUND = (OutboundStatus.SENDING, OutboundStatus.PENDING, OutboundStatus.DEAD)


def bind_sid(*, session: Session, outbound_id: int, sid: str, now: datetime) -> OutboundSms | None:
    """Give a row the provider's sid that a status callback for it reported; None if the row
    already has a sid (ours wins: the callback is for another send) or does not exist.

    The provider has the message, so the row is not sent (again).
    """
    row = session.get(OutboundSms, outbound_id)
    if row is None or row.twilio_sid is not None or row.status not in _UNBOUND:
        return None
    row.twilio_sid = sid
    row.status = OutboundStatus.QUEUED
    row.sent_at = row.sent_at or now
    row.claimed_until = None
    row.updated_at = now
    session.flush()
    return row
