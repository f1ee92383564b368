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
from frontdesk.review.registry import Evaluation, Figures, Registry, RegistryError, gate
from frontdesk.review.serving import HELDOUT_SETS, load_into_rasa, serving_model
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


def both(en: tuple[float, float], es: tuple[float, float]) -> Evaluation:
    """An evaluation on both held-out sets: (intent accuracy, emergency recall) for each."""
    return Evaluation({"en": Figures(*en), "es": Figures(*es)})


def test_the_gate_refuses_a_drop_in_either_figure() -> None:
    english = Figures.from_intent_report(intent_report(0.85, 1.0))
    assert english == Figures(0.85, 1.0)
    current = Evaluation({"en": english})
    assert gate(Evaluation({"en": Figures(0.90, 1.0)}), current).passed
    assert gate(Evaluation({"en": Figures(0.85, 1.0)}), current).passed  # not worse is enough
    worse_recall = gate(Evaluation({"en": Figures(0.95, 0.9)}), current)
    assert not worse_recall.passed
    assert worse_recall.reasons == ("en: emergency recall would drop from 1.000 to 0.900",)
    assert not gate(Evaluation({"en": Figures(0.80, 1.0)}), current).passed
    assert gate(Evaluation({"en": Figures(0.1, 0.1)}), None).passed  # nothing to beat
    with pytest.raises(RegistryError, match="medical_emergency"):
        Figures.from_intent_report({"accuracy": 0.9})


def test_the_gate_refuses_a_drop_in_either_language() -> None:
    current = both((0.85, 1.0), (0.80, 1.0))
    assert gate(both((0.85, 1.0), (0.80, 1.0)), current).passed
    assert gate(both((0.90, 1.0), (0.81, 1.0)), current).passed
    # Better in English does not buy a worse Spanish, and the reasons name the language.
    spanish_worse = gate(both((0.95, 1.0), (0.78, 0.9)), current)
    assert not spanish_worse.passed
    assert spanish_worse.reasons == (
        "es: intent accuracy would drop from 0.800 to 0.780",
        "es: emergency recall would drop from 1.000 to 0.900",
    )
    english_worse = gate(both((0.84, 1.0), (0.99, 1.0)), current)
    assert english_worse.reasons == ("en: intent accuracy would drop from 0.850 to 0.840",)
    # A candidate measured in English only cannot pass a model measured in Spanish too.
    unmeasured = gate(Evaluation({"en": Figures(0.99, 1.0)}), current)
    assert not unmeasured.passed and unmeasured.reasons[0].startswith("es: not evaluated")
    # A model evaluated before Spanish was measured has no Spanish figure to beat.
    assert gate(both((0.85, 1.0), (0.1, 0.1)), Evaluation({"en": Figures(0.85, 1.0)})).passed


def test_a_registry_written_before_spanish_was_measured_reads_as_english(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    old_entry = {
        "content_hash": "aaaa1111",
        "version": "v1",
        "path": str(tmp_path / "frontdesk-aaaa1111.tar.gz"),
        "trained_at": NOW.isoformat(),
        "evaluation": {"intent_accuracy": 0.85, "emergency_recall": 1.0},
        "promoted_at": NOW.isoformat(),
    }
    path.write_text(json.dumps({"models": [old_entry], "promoted": ["aaaa1111"]}))
    registry = Registry.load(path)
    assert registry.find("v1").evaluation == Evaluation({"en": Figures(0.85, 1.0)})
    registry.save()
    assert json.loads(path.read_text())["models"][0]["evaluation"] == {
        "en": {"intent_accuracy": 0.85, "emergency_recall": 1.0}
    }


@pytest.fixture
def registry_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A registry of three evaluated models; the CLI pointed at it and at a Rasa that is down."""
    path = tmp_path / "models" / "registry.json"
    registry = Registry(path)
    for content_hash, evaluation in {
        "aaaa1111": both((0.85, 1.0), (0.80, 1.0)),
        # Better in English, but it misses a Spanish emergency: refused.
        "bbbb2222": both((0.92, 1.0), (0.82, 0.9)),
        "cccc3333": both((0.88, 1.0), (0.81, 1.0)),
    }.items():
        model = tmp_path / "models" / f"frontdesk-{content_hash}.tar.gz"
        model.parent.mkdir(parents=True, exist_ok=True)
        model.write_bytes(b"model")
        entry = registry.record_trained(content_hash=content_hash, path=model, now=NOW)
        entry.evaluation = evaluation
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
    assert "v2 refused: es: emergency recall would drop from 1.000 to 0.900" in refused.output
    assert Registry.load(registry_file).current.version == "v1"  # type: ignore[union-attr]
    better = runner.invoke(app, ["model", "promote"])  # the latest: v3
    assert better.exit_code == 0 and "promoted v3" in better.output
    listing = runner.invoke(app, ["model", "list"]).output.splitlines()
    assert listing[2].startswith("* v3") and listing[0].startswith("  v1")
    assert listing[1].endswith(
        "en accuracy 0.920 emergency recall 1.000, es accuracy 0.820 emergency recall 0.900"
    )
    assert serving_model(get_settings()) == registry_file.parent / "frontdesk-cccc3333.tar.gz"
    back = runner.invoke(app, ["model", "rollback"])
    assert back.exit_code == 0 and "rolled back to v1" in back.output
    assert json.loads(registry_file.read_text())["promoted"] == ["aaaa1111"]
    assert runner.invoke(app, ["model", "rollback"]).exit_code == 1  # nothing before v1


# `rasa test nlu` as far as evaluate needs it: an intent_report.json in --out, with figures
# that tell the two held-out sets apart, and a note of which set it was given.
FAKE_RASA_TEST = """#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in --nlu) nlu="$2"; shift;; --out) out="$2"; shift;; esac
  shift
done
echo "$nlu" >> "$FAKE_RASA_TESTED"
case "$nlu" in *_es.yml) acc=0.8; recall=0.9;; *) acc=0.9; recall=1.0;; esac
report='{"accuracy": %s, "medical_emergency": {"recall": %s}}'
printf "$report" $acc $recall > "$out/intent_report.json"
"""


def test_evaluate_measures_both_held_out_sets_and_prints_each_languages_figures(
    registry_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rasa = tmp_path / "rasa-venv" / "bin" / "rasa"
    rasa.parent.mkdir(parents=True)
    rasa.write_text(FAKE_RASA_TEST)
    rasa.chmod(0o755)
    tested = tmp_path / "tested"
    monkeypatch.setenv("FRONTDESK_RASA_VENV", str(rasa.parent.parent))
    monkeypatch.setenv("FAKE_RASA_TESTED", str(tested))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["model", "evaluate", "v2"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "v2:",
        "  en held-out: accuracy 0.900 emergency recall 1.000",
        "  es held-out: accuracy 0.800 emergency recall 0.900",
    ]
    assert tested.read_text().split() == [str(path) for path in HELDOUT_SETS.values()]
    assert [path.name for path in HELDOUT_SETS.values()] == [
        "nlu_heldout_en.yml",
        "nlu_heldout_es.yml",
    ]
    assert all(path.is_file() for path in HELDOUT_SETS.values())
    recorded = Registry.load(registry_file).find("v2").evaluation
    assert recorded == both((0.9, 1.0), (0.8, 0.9))


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
        entry.evaluation = both((0.9, 1.0), (0.9, recall))
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
