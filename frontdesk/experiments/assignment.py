"""Which arm a patient is in: stable, balanced by weight, and not steerable by staff.

The arm comes from HMAC-SHA256(experiment secret, "experiment key:patient id"), read as a
number in [0, 1) and placed on the arms' cumulative weights. The same patient therefore lands
in the same arm on every planning tick, every send and every report, in any process, with
nothing stored per patient; without the secret (never exported) nobody can predict or choose
a patient's arm from the patient id.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date
from typing import Any

from frontdesk.experiments.models import ReminderExperiment


@dataclass(frozen=True)
class Arm:
    """One arm: the control keeps the standard reminders; others change wording or offsets."""

    name: str
    weight: int
    control: bool = False
    wording: str | None = None
    offsets_minutes: tuple[int, ...] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Arm:
        """An arm from its stored JSON form."""
        offsets = data.get("offsets_minutes")
        return cls(
            name=str(data["name"]),
            weight=int(data["weight"]),
            control=bool(data.get("control", False)),
            wording=data.get("wording"),
            offsets_minutes=tuple(int(m) for m in offsets) if offsets is not None else None,
        )

    def to_json(self) -> dict[str, Any]:
        """The stored JSON form."""
        return {
            "name": self.name,
            "weight": self.weight,
            "control": self.control,
            "wording": self.wording,
            "offsets_minutes": list(self.offsets_minutes)
            if self.offsets_minutes is not None
            else None,
        }


def arms_of(experiment: ReminderExperiment) -> list[Arm]:
    """The experiment's arms in the practice file's order."""
    return [Arm.from_json(item) for item in experiment.arms]


def unit_draw(secret: str, experiment_key: str, patient_id: int) -> float:
    """The patient's number in [0, 1) for this experiment (uniform over patients)."""
    digest = hmac.new(
        bytes.fromhex(secret), f"{experiment_key}:{patient_id}".encode(), hashlib.sha256
    ).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(experiment: ReminderExperiment, patient_id: int) -> Arm:
    """The arm `patient_id` is in for `experiment`."""
    arms = arms_of(experiment)
    point = unit_draw(experiment.secret, experiment.key, patient_id) * sum(a.weight for a in arms)
    for arm in arms:
        if point < arm.weight:
            return arm
        point -= arm.weight
    return arms[-1]


def covers(experiment: ReminderExperiment, local_day: date) -> bool:
    """True when an appointment on this practice-local day takes part."""
    return experiment.starts_on <= local_day and (
        experiment.ends_on is None or local_day <= experiment.ends_on
    )
