"""The intervals against the worked examples of Newcombe's papers (Statistics in Medicine
1998;17:857-872 for one proportion, 17:873-890 for the difference, method 10)."""

from __future__ import annotations

import pytest

from frontdesk.experiments.stats import newcombe_difference, wilson


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombes_table(
    successes: int, trials: int, low: float, high: float
) -> None:
    interval = wilson(successes, trials)
    assert interval is not None
    assert interval.estimate == pytest.approx(successes / trials)
    assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)


@pytest.mark.parametrize(
    ("a", "b", "low", "high"),
    [
        ((56, 70), (48, 80), 0.0524, 0.3339),
        ((9, 10), (3, 10), 0.1705, 0.8090),
        ((5, 56), (0, 29), -0.0381, 0.1926),
    ],
)
def test_newcombe_difference_matches_method_10(
    a: tuple[int, int], b: tuple[int, int], low: float, high: float
) -> None:
    interval = newcombe_difference(*a, *b)
    assert interval is not None
    assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)
    assert interval.contains_zero() is (low <= 0 <= high)


def test_no_trials_gives_no_interval_and_impossible_counts_are_refused() -> None:
    assert wilson(0, 0) is None
    assert newcombe_difference(1, 10, 0, 0) is None
    with pytest.raises(ValueError, match="11 successes"):
        wilson(11, 10)
