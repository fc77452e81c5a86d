"""A weighted mixture of judges: `--judge gemini+acts --judge_weights 0.7,0.3`.

Every member scores the same batch, concurrently; the mixture's score is the weighted mean of theirs, and
`Verdict.parts` keeps each member's score by name. When any member fails on a reply, the mixture fails on it too
(score None, with that member's error): a failure is never counted as 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tracegym.errors import UserError
from tracegym.judges.base import Judge, Usage, Verdict, fingerprint_of
from tracegym.samples import Sample


def parse_weights(text: str | None, count: int) -> list[float]:
    """The `--judge_weights` of `count` judges: equal when `text` is empty; a UserError unless there are exactly
    `count` positive numbers."""
    if text is None or not text.strip():
        return [1.0] * count
    pieces = [piece.strip() for piece in text.split(",")]
    try:
        weights = [float(piece) for piece in pieces]
    except ValueError:
        raise UserError(
            f"--judge_weights {text!r}: not a list of numbers; write them comma separated, e.g. 0.7,0.3"
        ) from None
    if len(weights) != count:
        raise UserError(
            f"--judge_weights {text!r}: {len(weights)} weight(s) for {count} judge(s); give one weight per judge "
            "in the order of --judge, e.g. --judge gemini+acts --judge_weights 0.7,0.3"
        )
    if not all(weight > 0 and weight != float("inf") for weight in weights):
        raise UserError(f"--judge_weights {text!r}: every weight must be a positive number")
    return weights


def part_names(judges: Sequence[Judge]) -> list[str]:
    """One name per member for `Verdict.parts`: the judge's name, numbered when a name repeats (acts, acts_2)."""
    names: list[str] = []
    for judge in judges:
        name = judge.name
        number = 2
        while name in names:
            name = f"{judge.name}_{number}"
            number += 1
        names.append(name)
    return names


class Mixture:
    """The weighted mean of several judges' scores; weights are normalised to sum to 1."""

    def __init__(self, members: Sequence[tuple[Judge, float]]) -> None:
        if len(members) < 1:
            raise UserError("a judge mixture needs at least one judge")
        total = sum(weight for _, weight in members)
        self.judges = [judge for judge, _ in members]
        self.weights = [weight / total for _, weight in members]
        self.part_names = part_names(self.judges)
        self.name = "+".join(judge.name for judge in self.judges)
        self.fingerprint = fingerprint_of(
            "mixture",
            members=[[judge.fingerprint, round(weight, 12)] for judge, weight in zip(self.judges, self.weights)],
        )

    @classmethod
    def from_weights(cls, judges: Sequence[Judge], weights_text: str | None) -> Mixture:
        return cls(list(zip(judges, parse_weights(weights_text, len(judges)))))

    def __repr__(self) -> str:
        inner = ", ".join(f"({judge!r}, {weight:.3g})" for judge, weight in zip(self.judges, self.weights))
        return f"Mixture([{inner}])"

    async def score(self, samples: Sequence[Sample], responses: Sequence[str]) -> list[Verdict]:
        per_member = await asyncio.gather(*(judge.score(samples, responses) for judge in self.judges))
        for judge, verdicts in zip(self.judges, per_member):
            if len(verdicts) != len(samples):
                raise RuntimeError(f"judge {judge.name} returned {len(verdicts)} verdicts for {len(samples)} replies")
        return [self._combine(list(member_verdicts)) for member_verdicts in zip(*per_member)]

    def _combine(self, verdicts: list[Verdict]) -> Verdict:
        usage = sum((verdict.usage for verdict in verdicts), Usage())
        parts = {name: v.score for name, v in zip(self.part_names, verdicts) if v.score is not None}
        failed = [(name, v) for name, v in zip(self.part_names, verdicts) if v.score is None]
        if failed:
            error = "; ".join(f"{name}: {v.error or 'no score'}" for name, v in failed)
            return Verdict(score=None, parts=parts, usage=usage, error=error)
        score = sum(weight * verdict.score for weight, verdict in zip(self.weights, verdicts))
        return Verdict(
            score=min(1.0, max(0.0, score)),
            reasoning="\n".join(f"{name}: {v.reasoning}" for name, v in zip(self.part_names, verdicts) if v.reasoning),
            criteria={
                f"{name}.{k}": value for name, v in zip(self.part_names, verdicts) for k, value in v.criteria.items()
            },
            parts=parts,
            usage=usage,
        )
