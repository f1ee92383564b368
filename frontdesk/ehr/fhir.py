"""`Ehr` over FHIR R4 (REST, JSON), keyed by our identifiers so retries never duplicate.

- Practitioner and Patient: conditional create (`If-None-Exist: identifier=<system>|<id>`);
  a patient already in the EHR under the same name and birth date is matched, not duplicated.
- Appointment: conditional update (`PUT Appointment?identifier=<system>|appointment-<id>`),
  which creates on the first call and updates (reschedule, cancel, status) on every later one.
- Slot: where the EHR keeps Schedules for the practitioner, the Slots covering the visit are
  marked busy (or free again after a cancellation).

Every body is validated against the `fhir.resources` R4B models before it leaves: a resource
that would be invalid is refused here and never sent. Errors carry the status code and the
OperationOutcome issue code only, never resource text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.practitioner import Practitioner as FhirPractitioner
from fhir.resources.R4B.slot import Slot as FhirSlot
from pydantic import ValidationError

from frontdesk.ehr.interface import (
    AppointmentRecord,
    EhrError,
    PatientRecord,
    PractitionerRecord,
    RemoteAppointment,
)

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
# Our appointment statuses -> (Appointment.status, the patient participant's status).
STATUS_MAP: dict[str, tuple[str, str]] = {
    "booked": ("booked", "accepted"),
    "confirmed": ("booked", "accepted"),
    "cancelled": ("cancelled", "declined"),
    "fulfilled": ("fulfilled", "accepted"),
    "completed": ("fulfilled", "accepted"),
    "noshow": ("noshow", "accepted"),
    "no_show": ("noshow", "accepted"),
}
# FHIR Appointment statuses during which the practitioner's time is taken.
HOLDS_TIME = frozenset({"proposed", "pending", "booked", "arrived", "fulfilled", "checked-in"})
_VALIDATORS: dict[str, Any] = {
    "Appointment": FhirAppointment,
    "Patient": FhirPatient,
    "Practitioner": FhirPractitioner,
    "Slot": FhirSlot,
}
MAX_PAGES = 50
_Primitive = str | int | float | bool | None


def validate_r4b(resource: dict[str, Any]) -> None:
    """Refuse a resource the R4B models reject, before it is sent.

    Raises:
        EhrError: `local-invalid`, permanent (sending it again would not help).
    """
    model = _VALIDATORS[resource["resourceType"]]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        raise EhrError(status_code=None, outcome_code="local-invalid", retryable=False) from exc


def _fhir_instant(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _outcome_code(response: httpx.Response) -> str:
    try:
        body = response.json()
        issues = body.get("issue") or []
        return str(issues[0].get("code") or "unknown") if issues else "unknown"
    except (ValueError, AttributeError, IndexError):
        return "unknown"


class FhirEhr:
    """A FHIR R4 server as the practice's EHR.

    Args:
        base_url: The FHIR base, e.g. `https://ehr.example/fhir/R4`.
        token: Bearer token, if the server needs one.
        timeout: Seconds per request.
        transport: An httpx transport (tests may inject one; default: the network).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": FHIR_JSON}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=timeout,
            transport=transport,
        )
        # EHR ids per (system, our id): looked up or created once per process, then reused.
        self._practitioners: dict[tuple[str, int], str] = {}
        self._patients: dict[tuple[str, int], str] = {}

    @property
    def configured(self) -> bool:
        """A FHIR server is configured."""
        return True

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    # --- HTTP ---------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        *,
        body: dict[str, Any] | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        if body is not None:
            validate_r4b(body)
        try:
            if form is not None:
                # Search parameters that are patient data go in the body, not the URL, so they
                # stay out of access logs on the way (FHIR's POST [type]/_search).
                response = self._client.request(method, url, data=form, headers=headers)
            else:
                response = self._client.request(
                    method,
                    url,
                    json=body,
                    params=None if params is None else list[tuple[str, _Primitive]](params),
                    headers={**(headers or {}), "Content-Type": FHIR_JSON} if body else headers,
                )
        except httpx.TransportError as exc:  # refused, reset, timed out: try again later
            raise EhrError(
                status_code=None, outcome_code=type(exc).__name__, retryable=True
            ) from exc
        if response.is_success:
            try:
                data = response.json() if response.content else {}
            except ValueError as exc:
                raise EhrError(
                    status_code=response.status_code, outcome_code="not-json", retryable=True
                ) from exc
            return data if isinstance(data, dict) else {}
        status = response.status_code
        retryable = status >= 500 or status in (408, 429)
        raise EhrError(
            status_code=status, outcome_code=_outcome_code(response), retryable=retryable
        )

    def _search(
        self,
        resource_type: str,
        params: Sequence[tuple[str, str]],
        *,
        private: bool = False,
    ) -> list[dict[str, Any]]:
        """All matches of a search, following `next` links.

        `private` searches (patient names, birth dates) are POSTed to `[type]/_search`.
        """
        found: list[dict[str, Any]] = []
        if private:
            bundle = self._request("POST", f"{resource_type}/_search", form=dict(params))
        else:
            bundle = self._request("GET", resource_type, params=params)
        for _ in range(MAX_PAGES):
            found.extend(
                entry["resource"]
                for entry in bundle.get("entry") or []
                if entry.get("resource", {}).get("resourceType") == resource_type
            )
            next_url = next(
                (
                    link["url"]
                    for link in bundle.get("link") or []
                    if link.get("relation") == "next"
                ),
                None,
            )
            if not next_url or private:  # a next link would put the private query in a URL
                break
            bundle = self._request("GET", str(self._page_url(next_url)))
        return found

    def _page_url(self, link: str) -> httpx.URL:
        """A bundle's `next` link, if it stays under our FHIR base URL.

        The server writes the link, and the request carries our bearer token: a link to any
        other host (or outside the base path) would hand that token to whoever the server, or
        someone who tampered with its answer, chose. Such a search fails instead of returning
        a partial result.
        """
        base = self._client.base_url
        url = base.join(link)  # relative links are allowed, resolved against the base
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port) or not (
            url.path.startswith(base.path)  # base.path ends with "/": whole segments only
        ):
            logger.warning("refused a FHIR next link outside the base URL (host %s)", url.host)
            raise EhrError(status_code=None, outcome_code="next-link-off-base", retryable=False)
        return url

    # --- Practitioner and Patient --------------------------------------------------------

    def ensure_practitioner(self, *, system: str, practitioner: PractitionerRecord) -> str:
        """The EHR id of a provider of ours, created with our identifier on first use."""
        key = (system, practitioner.local_id)
        if key not in self._practitioners:
            value = f"provider-{practitioner.local_id}"
            resource = {
                "resourceType": "Practitioner",
                "identifier": [{"system": system, "value": value}],
                "name": [{"text": practitioner.display_name}],
            }
            created = self._request(
                "POST",
                "Practitioner",
                body=resource,
                headers={"If-None-Exist": f"identifier={system}|{value}"},
            )
            self._practitioners[key] = str(created["id"])
        return self._practitioners[key]

    def ensure_patient(self, *, system: str, patient: PatientRecord) -> str:
        """The EHR id of a patient (cached per process; see `_find_or_create_patient`)."""
        key = (system, patient.local_id)
        if key not in self._patients:
            self._patients[key] = self._find_or_create_patient(system=system, patient=patient)
        return self._patients[key]

    def _find_or_create_patient(self, *, system: str, patient: PatientRecord) -> str:
        """The EHR id of a patient: ours by identifier, else one unique name+DOB match, else new.

        An ambiguous name+DOB match (two or more) is not guessed at: a new record carrying our
        identifier is created and the EHR's own duplicate review decides.
        """
        value = f"patient-{patient.local_id}"
        token = f"{system}|{value}"
        resource: dict[str, Any] = {
            "resourceType": "Patient",
            "identifier": [{"system": system, "value": value}],
            "name": [{"family": patient.family, "given": [patient.given]}],
            "birthDate": patient.birth_date.isoformat(),
        }
        if patient.phone:
            resource["telecom"] = [{"system": "phone", "value": patient.phone, "use": "mobile"}]
        validate_r4b(resource)  # an invalid record is not even searched for
        mine = self._search("Patient", [("identifier", token)])
        if len(mine) == 1:
            return str(mine[0]["id"])
        matches = self._search(
            "Patient",
            [
                ("family:exact", patient.family),
                ("given:exact", patient.given),
                ("birthdate", patient.birth_date.isoformat()),
            ],
            private=True,
        )
        if len(matches) == 1:
            return str(matches[0]["id"])
        created = self._request(
            "POST", "Patient", body=resource, headers={"If-None-Exist": f"identifier={token}"}
        )
        return str(created["id"])

    # --- Appointment ----------------------------------------------------------------------

    def appointment_resource(
        self,
        *,
        system: str,
        appointment: AppointmentRecord,
        patient_id: str | None,
        practitioner_id: str,
    ) -> dict[str, Any]:
        """The FHIR Appointment we send for `appointment`."""
        status, patient_status = STATUS_MAP[appointment.status]
        participants: list[dict[str, Any]] = [
            {"actor": {"reference": f"Practitioner/{practitioner_id}"}, "status": "accepted"}
        ]
        if patient_id is not None:
            participants.insert(
                0, {"actor": {"reference": f"Patient/{patient_id}"}, "status": patient_status}
            )
        return {
            "resourceType": "Appointment",
            "identifier": [{"system": system, "value": f"appointment-{appointment.local_id}"}],
            "status": status,
            "appointmentType": {"text": appointment.visit_type},
            "start": _fhir_instant(appointment.start),
            "end": _fhir_instant(appointment.end),
            "minutesDuration": int((appointment.end - appointment.start).total_seconds() // 60),
            "participant": participants,
        }

    def upsert_appointment(self, *, system: str, appointment: AppointmentRecord) -> str:
        """Conditional update keyed by our identifier: creates once, then updates in place."""
        practitioner_id = self.ensure_practitioner(
            system=system, practitioner=appointment.practitioner
        )
        patient_id = (
            self.ensure_patient(system=system, patient=appointment.patient)
            if appointment.patient is not None
            else None
        )
        resource = self.appointment_resource(
            system=system,
            appointment=appointment,
            patient_id=patient_id,
            practitioner_id=practitioner_id,
        )
        token = f"{system}|appointment-{appointment.local_id}"
        stored = self._request("PUT", "Appointment", params=[("identifier", token)], body=resource)
        self._mark_slots(
            practitioner_id=practitioner_id,
            start=appointment.start,
            end=appointment.end,
            busy=resource["status"] in HOLDS_TIME,
        )
        return str(stored["id"])

    def _mark_slots(
        self, *, practitioner_id: str, start: datetime, end: datetime, busy: bool
    ) -> None:
        """Slots of the practitioner's schedules overlapping [start, end): busy or free."""
        schedules = self._search("Schedule", [("actor", f"Practitioner/{practitioner_id}")])
        wanted = "busy" if busy else "free"
        for schedule in schedules:
            slots = self._search(
                "Slot",
                [
                    ("schedule", f"Schedule/{schedule['id']}"),
                    ("start", f"lt{_fhir_instant(end)}"),
                ],
            )
            for slot in slots:
                overlaps = (
                    _parse_instant(slot["end"]) > start and _parse_instant(slot["start"]) < end
                )
                if overlaps and slot.get("status") != wanted:
                    updated = {k: v for k, v in slot.items() if k != "meta"}
                    updated["status"] = wanted
                    self._request("PUT", f"Slot/{slot['id']}", body=updated)

    def find_appointments(
        self,
        *,
        system: str,
        practitioner: PractitionerRecord,
        start: datetime,
        end: datetime,
        updated_since: datetime | None,
    ) -> list[RemoteAppointment]:
        """Appointments of a provider starting in [start, end), changed since `updated_since`."""
        practitioner_id = self.ensure_practitioner(system=system, practitioner=practitioner)
        params = [
            ("actor", f"Practitioner/{practitioner_id}"),
            ("date", f"ge{_fhir_instant(start)}"),
            ("date", f"lt{_fhir_instant(end)}"),
            ("_count", "100"),
        ]
        if updated_since is not None:
            params.append(("_lastUpdated", f"ge{_fhir_instant(updated_since)}"))
        found = []
        for resource in self._search("Appointment", params):
            if not resource.get("start") or not resource.get("end"):
                continue  # proposed or waitlisted without a time: nothing to block
            ours = any(
                identifier.get("system") == system
                for identifier in resource.get("identifier") or []
            )
            last_updated = (resource.get("meta") or {}).get("lastUpdated")
            found.append(
                RemoteAppointment(
                    remote_id=str(resource["id"]),
                    start=_parse_instant(resource["start"]),
                    end=_parse_instant(resource["end"]),
                    holds_time=resource.get("status") in HOLDS_TIME,
                    ours=ours,
                    last_updated=_parse_instant(last_updated) if last_updated else None,
                )
            )
        return found

    def list_patients(self, *, page_size: int = 500) -> list[dict[str, Any]]:
        """Every Patient resource the EHR returns (for `frontdesk patients sync`).

        Read in pages of `page_size` by following the server's `next` links, at most
        `MAX_PAGES` of them.
        """
        return self._search("Patient", [("_count", str(page_size))])
