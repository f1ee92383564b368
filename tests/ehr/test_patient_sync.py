"""`frontdesk patients sync` against Medplum's FHIR engine: the EHR's Patients become the
practice's patients through the import's checks, idempotently, so a patient who never booked
through Frontdesk is found by the SMS identity check."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from frontdesk.db import make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.patients.models import Patient
from frontdesk.patients.syncing import patient_row, sync_patients
from frontdesk.practices.models import Practice
from frontdesk.settings import get_settings
from tests import factories
from tests.conftest import AT_NOW, NOW
from tests.ehr.conftest import FhirServer
from tests.support import commands
from tests.support.commands import run

database = commands.database  # the fixture: a migrated database the command is pointed at


def fhir_patient(family: str, **fields: object) -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": family, "given": ["Robin", "Q"]}],
        "birthDate": "2014-06-02",
        "telecom": [
            {"system": "phone", "value": "(555) 555-0166", "use": "home"},
            {"system": "phone", "value": "+1 555 555 0167", "use": "mobile"},
            {"system": "email", "value": "robin@example.org"},
        ],
        "communication": [
            {"language": {"coding": [{"code": "en"}]}},
            {"language": {"coding": [{"code": "es"}]}, "preferred": True},
        ],
        **fields,
    }


def test_sync_imports_the_ehrs_patients_once(
    database: Engine, fhir_server: FhirServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTDESK_EHR_FHIR_URL", fhir_server.base_url)
    get_settings.cache_clear()
    with session_scope(make_session_factory(database, clock=AT_NOW)) as db:
        seed_demo(db)
    family = "Testfamily" + uuid.uuid4().hex[:6].translate(
        str.maketrans("0123456789", "ghijklmnop")
    )
    created = fhir_server.create(fhir_patient(family))
    broken = fhir_server.create(fhir_patient(family + "x", birthDate="2999-01-01"))

    first = run("patients", "sync", "--practice", "riverside")
    assert first.exit_code == 0, first.output
    assert f"Patient/{broken['id']}: rejected: date_of_birth" in first.output
    with Session(database) as db:
        patient = db.scalars(select(Patient).where(Patient.external_id == created["id"])).one()
        assert (patient.first_name, patient.last_name) == ("Robin Q", family)
        assert patient.phone == "+15555550167"  # the mobile: it can take texts
        assert (patient.email, patient.preferred_language) == ("robin@example.org", "es")
        assert patient.date_of_birth == date(2014, 6, 2)
        riverside = db.scalars(select(Practice.id).where(Practice.slug == "riverside")).one()
        assert patient.practice_id == riverside

    again = run("patients", "sync", "--practice", "riverside")
    assert "0 created, 0 updated" in again.output, again.output


def test_sync_needs_an_ehr_and_a_known_practice(
    database: Engine, fhir_server: FhirServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTDESK_EHR_FHIR_URL", "")
    get_settings.cache_clear()
    result = run("patients", "sync", "--practice", "riverside")
    assert result.exit_code == 1 and "no EHR configured" in result.output
    monkeypatch.setenv("FRONTDESK_EHR_FHIR_URL", fhir_server.base_url)
    get_settings.cache_clear()
    result = run("patients", "sync", "--practice", "nobody")
    assert result.exit_code == 1 and "no practice 'nobody'" in result.output
    monkeypatch.setenv("FRONTDESK_EHR_FHIR_URL", "http://127.0.0.1:9/fhir")
    get_settings.cache_clear()
    with session_scope(make_session_factory(database, clock=AT_NOW)) as db:
        seed_demo(db)
    result = run("patients", "sync", "--practice", "riverside")
    assert result.exit_code == 1 and "the EHR did not answer" in result.output


def test_a_patient_on_file_is_linked_to_its_ehr_id(session: Session, practice: Practice) -> None:
    kid = factories.patient(session, practice=practice, first_name="Robin Q", last_name="Linkme")
    resource = fhir_patient("Linkme", id="ehr-42", birthDate=kid.date_of_birth.isoformat())
    assert patient_row(resource)["ehr_id"] == "ehr-42"
    synced = sync_patients(
        session=session, practice_id=practice.id, resources=[resource], today=NOW.date()
    )
    assert (synced.report.updated, synced.label(2)) == (1, "Patient/ehr-42")
    assert kid.external_id == "ehr-42"
    empty = sync_patients(
        session=session,
        practice_id=practice.id,
        resources=[{"resourceType": "Patient"}],
        today=NOW.date(),
    )
    assert empty.report.rejected == [(2, "date_of_birth: missing")]
