"""deploy/k8s: every manifest validates against Kubernetes' own schemas, offline, and the
shape the operations guide promises holds (replicas, probes, the migration Job, secrets)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from frontdesk.settings import PROJECT_ROOT

K8S = PROJECT_ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _resources() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in _documents(path):
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def _offline(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("validation tried to reach the network")


def test_every_manifest_validates_offline_against_the_kubernetes_schemas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(socket.socket, "connect", _offline)
    resources = _resources()
    assert len(resources) >= 10
    for doc in resources.values():
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_broken_manifest() -> None:
    broken = dict(_resources()[("Deployment", "frontdesk-service")])
    broken["spec"] = {**broken["spec"], "replicas": "two"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == files


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return containers[0]


def test_service_and_rasa_run_several_replicas_with_probes() -> None:
    resources = _resources()
    service = resources[("Deployment", "frontdesk-service")]
    rasa = resources[("Deployment", "frontdesk-rasa")]
    assert service["spec"]["replicas"] >= 2 and rasa["spec"]["replicas"] >= 2
    web = _container(service)
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert {"readinessProbe", "livenessProbe"} <= set(_container(rasa))
    config = resources[("ConfigMap", "frontdesk-config")]["data"]
    assert config["FRONTDESK_RASA_ENDPOINTS_FILE"] == "endpoints.scale.yml"
    assert (PROJECT_ROOT / "bot" / config["FRONTDESK_RASA_ENDPOINTS_FILE"]).is_file()
    for deployment in (service, rasa):
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]


def _secret_keys(container: dict[str, Any]) -> set[str]:
    return {
        e["valueFrom"]["secretKeyRef"]["key"]
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def test_migrations_run_as_a_job_with_the_owner_role_and_only_there() -> None:
    resources = _resources()
    job = resources[("Job", "frontdesk-migrate")]
    migrate = _container(job)
    assert migrate["command"][:3] == ["frontdesk", "migrate", "--wait"]
    assert "FRONTDESK_OWNER_DATABASE_URL" in _secret_keys(migrate)
    secret = resources[("Secret", "frontdesk-secrets")]["stringData"]
    for name in ("frontdesk-service", "frontdesk-rasa"):
        container = _container(resources[("Deployment", name)])
        keys = _secret_keys(container)
        assert "FRONTDESK_OWNER_DATABASE_URL" not in keys
        assert keys <= set(secret), keys - set(secret)
        assert not container.get("envFrom", []) or all(
            "secretRef" not in source for source in container["envFrom"]
        )
