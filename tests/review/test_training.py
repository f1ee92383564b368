"""The review loop with a real Rasa: labelled turns become training data, a model trained on
them is evaluated in both languages, passes the gate and is promoted; a model that lost the
Spanish ones is refused although its English is as good.

Cheap by design: `rasa train nlu` on a few intents with a linear classifier, in a temp dir
(seconds, not the full bot). The held-out sets here are the test's own, one per language.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from frontdesk.botctl import rasa_environment, rasa_executable
from frontdesk.review.registry import Registry
from frontdesk.review.serving import evaluate_model
from frontdesk.settings import Settings
from tests.review.test_registry import NOW

pytestmark = [pytest.mark.rasa, pytest.mark.timeout(600)]

CONFIG = {
    "recipe": "default.v1",
    "assistant_id": "review-test",
    "language": "en",
    "pipeline": [
        {"name": "WhitespaceTokenizer"},
        {"name": "CountVectorsFeaturizer"},
        {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 2, "max_ngram": 4},
        {"name": "LogisticRegressionClassifier", "max_iter": 200, "random_state": 42},
    ],
    "policies": [],
}
BASE = {
    "greet": [
        "hi", "hello", "hey there", "good morning", "hiya", "hello there",
        "hola", "buenos dias", "buenas tardes", "que tal", "hola buenas", "saludos",
    ],
    "book_appointment": [
        "i want to book an appointment",
        "can i make an appointment",
        "book me in please",
        "schedule a visit",
        "i need to see the doctor",
        "set up a checkup",
        "quiero hacer una cita",
        "necesito una cita",
        "me puede agendar una consulta",
        "quiero ver al doctor",
        "hacer una cita para mañana",
        "agendar un chequeo",
    ],
}  # fmt: skip
# What staff labelled in the review queue (as `export_reviewed` writes it), by language.
REVIEWED_EN = {
    "medical_emergency": [
        "i cant breathe",
        "chest pain really bad",
        "he collapsed and wont wake up",
        "severe bleeding that wont stop",
        "my throat is closing up",
        "she is having a seizure",
    ]
}
REVIEWED_ES = {
    "medical_emergency": [
        "no puedo respirar",
        "me duele mucho el pecho",
        "se desmayo y no despierta",
        "sangra mucho y no para",
        "se me cierra la garganta",
        "esta convulsionando",
    ]
}
HELDOUT_EN = {
    "greet": ["hey", "hello hello"],
    "book_appointment": ["can i book a visit", "need an appointment"],
    "medical_emergency": ["cant breathe at all", "crushing chest pain"],
}
HELDOUT_ES = {
    "greet": ["hola hola", "buenos dias doctor"],
    "book_appointment": ["quiero una cita", "necesito hacer una cita"],
    "medical_emergency": ["no puede respirar", "dolor fuerte en el pecho"],
}


def _nlu_file(path: Path, intents: dict[str, list[str]]) -> Path:
    document = {
        "version": "3.1",
        "nlu": [
            {"intent": name, "examples": "".join(f"- {text}\n" for text in texts)}
            for name, texts in intents.items()
        ],
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _train(settings: Settings, work: Path, name: str, data: Path) -> Path:
    domain = {"version": "3.1", "intents": sorted({i for d in (BASE, REVIEWED_EN) for i in d})}
    (work / "domain.yml").write_text(yaml.safe_dump(domain))
    (work / "config.yml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    subprocess.run(
        [str(rasa_executable(settings)), "train", "nlu", "--config", str(work / "config.yml"),
         "--domain", str(work / "domain.yml"), "--nlu", str(data), "--out", str(work),
         "--fixed-model-name", name],
        check=True, cwd=work, env=rasa_environment(settings),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return work / f"{name}.tar.gz"


def test_a_model_trained_on_reviewed_turns_passes_the_gate_and_one_worse_in_spanish_does_not(
    tmp_path: Path,
) -> None:
    settings = Settings(_env_file=None, env="development", data_dir=tmp_path)
    data = {name: tmp_path / name for name in ("before", "after", "lost_es")}
    for folder in data.values():
        folder.mkdir()
        _nlu_file(folder / "base.yml", BASE)
    # As the export puts the reviewed file beside the rest; "lost_es" lost its Spanish labels.
    _nlu_file(data["after"] / "reviewed.yml", {"medical_emergency": [
        *REVIEWED_EN["medical_emergency"], *REVIEWED_ES["medical_emergency"]]})  # fmt: skip
    _nlu_file(data["lost_es"] / "reviewed.yml", REVIEWED_EN)
    heldout = {
        "en": _nlu_file(tmp_path / "heldout_en.yml", HELDOUT_EN),
        "es": _nlu_file(tmp_path / "heldout_es.yml", HELDOUT_ES),
    }
    registry = Registry(tmp_path / "registry.json")

    # The model before review never saw an emergency; serving it is the starting point.
    before = _train(settings, tmp_path, "before", data["before"])
    first = registry.record_trained(content_hash="before", path=before, now=NOW)
    first.evaluation = evaluate_model(settings, before, test_sets=heldout)
    assert sorted(first.evaluation.by_language) == ["en", "es"]
    assert {f.emergency_recall for f in first.evaluation.by_language.values()} == {0.0}
    assert registry.promote(first, now=NOW).passed

    after = _train(settings, tmp_path, "after", data["after"])
    second = registry.record_trained(content_hash="after", path=after, now=NOW)
    second.evaluation = evaluate_model(settings, after, test_sets=heldout)
    for code in ("en", "es"):
        figures, baseline = second.evaluation.by_language[code], first.evaluation.by_language[code]
        assert figures.emergency_recall == 1.0, code
        assert figures.intent_accuracy >= baseline.intent_accuracy, code
    assert registry.promote(second, now=NOW).passed
    assert registry.current == second

    # Retrained without the Spanish labels (say they were lost): English holds, Spanish drops.
    lost = _train(settings, tmp_path, "lost_es", data["lost_es"])
    third = registry.record_trained(content_hash="lost_es", path=lost, now=NOW)
    third.evaluation = evaluate_model(settings, lost, test_sets=heldout)
    assert third.evaluation.by_language["en"] == second.evaluation.by_language["en"]
    refused = registry.promote(third, now=NOW)
    assert not refused.passed
    assert refused.reasons and all(reason.startswith("es: ") for reason in refused.reasons)
    assert any("es: emergency recall would drop from 1.000" in r for r in refused.reasons)
    assert registry.current == second
