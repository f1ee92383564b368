"""A real FHIR engine for the EHR tests: Medplum's FHIR router, in memory, on a free port.

The server (tests/fhir_server/server.mjs) starts once per test session and is killed at the
end. Tests keep apart by identifier system (a fresh one per test), not by wiping the server.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.appointment import Appointment as R4BAppointment
from fhir.resources.R4B.patient import Patient as R4BPatient
from fhir.resources.R4B.practitioner import Practitioner as R4BPractitioner
from fhir.resources.R4B.slot import Slot as R4BSlot
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from frontdesk.db import CLOCK_KEY, make_engine
from frontdesk.ehr.fhir import FhirEhr
from frontdesk.migrate import upgrade
from frontdesk.models import Practice
from frontdesk.settings import PROJECT_ROOT
from tests.conftest import AT_NOW, POSTGRES_URL
from tests.ehr.helpers import clinic

SERVER_DIR = PROJECT_ROOT / "tests" / "fhir_server"
R4B_MODELS: dict[str, Any] = {
    "Appointment": R4BAppointment,
    "Patient": R4BPatient,
    "Practitioner": R4BPractitioner,
    "Slot": R4BSlot,
}


@dataclass
class FhirServer:
    """The running engine: its base URL and a plain client for looking behind our back."""

    base_url: str
    root_url: str

    def search(self, resource_type: str, **params: str) -> list[dict[str, Any]]:
        """Every resource a search returns (the test's own view of the EHR)."""
        response = httpx.get(f"{self.base_url}/{resource_type}", params=params, timeout=10)
        response.raise_for_status()
        return [entry["resource"] for entry in response.json().get("entry", [])]

    def create(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Create a resource directly in the EHR (as the practice's own staff would)."""
        response = httpx.post(
            f"{self.base_url}/{resource['resourceType']}", json=resource, timeout=10
        )
        response.raise_for_status()
        created: dict[str, Any] = response.json()
        return created

    def update(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Update a resource directly in the EHR."""
        body = {k: v for k, v in resource.items() if k != "meta"}
        response = httpx.put(
            f"{self.base_url}/{resource['resourceType']}/{resource['id']}", json=body, timeout=10
        )
        response.raise_for_status()
        updated: dict[str, Any] = response.json()
        return updated

    def outage(self, *, status: int, count: int) -> None:
        """Answer the next `count` FHIR requests with `status` (a simulated outage)."""
        response = httpx.post(
            f"{self.root_url}/__control/outage", json={"status": status, "count": count}
        )
        response.raise_for_status()


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[FhirServer]:
    """Medplum's FHIR engine on a free loopback port, for the whole test session."""
    subprocess.run([str(PROJECT_ROOT / "scripts" / "install-fhir-server.sh")], check=True)
    process = subprocess.Popen(
        ["node", "server.mjs", "0"],
        cwd=SERVER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline().strip()
        if not first_line.startswith("listening "):
            pytest.fail(f"the FHIR test server did not start: {first_line!r}")
        port = int(first_line.split()[1])
        root = f"http://127.0.0.1:{port}"
        yield FhirServer(base_url=f"{root}/fhir/R4", root_url=root)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


class ValidatingTransport(httpx.BaseTransport):
    """Passes requests to the network after checking every body against the R4B models.

    The client validates before sending too; this is the test's independent check that
    nothing invalid ever reached the wire.
    """

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.bodies: list[dict[str, Any]] = []
        self.urls: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        body = request.read()
        if body and request.headers.get("content-type", "").startswith("application/fhir+json"):
            resource = httpx.Response(200, content=body).json()
            R4B_MODELS[resource["resourceType"]].model_validate(resource)
            self.bodies.append(resource)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def transport() -> Iterator[ValidatingTransport]:
    """A transport that records (and R4B-validates) every request body sent."""
    validating = ValidatingTransport()
    yield validating
    validating.close()


@pytest.fixture
def ehr(fhir_server: FhirServer, transport: ValidatingTransport) -> Iterator[FhirEhr]:
    """Our FHIR client, pointed at the engine."""
    client = FhirEhr(fhir_server.base_url, timeout=10, transport=transport)
    yield client
    client.close()


@pytest.fixture
def prefix() -> str:
    """A fresh identifier-system prefix, so each test sees only its own resources."""
    return f"urn:frontdesk-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A session factory whose commits are savepoints of one transaction rolled back at the end.

    The worker opens several short transactions; here they all share one connection, so the
    test sees their effects and the database is clean afterwards.
    """
    connection = engine.connect()
    transaction = connection.begin()
    factory = sessionmaker(
        bind=connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        info={CLOCK_KEY: AT_NOW},
    )
    try:
        yield factory
    finally:
        transaction.rollback()
        connection.close()


@pytest.fixture
def fresh_postgres_engine() -> Iterator[Engine]:
    """A migrated PostgreSQL database of its own, for tests that commit from two sessions."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL tests need FRONTDESK_TEST_POSTGRES_URL (set by .ci/run)")
    admin_url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")
    name = f"frontdesk_ehr_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    db_engine = make_engine(admin_url.set(database=name).render_as_string(hide_password=False))
    try:
        upgrade(db_engine)
        yield db_engine
    finally:
        db_engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def practice(session: Session) -> Practice:
    """The EHR tests' own practice (see `helpers.clinic`): the demo's data plays no part."""
    return clinic(session)
