"""Finding and registering patients."""

from __future__ import annotations

import unicodedata
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.patients.models import Patient

MAX_NAME_CHARS = 100


class InvalidIdentityError(ValueError):
    """The identity details cannot be right (empty name, future birth date, ...).

    The message is English (imports, logs); `key` names the patient's wording in
    `frontdesk.texts`, for a chat in any language.
    """

    def __init__(self, message: str, key: str) -> None:
        """Keep the English message and the catalogue key of what the patient is told."""
        super().__init__(message)
        self.key = key


def match_key(full_name: str) -> str:
    """Normalise a name for matching: no accents, punctuation or case; single spaces.

    Letters of every script are kept ("Мария Иванова", "王 小明"); only combining marks
    (accents), digits, punctuation and symbols are dropped.
    """
    decomposed = unicodedata.normalize("NFKD", full_name.casefold())
    letters = "".join(
        ch if unicodedata.category(ch).startswith("L") else " "
        for ch in decomposed
        if not unicodedata.combining(ch)
    )
    return " ".join(letters.split())


def split_name(full_name: str) -> tuple[str, str]:
    """Split "First Middle Last" into ("First Middle", "Last")."""
    parts = " ".join(full_name.split()).split(" ")
    if len(parts) == 1:
        return parts[0], ""
    return " ".join(parts[:-1]), parts[-1]


def check_identity(full_name: str, date_of_birth: date, *, today: date) -> None:
    """Raise `InvalidIdentityError` for details no real patient could have."""
    name = " ".join(full_name.split())
    if len(match_key(name).replace(" ", "")) < 2 or len(name) > MAX_NAME_CHARS:
        raise InvalidIdentityError("Please enter your full name.", "identity.full_name")
    key = match_key(name)
    # Latin-script names need a first and a last name; many other scripts write none apart.
    if " " not in key and key.isascii():
        raise InvalidIdentityError(
            "Please enter your first and last name.", "identity.first_and_last"
        )
    if date_of_birth > today:
        raise InvalidIdentityError(
            "The date of birth can't be in the future.", "identity.birth_in_future"
        )
    if date_of_birth.year < today.year - 125:
        raise InvalidIdentityError("Please check the year of birth.", "identity.check_birth_year")


class AmbiguousIdentityError(InvalidIdentityError):
    """More than one record has these details; a person must tell them apart."""


def find_patient(
    *, session: Session, practice_id: int, full_name: str, date_of_birth: date
) -> Patient | None:
    """The practice's patient with this name and date of birth, None if there is none.

    Raises `AmbiguousIdentityError` when several records match: guessing would attach the
    conversation to the wrong person, and registering another copy would split the record.
    """
    matches = list(
        session.scalars(
            select(Patient).where(
                Patient.practice_id == practice_id,
                Patient.match_key == match_key(full_name),
                Patient.date_of_birth == date_of_birth,
            )
        )
    )
    if len(matches) > 1:
        raise AmbiguousIdentityError(
            "We couldn't confirm your details in chat. Please call the office so we can help.",
            "identity.ambiguous",
        )
    return matches[0] if matches else None


def find_or_register_patient(
    *,
    session: Session,
    practice_id: int,
    full_name: str,
    date_of_birth: date,
    today: date,
    phone: str | None = None,
) -> tuple[Patient, bool]:
    """Match an existing patient or register a new one; returns (patient, created)."""
    check_identity(full_name, date_of_birth, today=today)
    existing = find_patient(
        session=session, practice_id=practice_id, full_name=full_name, date_of_birth=date_of_birth
    )
    if existing is not None:
        return existing, False
    first, last = split_name(full_name)
    patient = Patient(
        practice_id=practice_id,
        first_name=first,
        last_name=last,
        match_key=match_key(full_name),
        date_of_birth=date_of_birth,
        phone=phone,
    )
    session.add(patient)
    session.flush()
    return patient, True
