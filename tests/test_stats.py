"""Paired statistics against values known by construction."""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import replace

import pytest

from tracegym.evaluation.stats import (
    compare,
    format_delta,
    paired_bootstrap,
    paired_bootstrap_ci,
    summary,
    win_tie_loss,
    worse_after_holm,
)


def test_summary_is_the_seeds_dict_rounded_to_four_places():
    scores = [0.2, 0.95, 0.8, 0.65]
    assert summary(scores) == {
        "mean": round(statistics.mean(scores), 4),
        "stdev": round(statistics.stdev(scores), 4),
        "min": 0.2,
        "max": 0.95,
    }
    assert str(summary([0.5])) == "{'mean': 0.5, 'stdev': 0.0, 'min': 0.5, 'max': 0.5}"


def test_delta_is_signed_like_the_seed():
    assert format_delta(0.13) == "+0.13"
    assert format_delta(-0.04213) == "-0.0421"


def test_bootstrap_ci_covers_a_known_effect_and_excludes_zero():
    rng = random.Random(1)
    base = [rng.gauss(0.5, 0.1) for _ in range(300)]
    trained = [b + 0.1 + rng.gauss(0.0, 0.05) for b in base]  # true mean difference 0.1
    interval = paired_bootstrap_ci(base, trained, seed=0)
    assert interval.low < 0.1 < interval.high
    assert interval.low > 0.0 and interval.excludes_zero
    assert interval.high - interval.low < 0.03  # 2 × 1.96 × 0.05 / √300 ≈ 0.011: a tight interval


def test_bootstrap_ci_straddles_zero_when_there_is_no_effect():
    rng = random.Random(2)
    base = [rng.random() for _ in range(200)]
    trained = [rng.random() for _ in range(200)]  # same distribution, independent draws
    interval = paired_bootstrap_ci(base, trained, seed=0)
    assert interval.low < 0.0 < interval.high
    assert not interval.excludes_zero


def test_bootstrap_is_seeded_and_pairs_the_samples():
    base = [0.1, 0.4, 0.2, 0.9, 0.5]
    trained = [0.2, 0.5, 0.3, 1.0, 0.6]  # every pair differs by exactly +0.1
    interval = paired_bootstrap_ci(base, trained, seed=3)
    assert interval == paired_bootstrap_ci(base, trained, seed=3)
    assert interval.low == pytest.approx(0.1) and interval.high == pytest.approx(0.1)


def test_win_tie_loss_on_a_constructed_pair():
    base = [0.5, 0.5, 0.5, 0.5, 0.2, 0.9, 0.1, 0.3, 0.3, 0.7]
    trained = [0.6, 0.7, 0.9, 1.0, 0.2, 0.9, 0.1, 0.1, 0.0, 0.6]  # 4 wins, 3 ties, 3 losses
    rates = win_tie_loss(base, trained)
    assert (rates.win, rates.tie, rates.loss) == pytest.approx((0.4, 0.3, 0.3))


def test_compare_pairs_only_where_both_sides_have_a_value():
    comparison = compare("judge", [0.2, None, 0.4, 0.6], [0.4, 0.9, None, 0.8], resamples=500)
    assert comparison.n == 2
    assert comparison.delta == pytest.approx(0.2)
    assert comparison.significantly_better and not comparison.significantly_worse


def test_lower_is_better_signals_are_worse_when_they_rise():
    comparison = compare("slot_error_rate", [0.0] * 20, [1.0] * 20, higher_is_better=False, resamples=500)
    assert comparison.significantly_worse and not comparison.significantly_better


def test_compare_with_no_pairs_is_empty_not_an_error():
    comparison = compare("slot_error_rate", [None, None], [None, 1.0])
    assert comparison.n == 0 and math.isnan(comparison.delta)
    assert not comparison.significantly_worse


def test_the_bootstrap_p_value_agrees_with_the_interval_from_the_same_resamples():
    rng = random.Random(4)
    base = [rng.random() for _ in range(200)]
    for shift, significant in ((0.0, False), (0.12, True)):
        trained = [b + shift + rng.gauss(0.0, 0.3) for b in base]
        interval, p_value = paired_bootstrap(base, trained, seed=0)
        assert interval == paired_bootstrap_ci(base, trained, seed=0)
        assert interval.excludes_zero is significant and (p_value < 0.05) is significant
    assert paired_bootstrap([0.5] * 10, [0.5] * 10)[1] == 1.0  # no change at all


def change(name: str, p_value: float, delta: float = -1.0):
    """A comparison on one prompt whose value moved by `delta`, with the given p-value."""
    return replace(compare(name, [0.0], [delta]), p_value=p_value)


def test_holm_keeps_a_strong_fall_and_drops_a_borderline_one_among_six():
    strong = change("chrf", 0.001)
    borderline = change("recall", 0.02)  # worse at 95% alone, not among six
    better = change("length", 0.0001, delta=+1.0)
    family = [borderline, strong, better, *(change(f"noise{i}", 0.5) for i in range(3))]
    assert worse_after_holm(family) == [strong]  # the better one is rejected too, but it is no fall
    assert worse_after_holm([borderline]) == [borderline]  # a family of one: the plain 5% test
    assert worse_after_holm([replace(strong, n=0)]) == []  # no data, no test
