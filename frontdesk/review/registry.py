"""The model registry: every trained model with a human version and its held-out evaluation,
and which one Rasa serves.

A JSON file (`FRONTDESK_MODEL_REGISTRY_FILE`, default `<model cache>/registry.json`) beside
the models, which are already named by the `bot/` content hash. A model is promoted only if,
in every language we answer in, it is not worse than the promoted one on that language's
held-out set (`bot/eval/nlu_heldout_en.yml`, `nlu_heldout_es.yml`) in both intent accuracy
and emergency recall; rollback returns to the model promoted before.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

EMERGENCY_INTENT = "medical_emergency"


class RegistryError(RuntimeError):
    """A model the registry does not know, or an operation it cannot do; said to the user."""


@dataclass(frozen=True)
class Figures:
    """A model's figures on one language's held-out set."""

    intent_accuracy: float
    emergency_recall: float

    @classmethod
    def from_intent_report(cls, report: dict[str, Any]) -> Figures:
        """From `rasa test nlu`'s `intent_report.json`.

        Raises:
            RegistryError: the report has no accuracy or no emergency intent (the held-out
                set must test emergencies: a model that was never asked cannot pass).
        """
        emergency = report.get(EMERGENCY_INTENT)
        if "accuracy" not in report or not isinstance(emergency, dict):
            raise RegistryError(f"the report lacks accuracy or {EMERGENCY_INTENT} figures")
        return cls(float(report["accuracy"]), float(emergency["recall"]))

    def __str__(self) -> str:
        return f"accuracy {self.intent_accuracy:.3f} emergency recall {self.emergency_recall:.3f}"


@dataclass(frozen=True)
class Evaluation:
    """A model's figures on each language's held-out set, by language code ("en", "es")."""

    by_language: Mapping[str, Figures]

    def __str__(self) -> str:
        return ", ".join(f"{code} {figures}" for code, figures in self.by_language.items())

    def as_json(self) -> dict[str, Any]:
        return {code: asdict(figures) for code, figures in self.by_language.items()}

    @classmethod
    def of_json(cls, data: dict[str, Any]) -> Evaluation:
        """From the registry file; an entry written before Spanish was measured is English."""
        if "intent_accuracy" in data:
            return cls({"en": Figures(**data)})
        return cls({code: Figures(**figures) for code, figures in data.items()})


@dataclass(frozen=True)
class GateResult:
    """Whether a candidate may replace the promoted model, and why not."""

    passed: bool
    reasons: tuple[str, ...]


def gate(candidate: Evaluation, current: Evaluation | None) -> GateResult:
    """A candidate passes when, in every language, neither figure is lower than the promoted
    model's. A language the promoted model was measured on must be measured on the candidate
    too; one it was never measured on has nothing to beat yet."""
    if current is None:
        return GateResult(True, ())
    reasons = []
    for code, before in current.by_language.items():
        after = candidate.by_language.get(code)
        if after is None:
            reasons.append(f"{code}: not evaluated (`frontdesk model evaluate` measures it)")
            continue
        if after.intent_accuracy < before.intent_accuracy:
            reasons.append(
                f"{code}: intent accuracy would drop from {before.intent_accuracy:.3f} "
                f"to {after.intent_accuracy:.3f}"
            )
        if after.emergency_recall < before.emergency_recall:
            reasons.append(
                f"{code}: emergency recall would drop from {before.emergency_recall:.3f} "
                f"to {after.emergency_recall:.3f}"
            )
    return GateResult(not reasons, tuple(reasons))


@dataclass
class ModelEntry:
    """One trained model."""

    content_hash: str
    version: str  # "v1", "v2", ... in the order models were trained
    path: str
    trained_at: str  # ISO 8601 UTC
    evaluation: Evaluation | None = None
    promoted_at: str | None = None  # when it last became the served model

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["evaluation"] = self.evaluation.as_json() if self.evaluation else None
        return data

    @classmethod
    def of_json(cls, data: dict[str, Any]) -> ModelEntry:
        evaluation = data.get("evaluation")
        return cls(**{**data, "evaluation": Evaluation.of_json(evaluation) if evaluation else None})


@dataclass
class Registry:
    """The registry file's contents; `save` writes it atomically."""

    path: Path
    models: list[ModelEntry] = field(default_factory=list)
    promoted: list[str] = field(default_factory=list)  # content hashes, the served one last

    @classmethod
    def load(cls, path: Path) -> Registry:
        """The registry at `path` (empty if there is none yet)."""
        if not path.exists():
            return cls(path)
        data = json.loads(path.read_text())
        return cls(
            path,
            [ModelEntry.of_json(entry) for entry in data.get("models", [])],
            list(data.get("promoted", [])),
        )

    def save(self) -> None:
        """Write the file; a reader never sees half of it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps(
            {"models": [m.as_json() for m in self.models], "promoted": self.promoted}, indent=2
        )
        with tempfile.NamedTemporaryFile("w", dir=self.path.parent, delete=False) as out:
            out.write(body + "\n")
        os.replace(out.name, self.path)

    def find(self, ref: str) -> ModelEntry:
        """A model by version ("v3") or by (a prefix of) its content hash."""
        matches = [
            m for m in self.models if ref and (ref == m.version or m.content_hash.startswith(ref))
        ]
        if len(matches) != 1:
            raise RegistryError(f"no single model matches {ref!r}; see `frontdesk model list`")
        return matches[0]

    @property
    def current(self) -> ModelEntry | None:
        """The promoted model, if any."""
        return self.find(self.promoted[-1]) if self.promoted else None

    @property
    def latest(self) -> ModelEntry | None:
        """The model trained last."""
        return self.models[-1] if self.models else None

    def record_trained(self, *, content_hash: str, path: Path, now: datetime) -> ModelEntry:
        """Register a model (once per content hash) and give it the next version."""
        for entry in self.models:
            if entry.content_hash == content_hash:
                entry.path = str(path)
                return entry
        entry = ModelEntry(content_hash, f"v{len(self.models) + 1}", str(path), now.isoformat())
        self.models.append(entry)
        return entry

    def promote(self, entry: ModelEntry, *, now: datetime) -> GateResult:
        """Make `entry` the served model if it passes the gate; it must be evaluated."""
        if entry.evaluation is None:
            raise RegistryError(f"{entry.version} has no evaluation yet")
        current = self.current
        if current is not None and current.content_hash == entry.content_hash:
            return GateResult(True, ())
        result = gate(entry.evaluation, current.evaluation if current else None)
        if result.passed:
            self.promoted.append(entry.content_hash)
            entry.promoted_at = now.isoformat()
        return result

    def rollback(self, *, now: datetime) -> ModelEntry:
        """Serve the model promoted before the current one again."""
        if len(self.promoted) < 2:
            raise RegistryError("there is no earlier promoted model to roll back to")
        self.promoted.pop()
        entry = self.find(self.promoted[-1])
        entry.promoted_at = now.isoformat()
        return entry
