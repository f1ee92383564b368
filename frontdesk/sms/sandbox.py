"""What the development sandbox page (`GET /dev/sms`) lists: messages "sent", numbers to text.

Bodies are included (one-time codes too): the page exists in development only, for this
machine only (`connectors.twilio_sms`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.sms.models import OutboundSms, PracticeSmsNumber


def sandbox_messages(*, session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """The latest outbound messages, for the development-only page (bodies included)."""
    rows = session.scalars(select(OutboundSms).order_by(OutboundSms.id.desc()).limit(limit))
    return [
        {
            "id": r.id,
            "to": r.to_phone,
            "kind": r.kind,
            "status": r.status.value,
            "segments": r.segments,
            "encoding": r.encoding,
            "body": r.body,
            "at": (r.sent_at or r.created_at).isoformat(),
        }
        for r in rows
    ]


def sandbox_numbers(*, session: Session) -> list[str]:
    """The practices' texting numbers, the "To" choices of the page's inbound form."""
    return list(session.scalars(select(PracticeSmsNumber.phone)))
