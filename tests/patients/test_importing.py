"""`frontdesk patients import` on a migrated database: 500 generated, made-up patients, bad
rows reported and skipped, idempotent re-imports, duplicates flagged rather than merged."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import ColumnElement, Engine, func, select
from sqlalchemy.orm import Session

from frontdesk.db import make_engine, make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.patients.importing import ImportFileError, import_patients
from frontdesk.patients.models import Patient, PatientDuplicateFlag
from frontdesk.patients.service import AmbiguousIdentityError, find_patient
from frontdesk.practices.models import Practice
from tests.conftest import AT_NOW, NOW
from tests.factories import FIRST_NAMES, LAST_NAMES
from tests.support.commands import run

HEADER = ["first_name", "last_name", "dob", "phone", "email", "mrn", "language"]


def made_up_patients(count: int, born_from: date = date(1950, 1, 1)) -> list[dict[str, str]]:
    """Fictional patients: names from the factories' lists, 555 numbers in mixed formats."""
    rows = []
    for n in range(count):
        born = born_from + timedelta(days=29 * n // (4 if born_from.year > 2000 else 1))
        exchange, line = 100 + n // 100, n % 100
        phone = [f"(555) {exchange}-01{line:02d}", f"+1 555 {exchange} 01{line:02d}"][n % 2]
        rows.append(
            {
                "first_name": FIRST_NAMES[n % len(FIRST_NAMES)],
                "last_name": LAST_NAMES[n // len(FIRST_NAMES) % len(LAST_NAMES)],
                # Every other date in US form, as practice-management exports often write it.
                "dob": born.isoformat() if n % 2 else born.strftime("%m/%d/%Y"),
                "phone": phone,
                "email": f"patient{n}@example.org" if n % 3 else "",
                "mrn": f"MRN{n:05d}",
                "language": ["en", "ES", ""][n % 3],
            }
        )
    return rows


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


BAD_ROWS = [
    ({"dob": "31/12/1990"}, "date_of_birth: not a date"),
    ({"dob": "2999-01-01"}, "date_of_birth: The date of birth can't be in the future"),
    ({"phone": "12"}, "phone: wrong number of digits"),
    ({"phone": "call me"}, "phone: not a phone number"),
    ({"email": "not-an-email"}, "email: not an email address"),
    ({"first_name": "", "last_name": ""}, "name: enter your full name"),
    ({"language": "english!"}, "language: not a language code"),
]


@pytest.fixture
def demo(database: Engine) -> Engine:
    with session_scope(make_session_factory(database, clock=AT_NOW)) as db:
        seed_demo(db)
    return database


def count(engine: Engine, *where: ColumnElement[bool]) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(Patient).where(*where)) or 0


def test_500_patients_import_once_and_bad_rows_are_reported(demo: Engine, tmp_path: Path) -> None:
    rows = made_up_patients(500)
    bad = []
    for n, (change, _reason) in enumerate(BAD_ROWS):
        row = {**made_up_patients(600)[500 + n], **change}
        bad.append(row)
    bad.append({**rows[7]})  # the same MRN twice
    path = write_csv(tmp_path / "patients.csv", rows + bad)
    rejects = tmp_path / "rejects.csv"

    result = run(
        "patients", "import", str(path), "--practice", "riverside", "--rejects", str(rejects)
    )
    assert result.exit_code == 2, result.output  # some rows rejected
    out = result.output
    for n, (_change, reason) in enumerate(BAD_ROWS):
        assert f"row {502 + n}: rejected: {reason}" in out
    assert f"row {502 + len(BAD_ROWS)}: rejected: ehr_id: also on row 9" in out
    summary = "508 row(s): 500 created, 0 updated, 0 unchanged, 8 rejected, 0 flagged"
    assert summary in out
    assert "importing 508 row(s)" in out  # the progress bar's label
    with rejects.open(encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert [row["error"] for row in written][:1] == [
        "date_of_birth: not a date (use YYYY-MM-DD or MM/DD/YYYY)"
    ]
    assert len(written) == 8

    with session_scope(make_session_factory(demo, clock=AT_NOW)) as db:
        practice = db.scalars(select(Practice).where(Practice.slug == "riverside")).one()
        imported = db.scalars(
            select(Patient).where(
                Patient.practice_id == practice.id, Patient.external_id.is_not(None)
            )
        ).all()
        assert len(imported) == 500
        by_mrn = {p.external_id: p for p in imported}
        assert by_mrn["MRN00000"].phone == "+15551000100"
        assert by_mrn["MRN00001"].phone == "+15551000101"
        assert by_mrn["MRN00001"].preferred_language == "es"
        assert by_mrn["MRN00002"].preferred_language is None
        assert by_mrn["MRN00000"].date_of_birth == date(1950, 1, 1)
        assert by_mrn["MRN00001"].email == "patient1@example.org"

    again = run(
        "patients",
        "import",
        str(write_csv(tmp_path / "again.csv", rows)),
        "--practice",
        "riverside",
    )
    assert again.exit_code == 0, again.output
    assert "500 row(s): 0 created, 0 updated, 500 unchanged, 0 rejected" in again.output
    assert count(demo, Patient.external_id.is_not(None)) == 500


def test_a_changed_row_updates_the_record_and_empty_cells_keep_what_is_on_file(
    demo: Engine, tmp_path: Path
) -> None:
    rows = made_up_patients(3)
    run("patients", "import", str(write_csv(tmp_path / "a.csv", rows)), "--practice", "riverside")
    rows[0] = {**rows[0], "phone": "555-101-0199", "email": ""}
    result = run(
        "patients", "import", str(write_csv(tmp_path / "b.csv", rows)), "--practice", "riverside"
    )
    assert "3 row(s): 0 created, 1 updated, 2 unchanged" in result.output
    with session_scope(make_session_factory(demo, clock=AT_NOW)) as db:
        patient = db.scalars(select(Patient).where(Patient.external_id == "MRN00000")).one()
        assert (patient.phone, patient.email) == ("+15551010199", None)
        second = db.scalars(select(Patient).where(Patient.external_id == "MRN00001")).one()
        assert second.email == "patient1@example.org"


def test_duplicates_are_flagged_for_staff_not_merged(demo: Engine, tmp_path: Path) -> None:
    # Jordan Sample is a demo patient registered without an EHR id: the first row links to
    # that record; a second EHR id for the same name and birth date is a possible duplicate.
    header = ["name", "date_of_birth", "ehr_id", "phone"]
    rows = [
        {"name": "Jordan Sample", "date_of_birth": "1985-04-12", "ehr_id": "E-1", "phone": ""},
        {"name": "JORDAN  SAMPLE", "date_of_birth": "04/12/1985", "ehr_id": "E-2", "phone": ""},
    ]
    result = run(
        "patients",
        "import",
        str(write_csv(tmp_path / "d.csv", rows, header)),
        "--practice",
        "riverside",
    )
    assert result.exit_code == 0, result.output
    assert "1 created, 1 updated, 0 unchanged, 0 rejected, 1 flagged" in result.output
    assert "may be the same person as" in result.output
    listed = run("patients", "duplicates", "--practice", "riverside")
    assert "same name and date of birth, different EHR id" in listed.output
    assert "1 open duplicate flag(s)" in listed.output
    with session_scope(make_session_factory(demo, clock=AT_NOW)) as db:
        practice = db.scalars(select(Practice).where(Practice.slug == "riverside")).one()
        records = db.scalars(select(Patient).where(Patient.match_key == "jordan sample")).all()
        assert sorted(p.external_id or "" for p in records) == ["E-1", "E-2"]
        flag = db.scalars(select(PatientDuplicateFlag)).one()
        assert {flag.patient_id, flag.other_patient_id} == {p.id for p in records}
        # Identity checks no longer pick one of the two: a person must tell them apart.
        with pytest.raises(AmbiguousIdentityError):
            find_patient(
                session=db,
                practice_id=practice.id,
                full_name="Jordan Sample",
                date_of_birth=date(1985, 4, 12),
            )
    again = run(
        "patients",
        "import",
        str(write_csv(tmp_path / "d.csv", rows, header)),
        "--practice",
        "riverside",
    )
    assert "0 created, 0 updated, 2 unchanged, 0 rejected, 0 flagged" in again.output


def test_same_person_twice_without_ehr_ids_is_rejected(
    session: Session, practice: Practice
) -> None:
    rows = [
        {"name": "Ada Example", "dob": "1970-03-03"},
        {"name": "Ada Example", "dob": "1970-03-03"},
    ]
    report = import_patients(
        session=session,
        practice_id=practice.id,
        header=["name", "dob"],
        rows=rows,
        today=NOW.date(),
    )
    assert (report.created, report.rejected) == (
        1,
        [(3, "name and date_of_birth: same person as row 2")],
    )


def test_files_that_cannot_be_read_are_refused_whole(demo: Engine, tmp_path: Path) -> None:
    unknown = write_csv(
        tmp_path / "u.csv",
        [{"name": "Ada Example", "dob": "1970-03-03", "ssn": "x"}],
        ["name", "dob", "ssn"],
    )
    result = run("patients", "import", str(unknown), "--practice", "riverside")
    assert result.exit_code == 1
    assert "unknown column(s) 'ssn'" in result.output
    missing = write_csv(tmp_path / "m.csv", [{"name": "Ada Example"}], ["name"])
    result = run("patients", "import", str(missing), "--practice", "riverside")
    assert "needs date_of_birth" in result.output
    result = run("patients", "import", str(tmp_path / "nope.csv"), "--practice", "riverside")
    assert "cannot read nope.csv" in result.output
    good = write_csv(tmp_path / "g.csv", made_up_patients(2))
    result = run("patients", "import", str(good), "--practice", "nobody")
    assert "no practice 'nobody'" in result.output
    result = run("patients", "import", str(good), "--practice", "riverside", "--dry-run")
    assert "dry run: nothing was imported" in result.output
    assert count(demo, Patient.external_id.is_not(None)) == 0
    with pytest.raises(ImportFileError, match="both mean"):
        import_patients(
            session=Session(make_engine("sqlite://")),
            practice_id=1,
            header=["dob", "birth_date", "name"],
            rows=[],
            today=NOW.date(),
        )
