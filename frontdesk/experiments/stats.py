"""Confidence intervals for an arm's rate and for its difference from the control arm.

Pure Python, 95 % by default. Wilson's score interval for one proportion behaves at small
counts and at 0 % or 100 % (where the textbook p ± 1.96·SE collapses to a point); Newcombe's
hybrid score interval (his method 10, Statistics in Medicine 1998;17:873-890) builds the
difference's interval from the two Wilson intervals. The tests check both against the worked
examples of Newcombe's papers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # the 97.5th percentile of the standard normal


@dataclass(frozen=True)
class Interval:
    """An estimate with its lower and upper bound (proportions, 0..1)."""

    estimate: float
    low: float
    high: float

    def contains_zero(self) -> bool:
        """True when the data cannot tell the difference from none at all."""
        return self.low <= 0.0 <= self.high


def wilson(successes: int, trials: int, z: float = Z_95) -> Interval | None:
    """Wilson's score interval for `successes / trials`; None without trials."""
    if trials <= 0:
        return None
    if not 0 <= successes <= trials:
        raise ValueError(f"{successes} successes out of {trials} trials")
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    # At 0 or n successes one bound is exactly p; rounding must not put it past p.
    return Interval(p, max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def newcombe_difference(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, z: float = Z_95
) -> Interval | None:
    """Newcombe's interval for rate(a) − rate(b); None when either arm has no trials."""
    a = wilson(successes_a, trials_a, z)
    b = wilson(successes_b, trials_b, z)
    if a is None or b is None:
        return None
    difference = a.estimate - b.estimate
    low = difference - math.hypot(a.estimate - a.low, b.high - b.estimate)
    high = difference + math.hypot(a.high - a.estimate, b.estimate - b.low)
    return Interval(difference, low, high)
