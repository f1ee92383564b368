"""The demo practice itself, seeded from the practice file shipped in the package.

`frontdesk/practices/examples/riverside.yaml` holds its providers, hours, visit types,
holidays, texting number and widget origins, so the practice-file format is exercised on every
start and by every test that seeds the demo. Patients are not part of a practice file; the
three made-up demo patients are added here.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from importlib import resources

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.db import clock_of
from frontdesk.patients.models import Patient
from frontdesk.patients.service import match_key
from frontdesk.practices.config.loading import parse_practice
from frontdesk.practices.config.schema import PracticeFile
from frontdesk.practices.config.state import apply_practice
from frontdesk.practices.models import Practice

DEMO_SLUG = "riverside"
DEMO_FILE = "riverside.yaml"

# Clearly fictional people (555-01xx numbers are reserved for fiction).
DEMO_PATIENTS = [
    ("Jordan", "Sample", date(1985, 4, 12), "+15555550101"),
    ("Casey", "Example", date(1990, 9, 30), "+15555550102"),
    ("Riley", "Placeholder", date(1978, 1, 5), "+15555550103"),
]


@lru_cache(maxsize=4)
def example_practice(name: str = DEMO_FILE) -> PracticeFile:
    """A practice file shipped in `frontdesk/practices/examples` (parsed once per process)."""
    text = resources.files("frontdesk.practices").joinpath("examples", name).read_text("utf-8")
    return parse_practice(text)


def seed_demo_practice(session: Session) -> Practice:
    """Create the demo practice if it does not exist yet; returns it either way."""
    existing = session.scalar(select(Practice).where(Practice.slug == DEMO_SLUG))
    if existing is not None:
        return existing
    practice = apply_practice(
        session=session, spec=example_practice(), now=clock_of(session)()
    ).practice
    session.add_all(
        Patient(
            practice_id=practice.id,
            first_name=first,
            last_name=last,
            match_key=match_key(f"{first} {last}"),
            date_of_birth=dob,
            phone=phone,
        )
        for first, last, dob, phone in DEMO_PATIENTS
    )
    session.flush()
    return practice
