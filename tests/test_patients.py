"""Patient identity matching and registration."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from frontdesk.models import Patient, Practice
from frontdesk.patients.service import (
    AmbiguousIdentityError,
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
        ("Мария Иванова", "мария иванова"),
        ("王 小明", "王 小明"),
        ("Zoë  Ångström", "zoe angstrom"),
    ],
)
def test_names_are_normalised_for_matching(raw: str, key: str) -> None:
    assert match_key(raw) == key


def test_existing_patient_is_matched_and_a_new_one_registered(
    session: Session, practice: Practice
) -> None:
    found, created = find_or_register_patient(
        session=session,
        practice_id=practice.id,
        full_name="jordan sample",
        date_of_birth=date(1985, 4, 12),
        today=TODAY,
    )
    assert (found.last_name, created) == ("Sample", False)
    new, created = find_or_register_patient(
        session=session,
        practice_id=practice.id,
        full_name="Avery Newcomer",
        date_of_birth=date(2001, 2, 3),
        today=TODAY,
    )
    assert created and (new.first_name, new.last_name) == ("Avery", "Newcomer")
    # Same name, other birthday: another person, not a match.
    other, created = find_or_register_patient(
        session=session,
        practice_id=practice.id,
        full_name="Jordan Sample",
        date_of_birth=date(1985, 4, 13),
        today=TODAY,
    )
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
            session=session,
            practice_id=practice.id,
            full_name=name,
            date_of_birth=dob,
            today=TODAY,
        )


def test_names_in_other_scripts_can_register(session: Session, practice: Practice) -> None:
    for name in ("Мария Иванова", "王小明"):
        patient, created = find_or_register_patient(
            session=session,
            practice_id=practice.id,
            full_name=name,
            date_of_birth=date(1980, 5, 6),
            today=TODAY,
        )
        assert created and patient.match_key == match_key(name)


def test_two_records_with_the_same_details_are_not_guessed_between(
    session: Session, practice: Practice
) -> None:
    for _ in range(2):
        session.add(
            Patient(
                practice_id=practice.id,
                first_name="Sam",
                last_name="Twin",
                match_key="sam twin",
                date_of_birth=date(2000, 1, 1),
            )
        )
    session.flush()
    with pytest.raises(AmbiguousIdentityError):
        find_or_register_patient(
            session=session,
            practice_id=practice.id,
            full_name="Sam Twin",
            date_of_birth=date(2000, 1, 1),
            today=TODAY,
        )
