"""Paired statistics for base-vs-trained comparisons: the seed's summary dict, a paired bootstrap CI and p-value,
win rates, and Holm's correction for a family of signals.

The unit of every comparison is the prompt: base and trained replied to the same held-out prompts, so the
differences are paired, and resampling prompts (not replies) gives the CI of the mean difference. A warning that
reads several signals at once (six fidelity signals, say) tests several hypotheses: at 95% each, one of six
unchanged signals looks significantly worse in about one run of seven by chance alone. `worse_after_holm` keeps
the family-wise error at 5% (Holm 1979, step-down), and a strong fall still passes.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

BOOTSTRAP_RESAMPLES = 10_000
CONFIDENCE = 0.95


def summary(scores: Sequence[float]) -> dict[str, float]:
    """The seed's `{'mean', 'stdev', 'min', 'max'}`, rounded to 4 places (stdev 0.0 for fewer than 2 scores)."""
    if not scores:
        return {"mean": float("nan"), "stdev": float("nan"), "min": float("nan"), "max": float("nan")}
    return {
        "mean": round(statistics.mean(scores), 4),
        "stdev": round(statistics.stdev(scores), 4) if len(scores) > 1 else 0.0,
        "min": round(min(scores), 4),
        "max": round(max(scores), 4),
    }


@dataclass(frozen=True)
class Interval:
    """A confidence interval of a mean difference (trained minus base)."""

    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0.0 or self.high < 0.0


def paired_bootstrap_ci(
    base: Sequence[float],
    trained: Sequence[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap CI of mean(trained - base), resampling the pairs with replacement."""
    return paired_bootstrap(base, trained, resamples=resamples, confidence=confidence, seed=seed)[0]


def paired_bootstrap(
    base: Sequence[float],
    trained: Sequence[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> tuple[Interval, float]:
    """The percentile bootstrap CI of mean(trained - base) and the two-sided bootstrap p-value of "no change",
    from the same resamples: twice the share of resampled means on the far side of 0 from the observed one, so
    p < 1 - confidence exactly when the CI leaves 0 out (up to the quantiles' interpolation)."""
    import numpy as np

    if len(base) != len(trained):
        raise ValueError(f"paired samples differ in length: {len(base)} base vs {len(trained)} trained")
    if not base:
        return Interval(float("nan"), float("nan")), float("nan")
    differences = np.asarray(trained, dtype=float) - np.asarray(base, dtype=float)
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, len(differences), size=(resamples, len(differences)))
    resampled_means = differences[indices].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(resampled_means, [tail, 1.0 - tail])
    far_side = min(np.mean(resampled_means <= 0.0), np.mean(resampled_means >= 0.0))
    return Interval(float(low), float(high)), float(min(1.0, 2.0 * far_side))


@dataclass(frozen=True)
class WinRates:
    """Shares of prompts where the trained reply scored higher, the same, or lower than the base reply."""

    win: float
    tie: float
    loss: float


def win_tie_loss(base: Sequence[float], trained: Sequence[float], *, tolerance: float = 1e-9) -> WinRates:
    """Win / tie / loss shares of trained against base; a difference within `tolerance` is a tie."""
    if len(base) != len(trained):
        raise ValueError(f"paired samples differ in length: {len(base)} base vs {len(trained)} trained")
    if not base:
        return WinRates(float("nan"), float("nan"), float("nan"))
    wins = sum(1 for b, t in zip(base, trained) if t - b > tolerance)
    losses = sum(1 for b, t in zip(base, trained) if b - t > tolerance)
    count = len(base)
    return WinRates(win=wins / count, tie=(count - wins - losses) / count, loss=losses / count)


@dataclass(frozen=True)
class Comparison:
    """One signal compared on the same prompts: means, Δ (trained - base) with its paired bootstrap CI."""

    signal: str
    n: int
    base_mean: float
    trained_mean: float
    delta: float
    ci: Interval
    higher_is_better: bool = True
    p_value: float = float("nan")  # two-sided paired bootstrap p-value of "no change"

    @property
    def worse(self) -> bool:
        """The change goes the bad way (however small)."""
        return self.delta < 0.0 if self.higher_is_better else self.delta > 0.0

    @property
    def significantly_worse(self) -> bool:
        """The whole CI lies on the worse side of 0."""
        return self.ci.high < 0.0 if self.higher_is_better else self.ci.low > 0.0

    @property
    def significantly_better(self) -> bool:
        return self.ci.low > 0.0 if self.higher_is_better else self.ci.high < 0.0

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["ci"] = [self.ci.low, self.ci.high]
        row["significantly_worse"] = self.significantly_worse
        row["significantly_better"] = self.significantly_better
        return row


def compare(
    signal: str,
    base: Sequence[float | None],
    trained: Sequence[float | None],
    *,
    higher_is_better: bool = True,
    seed: int = 0,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> Comparison:
    """Compare paired values, keeping only the pairs where both sides have a value (None: judge failed, or the
    metric does not apply to that prompt)."""
    pairs = [(b, t) for b, t in zip(base, trained, strict=True) if b is not None and t is not None]
    base_values = [b for b, _ in pairs]
    trained_values = [t for _, t in pairs]
    if not pairs:
        nan = float("nan")
        return Comparison(signal, 0, nan, nan, nan, Interval(nan, nan), higher_is_better)
    base_mean = statistics.mean(base_values)
    trained_mean = statistics.mean(trained_values)
    ci, p_value = paired_bootstrap(base_values, trained_values, seed=seed, resamples=resamples)
    return Comparison(
        signal=signal,
        n=len(pairs),
        base_mean=base_mean,
        trained_mean=trained_mean,
        delta=trained_mean - base_mean,
        ci=ci,
        higher_is_better=higher_is_better,
        p_value=p_value,
    )


def worse_after_holm(comparisons: Sequence[Comparison], alpha: float = 1.0 - CONFIDENCE) -> list[Comparison]:
    """The comparisons whose change is significantly worse with the family-wise error rate held at `alpha` by
    Holm's step-down over every comparison with data (better and worse alike are hypotheses of the family), in
    the order given."""
    family = sorted((c for c in comparisons if c.n and c.p_value == c.p_value), key=lambda c: c.p_value)
    rejected = set()
    for rank, comparison in enumerate(family):
        if comparison.p_value > alpha / (len(family) - rank):
            break
        rejected.add(id(comparison))
    return [c for c in comparisons if id(c) in rejected and c.worse]


def format_delta(value: float) -> str:
    """`+0.13` / `-0.0421`: the seed's signed Δ, rounded to 4 places."""
    return f"{round(value, 4):+}"
