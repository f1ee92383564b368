"""The review loop with a real Rasa: labelled turns become training data, a model trained on
them is evaluated, passes the gate and is promoted; a model that lost them is refused.

Cheap by design: `rasa train nlu` on a few intents with a linear classifier, in a temp dir
(seconds, not the full bot). The held-out set here is the test's own.
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
    "greet": ["hi", "hello", "hey there", "good morning", "hiya", "hello there"],
    "book_appointment": [
        "i want to book an appointment",
        "can i make an appointment",
        "book me in please",
        "schedule a visit",
        "i need to see the doctor",
        "set up a checkup",
    ],
}
# What staff labelled in the review queue (as `export_reviewed` writes it).
REVIEWED = {
    "medical_emergency": [
        "i cant breathe",
        "chest pain really bad",
        "he collapsed and wont wake up",
        "severe bleeding that wont stop",
        "my throat is closing up",
        "she is having a seizure",
    ]
}
HELDOUT = {
    "greet": ["hey", "hello hello"],
    "book_appointment": ["can i book a visit", "need an appointment"],
    "medical_emergency": ["cant breathe at all", "crushing chest pain"],
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
    domain = {"version": "3.1", "intents": sorted({i for d in (BASE, REVIEWED) for i in d})}
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


def test_a_model_trained_on_reviewed_turns_passes_the_gate_and_a_worse_one_does_not(
    tmp_path: Path,
) -> None:
    settings = Settings(_env_file=None, env="development", data_dir=tmp_path)
    before_data, after_data = tmp_path / "before", tmp_path / "after"
    for data in (before_data, after_data):
        data.mkdir()
        _nlu_file(data / "base.yml", BASE)
    _nlu_file(after_data / "reviewed.yml", REVIEWED)  # as the export puts it beside the rest
    heldout = _nlu_file(tmp_path / "heldout.yml", HELDOUT)
    registry = Registry(tmp_path / "registry.json")

    # The model before review never saw an emergency; serving it is the starting point.
    before = _train(settings, tmp_path, "before", before_data)
    first = registry.record_trained(content_hash="before", path=before, now=NOW)
    first.evaluation = evaluate_model(settings, before, test_data=heldout)
    assert first.evaluation.emergency_recall == 0.0
    assert registry.promote(first, now=NOW).passed

    after = _train(settings, tmp_path, "after", after_data)
    second = registry.record_trained(content_hash="after", path=after, now=NOW)
    second.evaluation = evaluate_model(settings, after, test_data=heldout)
    assert second.evaluation.emergency_recall == 1.0
    assert second.evaluation.intent_accuracy >= first.evaluation.intent_accuracy
    assert registry.promote(second, now=NOW).passed
    assert registry.current == second

    # Retraining without the reviewed file (say it was lost) must not replace it.
    third = registry.record_trained(content_hash="lost", path=before, now=NOW)
    third.evaluation = first.evaluation
    refused = registry.promote(third, now=NOW)
    assert not refused.passed
    assert "emergency recall would drop from 1.000 to 0.000" in refused.reasons
    assert registry.current == second
