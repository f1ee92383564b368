"""The demo practice's texting number (the SMS sandbox answers it in development)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from frontdesk.practices.models import Practice
from frontdesk.sms.consent import add_practice_number, practice_number

DEMO_SMS_NUMBER = "+15555550199"  # fictional (555-01xx), the demo practice's texting number


def seed_demo_sms(session: Session, practice: Practice) -> None:
    """Give the demo practice a texting number (sandbox in development)."""
    if practice_number(session=session, practice_id=practice.id) is None:
        add_practice_number(session=session, practice_id=practice.id, phone=DEMO_SMS_NUMBER)
