"""Tokenising PHI before text reaches Rasa, so its tracker store never holds raw PHI.

`protect_for_bot` swaps each detected value for a per-conversation token
("my dob is 4/12/1985" -> "my dob is PHI_DOB_1"); the same value gets the same token for the
whole conversation. The mapping lives only in the service database (`phi_tokens`), and custom
actions turn tokens back into values with `resolve_tokens`. Time preferences ("next tue after
3"), appointment dates without a past year and clinician names ("Dr Patel") are not PHI and
pass through, so the booking form still understands them.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from frontdesk.phi.models import PhiToken
from frontdesk.phi.scrubber import Scrubber, default_scrubber

SHORT_KINDS = {
    "PERSON": "NAME",
    "DATE_OF_BIRTH": "DOB",
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "STREET_ADDRESS": "ADDRESS",
    "MEDICAL_RECORD_NUMBER": "MRN",
    "MEMBER_ID": "MEMBER",
    "US_SSN": "SSN",
    "CREDIT_CARD": "CARD",
    "PERSONAL_DATE": "DATE",
    "FAX_NUMBER": "FAX",
    "ACCOUNT_NUMBER": "ACCOUNT",
    "LICENSE_NUMBER": "LICENSE",
    "VEHICLE_ID": "VEHICLE",
    "DEVICE_ID": "DEVICE",
    "URL": "URL",
    "IP_ADDRESS": "IP",
    "OTHER_ID": "ID",
    "AGE_OVER_89": "AGE",
}
TOKEN = re.compile(r"\bPHI_[A-Z]+_\d+\b")


def protect_for_bot(
    *, session: Session, conversation_id: int, text: str, scrubber: Scrubber | None = None
) -> str:
    """`text` with PHI replaced by this conversation's tokens (recorded for the actions)."""
    found = (scrubber or default_scrubber()).analyze(text)
    if not found:
        return text
    pieces: list[str] = []
    position = 0
    for result in found:
        value = text[result.start : result.end]
        pieces.append(text[position : result.start])
        pieces.append(
            _token_for(
                session=session,
                conversation_id=conversation_id,
                kind=result.entity_type,
                value=value,
            )
        )
        position = result.end
    pieces.append(text[position:])
    return "".join(pieces)


def _token_for(*, session: Session, conversation_id: int, kind: str, value: str) -> str:
    existing = session.scalar(
        select(PhiToken.token).where(
            PhiToken.conversation_id == conversation_id,
            PhiToken.kind == kind,
            PhiToken.value == value,
        )
    )
    if existing is not None:
        return existing
    short = SHORT_KINDS.get(kind, "ID")
    count = session.scalar(
        select(func.count())
        .select_from(PhiToken)
        .where(PhiToken.conversation_id == conversation_id, PhiToken.token.like(f"PHI_{short}_%"))
    )
    token = f"PHI_{short}_{int(count or 0) + 1}"
    session.add(PhiToken(conversation_id=conversation_id, token=token, kind=kind, value=value))
    session.flush()
    return token


def resolve_tokens(*, session: Session, conversation_id: int, text: str) -> str:
    """`text` with this conversation's tokens turned back into the values they stand for.

    Tokens of other conversations are left as they are (a patient cannot fish for them).
    """
    tokens = set(TOKEN.findall(text))
    if not tokens:
        return text
    values = dict(
        session.execute(
            select(PhiToken.token, PhiToken.value).where(
                PhiToken.conversation_id == conversation_id, PhiToken.token.in_(tokens)
            )
        ).all()
    )
    return TOKEN.sub(lambda m: values.get(m.group(0), m.group(0)), text)
