"""The demo practice, seeded by `make run` and used by the tests.

*Riverside Family Medicine* is fictional: made-up providers, hours, visit types, patients
(555-01xx numbers), balances, a texting number and, in development only, two staff accounts
whose password the README prints. Its set-up comes from the practice file
`frontdesk/practices/examples/riverside.yaml`; patients, balances and staff accounts are added
here. Seeding is idempotent: it runs on every start.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from frontdesk.demo.access import seed_demo_access
from frontdesk.demo.billing import seed_demo_billing
from frontdesk.demo.practice import DEMO_SLUG, seed_demo_practice
from frontdesk.demo.sms import DEMO_SMS_NUMBER, seed_demo_sms
from frontdesk.practices.models import Practice

__all__ = ["DEMO_SLUG", "DEMO_SMS_NUMBER", "seed_demo"]


def seed_demo(session: Session, *, staff_accounts: bool = False) -> Practice:
    """Create whatever part of the demo practice is missing; returns the practice.

    Args:
        session: The unit of work to seed in (the caller commits).
        staff_accounts: Also create the demo staff accounts, whose password is public:
            only `frontdesk seed-demo` in development passes True.
    """
    practice = seed_demo_practice(session)
    seed_demo_access(session, practice, staff_accounts=staff_accounts)
    seed_demo_sms(session, practice)
    seed_demo_billing(session, practice)
    return practice
