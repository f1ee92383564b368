"""The model registry's gate and the `frontdesk model` / `frontdesk train` commands, with
evaluation figures written as `rasa test nlu` reports them (no training needed)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from frontdesk import botctl, cli
from frontdesk.cli import app
from frontdesk.review.registry import Evaluation, Registry, RegistryError, gate
from frontdesk.review.serving import load_into_rasa, serving_model
from frontdesk.settings import Settings, get_settings

NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)


def intent_report(accuracy: float, emergency_recall: float) -> dict[str, Any]:
    """An `intent_report.json` as `rasa test nlu` writes it (the parts the gate reads)."""
    return {
        "book_appointment": {"precision": 0.9, "recall": 0.9, "f1-score": 0.9, "support": 14},
        "medical_emergency": {
            "precision": 1.0,
            "recall": emergency_recall,
            "f1-score": emergency_recall,
            "support": 10,
        },
        "accuracy": accuracy,
        "macro avg": {"precision": 0.9, "recall": 0.9, "f1-score": 0.9, "support": 24},
        "weighted avg": {"precision": 0.9, "recall": 0.9, "f1-score": 0.9, "support": 24},
    }


def test_the_gate_refuses_a_drop_in_either_figure() -> None:
    current = Evaluation.from_intent_report(intent_report(0.85, 1.0))
    assert current == Evaluation(0.85, 1.0)
    assert gate(Evaluation(0.90, 1.0), current).passed
    assert gate(Evaluation(0.85, 1.0), current).passed  # not worse is enough
    worse_recall = gate(Evaluation(0.95, 0.9), current)
    assert not worse_recall.passed
    assert worse_recall.reasons == ("emergency recall would drop from 1.000 to 0.900",)
    assert not gate(Evaluation(0.80, 1.0), current).passed
    assert gate(Evaluation(0.1, 0.1), None).passed  # the first model has nothing to beat
    with pytest.raises(RegistryError, match="medical_emergency"):
        Evaluation.from_intent_report({"accuracy": 0.9})


@pytest.fixture
def registry_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A registry of three evaluated models; the CLI pointed at it and at a Rasa that is down."""
    path = tmp_path / "models" / "registry.json"
    registry = Registry(path)
    for content_hash, (accuracy, recall) in {
        "aaaa1111": (0.85, 1.0),
        "bbbb2222": (0.92, 0.9),  # better accuracy, but misses an emergency: refused
        "cccc3333": (0.88, 1.0),
    }.items():
        model = tmp_path / "models" / f"frontdesk-{content_hash}.tar.gz"
        model.parent.mkdir(parents=True, exist_ok=True)
        model.write_bytes(b"model")
        entry = registry.record_trained(content_hash=content_hash, path=model, now=NOW)
        entry.evaluation = Evaluation.from_intent_report(intent_report(accuracy, recall))
    registry.save()
    monkeypatch.setenv("FRONTDESK_ENV", "development")
    monkeypatch.setenv("FRONTDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FRONTDESK_MODEL_REGISTRY_FILE", str(path))
    monkeypatch.setenv("FRONTDESK_RASA_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def test_promote_refuses_a_worse_model_and_rollback_returns(registry_file: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["model", "promote", "v1"])
    assert first.exit_code == 0, first.output
    assert "promoted v1" in first.output and "did not answer" in first.output
    refused = runner.invoke(app, ["model", "promote", "bbbb"])
    assert refused.exit_code == 1
    assert "v2 refused: emergency recall would drop from 1.000 to 0.900" in refused.output
    assert Registry.load(registry_file).current.version == "v1"  # type: ignore[union-attr]
    better = runner.invoke(app, ["model", "promote"])  # the latest: v3
    assert better.exit_code == 0 and "promoted v3" in better.output
    listing = runner.invoke(app, ["model", "list"]).output.splitlines()
    assert listing[2].startswith("* v3") and listing[0].startswith("  v1")
    assert "emergency recall 0.900" in listing[1]
    assert serving_model(get_settings()) == registry_file.parent / "frontdesk-cccc3333.tar.gz"
    back = runner.invoke(app, ["model", "rollback"])
    assert back.exit_code == 0 and "rolled back to v1" in back.output
    assert json.loads(registry_file.read_text())["promoted"] == ["aaaa1111"]
    assert runner.invoke(app, ["model", "rollback"]).exit_code == 1  # nothing before v1


def test_promoting_tells_the_running_rasa_to_load_the_model(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def rasa(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)  # Rasa 3.6 answers a loaded model with 204 No Content

    settings = Settings(
        _env_file=None, env="development", data_dir=tmp_path, rasa_token="rasa-test-token"
    )
    model = tmp_path / "frontdesk-cccc3333.tar.gz"
    with httpx.Client(transport=httpx.MockTransport(rasa)) as http:
        assert load_into_rasa(settings, model, http=http)
    (request,) = seen
    assert request.method == "PUT" and request.url.path == "/model"
    assert request.url.params["token"] == "rasa-test-token"
    assert json.loads(request.content) == {"model_file": str(model)}


def test_train_registers_each_content_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRONTDESK_ENV", "development")
    monkeypatch.setenv("FRONTDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FRONTDESK_MODEL_CACHE_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("FRONTDESK_RASA_VENV", str(tmp_path / "missing"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    try:
        cached = botctl.model_path(get_settings())
        cached.parent.mkdir(parents=True)
        cached.write_bytes(b"model")  # cached: nothing to train
        for _ in range(2):
            result = CliRunner().invoke(app, ["train"])
            assert result.exit_code == 0, result.output
        registry = Registry.load(tmp_path / "models" / "registry.json")
    finally:
        get_settings.cache_clear()
    assert [(m.version, m.content_hash) for m in registry.models] == [
        ("v1", botctl.bot_content_hash())
    ]
    assert registry.current is None  # training alone never changes what Rasa serves


FAKE_RASA = """#!/bin/sh
echo "$@" >> "$FAKE_RASA_LAUNCHES"
exit 3
"""


def test_run_serves_the_promoted_model_and_a_restart_picks_up_a_new_promotion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rasa = tmp_path / "rasa-venv" / "bin" / "rasa"
    rasa.parent.mkdir(parents=True)
    rasa.write_text(FAKE_RASA)
    rasa.chmod(0o755)
    settings = Settings(
        env="development",
        _env_file=None,
        data_dir=tmp_path,
        model_cache_dir=tmp_path / "models",
        rasa_venv=rasa.parent.parent,
        rasa_restart_max_seconds=0.3,
    )
    (tmp_path / "logs").mkdir()
    botctl.model_path(settings).parent.mkdir(parents=True)
    botctl.model_path(settings).write_bytes(b"model of the current bot/")
    registry = Registry(settings.registry_file)
    models = {}
    for name, recall in (("old", 0.9), ("new", 1.0)):
        models[name] = tmp_path / "models" / f"frontdesk-{name}.tar.gz"
        models[name].write_bytes(b"model")
        entry = registry.record_trained(content_hash=name, path=models[name], now=NOW)
        entry.evaluation = Evaluation(0.9, recall)
    assert registry.promote(registry.find("old"), now=NOW).passed
    registry.save()
    launches = tmp_path / "launches"
    monkeypatch.setenv("FAKE_RASA_LAUNCHES", str(launches))

    def launched_with(model: Path) -> bool:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if launches.exists() and f"--model {model}" in launches.read_text():
                return True
            time.sleep(0.05)
        return False

    supervisor = cli._supervise_rasa(settings)
    try:
        assert launched_with(models["old"])  # the promoted model, not the current bot/'s
        registry = Registry.load(settings.registry_file)
        assert registry.promote(registry.find("new"), now=NOW).passed
        registry.save()
        assert supervisor.process is not None
        supervisor.process.wait(timeout=10)  # the fake exits at once with 3
        supervisor.start()  # what its watcher does when the child has died (here: exit 3)
        assert launched_with(models["new"])  # the restart serves the new promotion
    finally:
        supervisor.stop()
