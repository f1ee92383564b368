"""Assignment is stable per patient, follows the weights, and depends on the secret."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from frontdesk.experiments.assignment import Arm, assign, unit_draw
from frontdesk.experiments.models import ReminderExperiment

SECRET = "ab" * 32


def experiment(
    *weights: int, key: str = "wording-2027", secret: str = SECRET
) -> ReminderExperiment:
    arms = [Arm(name="standard", weight=weights[0], control=True).to_json()]
    arms += [
        Arm(name=f"arm-{i}", weight=w, wording="See you {when}.").to_json()
        for i, w in enumerate(weights[1:], start=1)
    ]
    return ReminderExperiment(
        key=key, name="Wording", starts_on=date(2026, 1, 1), arms=arms, secret=secret
    )


def test_a_patient_stays_in_the_same_arm_whoever_asks() -> None:
    first = [assign(experiment(1, 1), patient_id).name for patient_id in range(1, 500)]
    again = [assign(experiment(1, 1), patient_id).name for patient_id in range(1, 500)]
    assert first == again
    assert set(first) == {"standard", "arm-1"}


@pytest.mark.parametrize("weights", [(1, 1), (3, 1), (1, 1, 2)])
def test_arms_fill_in_proportion_to_their_weights(weights: tuple[int, ...]) -> None:
    counts = Counter(assign(experiment(*weights), p).name for p in range(1, 20_001))
    total = sum(weights)
    for name, weight in zip(["standard", "arm-1", "arm-2"], weights, strict=False):
        assert counts[name] / 20_000 == pytest.approx(weight / total, abs=0.015)


def test_another_secret_or_experiment_reshuffles_patients() -> None:
    base = [assign(experiment(1, 1), p).name for p in range(1, 2001)]
    other_secret = [assign(experiment(1, 1, secret="cd" * 32), p).name for p in range(1, 2001)]
    other_key = [assign(experiment(1, 1, key="cadence"), p).name for p in range(1, 2001)]
    for other in (other_secret, other_key):
        agree = sum(a == b for a, b in zip(base, other, strict=True)) / 2000
        assert agree == pytest.approx(0.5, abs=0.05), "independent of the first assignment"


def test_the_draw_is_uniform_on_the_unit_interval() -> None:
    draws = [unit_draw(SECRET, "k", p) for p in range(10_000)]
    assert all(0 <= d < 1 for d in draws)
    deciles = Counter(int(d * 10) for d in draws)
    assert all(900 < deciles[i] < 1100 for i in range(10))
