"""What a point of gain cost: the judge's calls, tokens, dollars and seconds, in training and in this evaluation,
per +0.01 of the judge's Δ mean.

    >>> spend = JudgeSpend.of_verdicts(verdicts, seconds=12.5)           # eval's own judging
    >>> training = JudgeSpend.of_totals(rundir.read_judge_totals(run))   # the run's `judge_totals` records
    >>> per_point(spend, delta=0.064)                                    # 6.4 points: spend / 6.4

A judge call is an API request, or, for a judge that makes none (acts, a local model), one per reply it scored
and did not take from the cache: the count `--max_judge_calls` caps. An offline judge costs no dollars, but still
calls and seconds. A gain of 0 or less has no cost per point (`per_point` is None), never a negative or infinite one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tracegym.judges.base import Verdict
from tracegym.judges.budget import Ledger

POINT = 0.01  # one point of gain: +0.01 of the judge's Δ mean
NO_GAIN = "no gain, so no cost per point"


@dataclass(frozen=True)
class JudgeSpend:
    """What a judge spent on one stage: replies scored, API requests, cache hits, tokens, dollars, seconds."""

    replies: int = 0
    requests: int = 0  # API requests made; 0 for a judge that makes none
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0  # wall-clock seconds spent waiting on the judge

    @property
    def calls(self) -> int:
        """API requests, or for an offline judge one call per reply it scored itself (not from the cache)."""
        return self.requests if self.requests > 0 else self.replies - self.cache_hits

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @classmethod
    def of_verdicts(cls, verdicts: Sequence[Verdict], seconds: float) -> JudgeSpend:
        ledger = Ledger()
        ledger.add(verdicts)
        return cls.of_totals({**asdict(ledger), "seconds": seconds})

    @classmethod
    def of_totals(cls, totals: Mapping[str, Any]) -> JudgeSpend:
        """From a ledger's figures (`Ledger`, `JudgeReward.totals`, the run's `judge_totals`), where `calls` counts
        API requests."""
        return cls(
            replies=int(totals.get("replies") or 0),
            requests=int(totals.get("calls") or 0),
            cache_hits=int(totals.get("cache_hits") or 0),
            input_tokens=int(totals.get("input_tokens") or 0),
            output_tokens=int(totals.get("output_tokens") or 0),
            cost_usd=float(totals.get("cost_usd") or 0.0),
            seconds=float(totals.get("seconds") or 0.0),
        )

    def __add__(self, other: JudgeSpend) -> JudgeSpend:
        return JudgeSpend(**{key: value + getattr(other, key) for key, value in asdict(self).items()})

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "calls": self.calls, "tokens": self.tokens}


@dataclass(frozen=True)
class PerPoint:
    """A stage's spend divided by the points of gain (Δ / 0.01)."""

    calls: float
    tokens: float
    cost_usd: float
    seconds: float


def per_point(spend: JudgeSpend | None, delta: float) -> PerPoint | None:
    """`spend` per +0.01 of Δ; None when nothing was recorded or there was no gain (Δ ≤ 0, or not a number)."""
    if spend is None or not delta > 0:
        return None
    points = delta / POINT
    return PerPoint(
        calls=spend.calls / points,
        tokens=spend.tokens / points,
        cost_usd=spend.cost_usd / points,
        seconds=spend.seconds / points,
    )


def cost_per_point(spends: Mapping[str, JudgeSpend | None], delta: float) -> dict[str, Any]:
    """results.json's `cost_per_point`: each stage's spend (None: not recorded) and its cost per point (None: no
    gain, or nothing recorded)."""
    gained = delta > 0
    return {
        "point": POINT,
        "delta_mean": delta,
        "note": None if gained else NO_GAIN,
        **{
            stage: {
                "spend": spend.to_dict() if spend is not None else None,
                "per_point": asdict(figures) if (figures := per_point(spend, delta)) is not None else None,
            }
            for stage, spend in spends.items()
        },
    }
