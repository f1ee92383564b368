"""Demo staff accounts and widget origins for the demo practice (development only).

The demo password is printed in the README, so these accounts exist only when
FRONTDESK_ENV=development, and sign-in refuses them in any other environment even if the
rows are there (see `LoginPolicy.from_settings`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.auth.models import StaffAccount, StaffRole, WidgetOrigin
from frontdesk.db import clock_of
from frontdesk.practices.models import Practice

DEMO_PASSWORD = "riverside-demo-only"  # noqa: S105 - public on purpose, development only
# argon2id of DEMO_PASSWORD, computed once: seeding stays instant (the test suite seeds often).
_DEMO_PASSWORD_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$9C77INo1zxDDuspsdEv70A"  # noqa: S105 - public demo password
    "$u61kX1ZSq4De52JyVLlHtGP+Eysj54bSOCqz1bU+MFw"
)
DEMO_ACCOUNTS = (
    ("admin@riverside.example", "Avery Admin", StaffRole.ADMIN),
    ("frontdesk@riverside.example", "Morgan Desk", StaffRole.FRONT_DESK),
)
DEMO_EMAILS = frozenset(email for email, _name, _role in DEMO_ACCOUNTS)
# Local test pages on any port; the service's own origin is always allowed.
DEMO_ORIGINS = ("http://localhost:*", "http://127.0.0.1:*")


def seed_demo_access(session: Session, practice: Practice, *, staff_accounts: bool) -> None:
    """Allow local test origins; with `staff_accounts` (development only), the demo staff."""
    now = clock_of(session)()
    have = set(
        session.scalars(select(WidgetOrigin.origin).where(WidgetOrigin.practice_id == practice.id))
    )
    session.add_all(
        WidgetOrigin(practice_id=practice.id, origin=origin, created_at=now)
        for origin in DEMO_ORIGINS
        if origin not in have
    )
    if not staff_accounts:
        return
    existing = set(
        session.scalars(select(StaffAccount.email).where(StaffAccount.email.in_(DEMO_EMAILS)))
    )
    session.add_all(
        StaffAccount(
            practice_id=practice.id,
            email=email,
            display_name=name,
            role=role,
            password_hash=_DEMO_PASSWORD_HASH,
            created_at=now,
        )
        for email, name, role in DEMO_ACCOUNTS
        if email not in existing
    )
    session.flush()
