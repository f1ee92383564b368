"""Patients from the practice's FHIR EHR, through the same checks as a CSV import.

Each FHIR Patient becomes one import row (name, birth date, phone, email, preferred
language, and its resource id as the EHR id), so a sync is as idempotent as an import and
flags the same possible duplicates; a Patient without a usable name or birth date is reported
by its resource id and skipped. Then SMS lookups and identity checks work for patients who
never booked through Frontdesk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from frontdesk.patients.importing import ImportReport, import_patients

SYNC_HEADER = ["first_name", "last_name", "date_of_birth", "phone", "email", "ehr_id", "language"]


def _name(resource: dict[str, Any]) -> tuple[str, str]:
    names = resource.get("name") or []
    chosen = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    given = " ".join(chosen.get("given") or [])
    return given, str(chosen.get("family") or "")


def _telecom(resource: dict[str, Any], system: str) -> str:
    points = [t for t in resource.get("telecom") or [] if t.get("system") == system]
    if system == "phone":
        points.sort(key=lambda t: t.get("use") != "mobile")  # a mobile can get texts
    return str(points[0].get("value") or "") if points else ""


def _language(resource: dict[str, Any]) -> str:
    spoken = resource.get("communication") or []
    chosen = next((c for c in spoken if c.get("preferred")), spoken[0] if spoken else None)
    if chosen is None:
        return ""
    coding = (chosen.get("language") or {}).get("coding") or []
    return str(coding[0].get("code") or "") if coding else ""


def patient_row(resource: dict[str, Any]) -> dict[str, str]:
    """One FHIR R4 Patient as an import row (`SYNC_HEADER` columns)."""
    first, last = _name(resource)
    return {
        "first_name": first,
        "last_name": last,
        "date_of_birth": str(resource.get("birthDate") or ""),
        "phone": _telecom(resource, "phone"),
        "email": _telecom(resource, "email"),
        "ehr_id": str(resource.get("id") or ""),
        "language": _language(resource),
    }


@dataclass(frozen=True)
class SyncReport:
    """An import report whose rows are named by FHIR resource id."""

    report: ImportReport
    resource_ids: Sequence[str]

    def label(self, row: int) -> str:
        """`Patient/abc` for an import row number (row 2 is the first resource)."""
        return f"Patient/{self.resource_ids[row - 2]}"


def sync_patients(
    *,
    session: Session,
    practice_id: int,
    resources: Sequence[dict[str, Any]],
    today: date,
    region: str = "US",
) -> SyncReport:
    """Import the EHR's Patients into the practice, inside the caller's transaction."""
    patients = [r for r in resources if r.get("resourceType", "Patient") == "Patient"]
    report = import_patients(
        session=session,
        practice_id=practice_id,
        header=SYNC_HEADER,
        rows=[patient_row(resource) for resource in patients],
        today=today,
        region=region,
    )
    return SyncReport(report=report, resource_ids=[str(r.get("id") or "") for r in patients])
