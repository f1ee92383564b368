"""Patient identity matching and registration."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from frontdesk.models import Practice
from frontdesk.patients.service import (
    InvalidIdentityError,
    find_or_register_patient,
    match_key,
)

TODAY = date(2026, 11, 28)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Jordan Sample", "jordan sample"),
        ("  JORDAN   sample ", "jordan sample"),
        ("José O'Neil-Smith", "jose o neil smith"),
        ("jordan.sample", "jordan sample"),
    ],
)
def test_names_are_normalised_for_matching(raw: str, key: str) -> None:
    assert match_key(raw) == key


def test_existing_patient_is_matched_and_a_new_one_registered(
    session: Session, practice: Practice
) -> None:
    found, created = find_or_register_patient(
        session=session, practice_id=practice.id, full_name="jordan sample",
        date_of_birth=date(1985, 4, 12), today=TODAY,
    )  # fmt: skip
    assert (found.last_name, created) == ("Sample", False)
    new, created = find_or_register_patient(
        session=session, practice_id=practice.id, full_name="Avery Newcomer",
        date_of_birth=date(2001, 2, 3), today=TODAY,
    )  # fmt: skip
    assert created and (new.first_name, new.last_name) == ("Avery", "Newcomer")
    # Same name, other birthday: another person, not a match.
    other, created = find_or_register_patient(
        session=session, practice_id=practice.id, full_name="Jordan Sample",
        date_of_birth=date(1985, 4, 13), today=TODAY,
    )  # fmt: skip
    assert created and other.id != found.id


@pytest.mark.parametrize(
    ("name", "dob"),
    [
        ("", date(1990, 1, 1)),
        ("Cher", date(1990, 1, 1)),
        ("🙂 🙂", date(1990, 1, 1)),
        ("Jordan Sample", date(2027, 1, 1)),
        ("Jordan Sample", date(1880, 1, 1)),
        ("x" * 101 + " y", date(1990, 1, 1)),
    ],
)
def test_impossible_identities_are_refused(
    session: Session, practice: Practice, name: str, dob: date
) -> None:
    with pytest.raises(InvalidIdentityError):
        find_or_register_patient(
            session=session, practice_id=practice.id, full_name=name, date_of_birth=dob,
            today=TODAY,
        )  # fmt: skip
