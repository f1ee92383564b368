"""Importing a practice's patients from a CSV export of its EHR or practice-management system.

Each row is checked on its own; a bad row is reported (row number, column, why) and skipped,
never half-imported, and the rest go in. Importing is idempotent: a row is matched to a
record on file by its EHR id, or, without one, by name and date of birth (the identity rule
the bot uses), and updates it instead of adding another. Nothing is merged on a guess: a row
whose EHR id is new but whose name and date of birth match a patient already on file under
another EHR id becomes its own record with a `PatientDuplicateFlag` for staff to resolve;
while both exist, identity checks ask the patient to call rather than pick one.

Reports and flags name rows and record ids, never patient details, so they can be pasted
into a ticket.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from frontdesk.patients.models import Patient, PatientDuplicateFlag
from frontdesk.patients.service import (
    InvalidIdentityError,
    check_identity,
    match_key,
    split_name,
)

COLUMNS = {
    "first_name": ("first_name", "first name", "given_name"),
    "last_name": ("last_name", "last name", "family_name", "surname"),
    "name": ("name", "full_name", "full name"),
    "date_of_birth": ("date_of_birth", "dob", "birth_date", "birthdate", "date of birth"),
    "phone": ("phone", "mobile", "cell", "phone_number"),
    "email": ("email", "e-mail", "email_address"),
    "ehr_id": ("ehr_id", "external_id", "mrn", "patient_id"),
    "language": ("language", "preferred_language"),
}
EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
DUPLICATE_REASON = "same name and date of birth, different EHR id"
MAX_EHR_ID = 64


class ImportFileError(ValueError):
    """The file cannot be imported at all (unreadable, or a required column is missing)."""


class RowError(ValueError):
    """One row is wrong; `column` says where."""

    def __init__(self, column: str, message: str) -> None:
        self.column = column
        super().__init__(message)


@dataclass(frozen=True)
class PatientRow:
    """One row, checked and normalised (phone in E.164, language lower-cased)."""

    first_name: str
    last_name: str
    date_of_birth: date
    phone: str | None
    email: str | None
    ehr_id: str | None
    language: str | None

    @property
    def key(self) -> tuple[str, date]:
        """The identity the bot matches on."""
        return match_key(f"{self.first_name} {self.last_name}"), self.date_of_birth


@dataclass
class ImportReport:
    """What an import did, row by row (row 2 is the first after the header)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    flagged: list[tuple[int, int, int]] = field(default_factory=list)  # row, new id, other id

    @property
    def rows(self) -> int:
        """How many data rows were read."""
        return self.created + self.updated + self.unchanged + len(self.rejected)

    def summary(self) -> str:
        """One line for the end of the command's output."""
        return (
            f"{self.rows} row(s): {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {len(self.rejected)} rejected, "
            f"{len(self.flagged)} flagged as possible duplicates"
        )


def _column_map(header: Iterable[str]) -> dict[str, str]:
    """Our field name -> the file's column name; refuses files we cannot read safely."""
    aliases = {alias: name for name, names in COLUMNS.items() for alias in names}
    found: dict[str, str] = {}
    unknown = []
    for column in header:
        name = aliases.get(column.strip().lower())
        if name is None:
            unknown.append(column)
        elif name in found:
            raise ImportFileError(f"columns {found[name]!r} and {column!r} both mean {name}")
        else:
            found[name] = column
    if unknown:
        raise ImportFileError(
            f"unknown column(s) {', '.join(map(repr, unknown))}; expected "
            + ", ".join(names[0] for names in COLUMNS.values())
        )
    if "date_of_birth" not in found or not (
        "name" in found or {"first_name", "last_name"} <= found.keys()
    ):
        raise ImportFileError(
            "the file needs date_of_birth and either name or first_name and last_name columns"
        )
    return found


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of a CSV file (UTF-8, with or without Excel's byte-order mark)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]
            return list(reader.fieldnames or []), rows
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ImportFileError(f"cannot read {path.name}: {exc}") from exc


def _date(value: str) -> date:
    text = value.strip()
    for pattern in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(text, pattern).date()  # noqa: DTZ007 - a date, no zone
        except ValueError:
            continue
    raise RowError("date_of_birth", "not a date (use YYYY-MM-DD or MM/DD/YYYY)")


def _phone(value: str, region: str) -> str | None:
    if not value.strip():
        return None
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise RowError("phone", "not a phone number") from exc
    if not phonenumbers.is_possible_number(number):
        raise RowError("phone", "wrong number of digits for a phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_row(
    raw: dict[str, str], columns: dict[str, str], *, today: date, region: str
) -> PatientRow:
    """Check and normalise one row; raises `RowError` naming the column that is wrong."""

    def cell(name: str) -> str:
        return " ".join(raw.get(columns.get(name, ""), "").split())

    if "name" in columns and cell("name"):
        first, last = split_name(cell("name"))
    else:
        first, last = cell("first_name"), cell("last_name")
    if not cell("date_of_birth"):
        raise RowError("date_of_birth", "missing")
    dob = _date(cell("date_of_birth"))
    try:
        check_identity(f"{first} {last}", dob, today=today)
    except InvalidIdentityError as exc:
        column = "date_of_birth" if "birth" in str(exc) or "year" in str(exc) else "name"
        raise RowError(column, str(exc).removeprefix("Please ").rstrip(".")) from exc
    if len(first) > 100 or len(last) > 100:
        raise RowError("name", "longer than 100 characters")
    email = cell("email") or None
    if email is not None and (len(email) > 254 or not EMAIL.match(email)):
        raise RowError("email", "not an email address")
    ehr_id = cell("ehr_id") or None
    if ehr_id is not None and len(ehr_id) > MAX_EHR_ID:
        raise RowError("ehr_id", f"longer than {MAX_EHR_ID} characters")
    language = cell("language") or None
    if language is not None:
        if not LANGUAGE.match(language) or len(language) > 16:
            raise RowError("language", 'not a language code such as "en" or "es"')
        primary, *rest = language.split("-")
        language = "-".join([primary.lower(), *rest])
    return PatientRow(
        first_name=first,
        last_name=last,
        date_of_birth=dob,
        phone=_phone(cell("phone"), region),
        email=email,
        ehr_id=ehr_id,
        language=language,
    )


class _Roster:
    """The practice's patients, indexed the two ways a row can match one."""

    def __init__(self, session: Session, practice_id: int) -> None:
        self.by_ehr: dict[str, Patient] = {}
        self.by_key: dict[tuple[str, date], list[Patient]] = {}
        for patient in session.scalars(select(Patient).where(Patient.practice_id == practice_id)):
            self.add(patient)

    def add(self, patient: Patient) -> None:
        if patient.external_id:
            self.by_ehr[patient.external_id] = patient
        same = self.by_key.setdefault((patient.match_key, patient.date_of_birth), [])
        if patient not in same:
            same.append(patient)

    def forget(self, patient: Patient) -> None:
        """Before a record's name or birth date changes (it is re-added under the new key)."""
        same = self.by_key.get((patient.match_key, patient.date_of_birth), [])
        if patient in same:
            same.remove(patient)


def _update(patient: Patient, row: PatientRow) -> bool:
    """Bring a record in line with the row (empty cells leave what is on file); changed?"""
    wanted = {
        "first_name": row.first_name,
        "last_name": row.last_name,
        "match_key": row.key[0],
        "date_of_birth": row.date_of_birth,
        "phone": row.phone or patient.phone,
        "email": row.email or patient.email,
        "external_id": row.ehr_id or patient.external_id,
        "preferred_language": row.language or patient.preferred_language,
    }
    changed = False
    for name, value in wanted.items():
        if getattr(patient, name) != value:
            setattr(patient, name, value)
            changed = True
    return changed


def import_patients(
    *,
    session: Session,
    practice_id: int,
    header: list[str],
    rows: Iterable[dict[str, str]],
    today: date,
    region: str = "US",
) -> ImportReport:
    """Import rows into the practice inside the caller's transaction (see the module doc).

    Args:
        session: The unit of work; the caller commits (or rolls back for a dry run).
        practice_id: Whose patients these are.
        header: The file's column names (aliases such as `dob` and `mrn` are understood).
        rows: The data rows, as `csv.DictReader` gives them; row 2 is the first.
        today: For the date-of-birth checks.
        region: Country whose national format phone numbers without `+` are in.

    Raises:
        ImportFileError: the columns cannot be understood (nothing is imported).
    """
    columns = _column_map(header)
    roster = _Roster(session, practice_id)
    report = ImportReport()
    seen_ehr: dict[str, int] = {}
    seen_key: dict[tuple[str, date], int] = {}
    for number, raw in enumerate(rows, start=2):
        try:
            row = parse_row(raw, columns, today=today, region=region)
        except RowError as exc:
            report.rejected.append((number, f"{exc.column}: {exc}"))
            continue
        if row.ehr_id is not None and row.ehr_id in seen_ehr:
            report.rejected.append((number, f"ehr_id: also on row {seen_ehr[row.ehr_id]}"))
            continue
        if row.ehr_id is None and row.key in seen_key:
            report.rejected.append(
                (number, f"name and date_of_birth: same person as row {seen_key[row.key]}")
            )
            continue
        if row.ehr_id is not None:
            seen_ehr[row.ehr_id] = number
        seen_key.setdefault(row.key, number)
        _import_row(session, practice_id, roster, row, number, report)
    session.flush()
    return report


def _import_row(
    session: Session,
    practice_id: int,
    roster: _Roster,
    row: PatientRow,
    number: int,
    report: ImportReport,
) -> None:
    existing = roster.by_ehr.get(row.ehr_id) if row.ehr_id else None
    same_person = roster.by_key.get(row.key, [])
    if existing is None:
        unlinked = [p for p in same_person if p.external_id is None]
        if row.ehr_id is None and len(same_person) > 1:
            report.rejected.append(
                (number, "name and date_of_birth: several records match; add the ehr_id column")
            )
            return
        if row.ehr_id is None and same_person:
            existing = same_person[0]
        elif len(unlinked) == 1 and len(same_person) == 1:
            existing = unlinked[0]  # registered through chat before the EHR id was known
    if existing is not None:
        roster.forget(existing)
        if _update(existing, row):
            report.updated += 1
        else:
            report.unchanged += 1
        roster.add(existing)
        return
    patient = Patient(practice_id=practice_id, match_key=row.key[0])
    _update(patient, row)
    session.add(patient)
    session.flush()
    for other in same_person:
        session.add(
            PatientDuplicateFlag(
                practice_id=practice_id,
                patient_id=patient.id,
                other_patient_id=other.id,
                reason=DUPLICATE_REASON,
            )
        )
        report.flagged.append((number, patient.id, other.id))
    roster.add(patient)
    report.created += 1


def open_duplicate_flags(*, session: Session, practice_id: int) -> Iterator[PatientDuplicateFlag]:
    """Possible duplicates staff have not resolved yet, oldest first."""
    yield from session.scalars(
        select(PatientDuplicateFlag)
        .where(
            PatientDuplicateFlag.practice_id == practice_id,
            PatientDuplicateFlag.resolved_at.is_(None),
        )
        .order_by(PatientDuplicateFlag.id)
    )
