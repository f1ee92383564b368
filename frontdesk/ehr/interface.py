"""What Frontdesk needs from an EHR, independent of how the EHR is reached.

The records here are the minimum the EHR needs; they are built from our rows by the worker
and handed to an `Ehr`. `FhirEhr` (frontdesk/ehr/fhir.py) speaks FHIR R4; `NoEhr` is the
embedded default, where our own database is the system of record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol


class EhrError(Exception):
    """A write or read the EHR did not accept.

    Args:
        status_code: HTTP status, or None when the request never got an answer.
        outcome_code: OperationOutcome issue code (or our own short code), never free text.
        retryable: Whether trying again later can succeed (timeouts, 5xx, 408, 429).
    """

    def __init__(self, *, status_code: int | None, outcome_code: str, retryable: bool) -> None:
        super().__init__(self.describe(status_code, outcome_code))
        self.status_code = status_code
        self.outcome_code = outcome_code
        self.retryable = retryable

    @staticmethod
    def describe(status_code: int | None, outcome_code: str) -> str:
        """A PHI-free summary for logs and the staff console."""
        return f"{status_code if status_code is not None else 'no-response'} {outcome_code}"


@dataclass(frozen=True)
class PatientRecord:
    """A patient as the EHR needs them: our identifier, name, birth date, phone."""

    local_id: int
    family: str
    given: str
    birth_date: date
    phone: str | None


@dataclass(frozen=True)
class PractitionerRecord:
    """A provider, identified by our id."""

    local_id: int
    display_name: str


@dataclass(frozen=True)
class AppointmentRecord:
    """One appointment of ours in its current state.

    `status` is our `AppointmentStatus` value; the implementation maps it to the EHR's codes.
    """

    local_id: int
    status: str
    start: datetime
    end: datetime
    visit_type: str
    patient: PatientRecord | None
    practitioner: PractitionerRecord


@dataclass(frozen=True)
class RemoteAppointment:
    """An appointment as found in the EHR, reduced to what blocks provider time."""

    remote_id: str
    start: datetime
    end: datetime
    holds_time: bool  # booked/arrived/...: the provider is busy; cancelled/noshow/...: free
    ours: bool  # carries our identifier: written by us, already in our database
    last_updated: datetime | None


class Ehr(Protocol):
    """The EHR operations Frontdesk uses. Every write is idempotent (keyed by our ids)."""

    @property
    def configured(self) -> bool:
        """False for the embedded default (no EHR to talk to)."""

    def upsert_appointment(self, *, system: str, appointment: AppointmentRecord) -> str:
        """Make the EHR hold `appointment` as it is now (create, update or cancel).

        Args:
            system: Our identifier system for the appointment's practice.
            appointment: The appointment's current state.

        Returns:
            The EHR's id of the appointment.

        Raises:
            EhrError: When the EHR refused or could not be reached.
        """

    def find_appointments(
        self,
        *,
        system: str,
        practitioner: PractitionerRecord,
        start: datetime,
        end: datetime,
        updated_since: datetime | None,
    ) -> list[RemoteAppointment]:
        """Appointments with `practitioner` starting in [start, end), changed since a time.

        Raises:
            EhrError: When the EHR refused or could not be reached.
        """

    def close(self) -> None:
        """Release connections."""


class NoEhr:
    """The embedded default: no EHR, our database is the system of record."""

    @property
    def configured(self) -> bool:
        """Always False."""
        return False

    def upsert_appointment(self, *, system: str, appointment: AppointmentRecord) -> str:
        """Nothing to write to; refuses so a misrouted write is noticed, not swallowed."""
        raise EhrError(status_code=None, outcome_code="not-configured", retryable=False)

    def find_appointments(
        self,
        *,
        system: str,
        practitioner: PractitionerRecord,
        start: datetime,
        end: datetime,
        updated_since: datetime | None,
    ) -> list[RemoteAppointment]:
        """No EHR, so nothing booked elsewhere."""
        return []

    def close(self) -> None:
        """Nothing to release."""
