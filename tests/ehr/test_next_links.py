"""Paging through FHIR search results never sends the bearer token off the configured base."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from frontdesk.ehr.fhir import FhirEhr
from frontdesk.ehr.interface import EhrError, PractitionerRecord
from tests.conftest import NOW

BASE = "https://ehr.example/fhir/R4"
TOKEN = "ehr-bearer-token"
SYSTEM = "urn:frontdesk:next-links"


class PagingServer:
    """A FHIR server (wire format only) whose Appointment search has a second page."""

    def __init__(self, next_link: str) -> None:
        self.next_link = next_link
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        kind = request.url.path.rsplit("/", 1)[-1]
        if kind == "Practitioner":  # the conditional create of our provider
            return httpx.Response(201, json={"resourceType": "Practitioner", "id": "pr-1"})
        if request.url.params.get("page") == "2":
            return bundle([appointment("second")])
        return bundle([appointment("first")], next_link=self.next_link)


def bundle(resources: list[dict[str, Any]], next_link: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }
    if next_link:
        body["link"] = [{"relation": "next", "url": next_link}]
    return httpx.Response(200, json=body)


def appointment(remote_id: str) -> dict[str, Any]:
    start = NOW + timedelta(days=1)
    return {
        "resourceType": "Appointment",
        "id": remote_id,
        "status": "booked",
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=20)).isoformat(),
    }


def search(server: PagingServer) -> list[str]:
    ehr = FhirEhr(BASE, token=TOKEN, transport=httpx.MockTransport(server))
    try:
        found = ehr.find_appointments(
            system=SYSTEM,
            practitioner=PractitionerRecord(local_id=1, display_name="Dr. Test"),
            start=NOW,
            end=NOW + timedelta(days=7),
            updated_since=None,
        )
    finally:
        ehr.close()
    return [a.remote_id for a in found]


@pytest.mark.parametrize(
    "link", [f"{BASE}/Appointment?page=2", "Appointment?page=2", "/fhir/R4/Appointment?page=2"]
)
def test_next_links_under_the_base_are_followed(link: str) -> None:
    server = PagingServer(link)
    assert search(server) == ["first", "second"]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in server.requests)


@pytest.mark.parametrize(
    "link",
    [
        "https://collector.example/fhir/R4/Appointment?page=2",  # another host
        "//collector.example/fhir/R4/Appointment?page=2",  # protocol-relative
        "https://ehr.example.collector.example/fhir/R4/Appointment?page=2",  # a suffix
        "http://ehr.example/fhir/R4/Appointment?page=2",  # the token in the clear
        "https://ehr.example:8443/fhir/R4/Appointment?page=2",  # another port
        "https://ehr.example/fhir/R4-other/Appointment?page=2",  # a sibling path
        "https://ehr.example/admin/Appointment?page=2",  # outside the base path
        "https://ehr.example/fhir/R4/../../admin/Appointment?page=2",  # dot segments
    ],
)
def test_next_links_off_the_base_are_refused_with_the_token_unsent(link: str) -> None:
    server = PagingServer(link)
    with pytest.raises(EhrError) as refused:
        search(server)
    assert refused.value.outcome_code == "next-link-off-base"
    assert not refused.value.retryable
    assert [r.url.host for r in server.requests] == ["ehr.example", "ehr.example"]
    assert all(str(r.url).startswith(BASE + "/") for r in server.requests)
