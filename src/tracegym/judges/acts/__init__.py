"""The act-grounded judge (`--judge acts`): a reward with no model at all.

A reply is scored against the reference turn's dialogue acts and the sample's context, in [0, 1]:

    credit   = matched weight / total weight, over the values of INFORM / OFFER / CONFIRM / INFORM_COUNT
               (weight 1 each, typed matching, see values.py) and the act cues (lower weight): REQUEST of the
               right slot (or of a still-missing required slot), NOTIFY_SUCCESS / FAILURE polarity, REQ_MORE,
               GOODBYE, OFFER_INTENT
    score    = (credit − penalties) × length × repetition × copying,   0 when the reply addresses the grader

Penalties: `max(missing values, hallucinated values)` × a unit (so omitting a required value costs exactly what
stating a wrong one costs: dropping numbers never pays), a wrong offer (another result's entity for the offered
slot), over-informing (many context values beyond the reference), requests for slots nobody needs, a polarity
flip (failure words on a success), and each value placeholder left unfilled ("[4]", "[2": a number the acts do not
have, which `--placeholders` leaves as written; unlike a missing value it is never paired with one). It is the
default GRPO reward, so every rule here closes a way to game it.

    >>> judge = ActsJudge()
    >>> [verdict] = score_sync(judge, [sample], ["Sino is at 377 Santana Row."])

The package, by concern: `lexicon.py` (word lists), `reference.py` (reading the sample's acts, schema and calls),
`reply.py` (reading the reply), `scoring.py` (credit, penalties, the verdict).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from tracegym.judges.acts.reference import last_user_turn
from tracegym.judges.acts.reply import broken_text_marks
from tracegym.judges.acts.scoring import (
    ActsWeights,
    act_value_recall,
    assess,
    criteria_of,
    explain,
    final_score,
    hallucinated_values,
)
from tracegym.judges.base import Verdict, fingerprint_of
from tracegym.samples import Sample

__all__ = [
    "VERSION",
    "ActsJudge",
    "ActsWeights",
    "act_value_recall",
    "broken_text_marks",
    "hallucinated_values",
    "last_user_turn",
]

VERSION = "acts-4"


class ActsJudge:
    """Scores a reply against the reference turn's dialogue acts; pure CPU, no model, deterministic."""

    name = "acts"

    def __init__(self, weights: ActsWeights | None = None) -> None:
        self.weights = weights or ActsWeights()
        self.fingerprint = fingerprint_of(self.name, version=VERSION, weights=asdict(self.weights))

    @classmethod
    def from_settings(cls, settings: Any) -> ActsJudge:
        return cls()

    async def score(self, samples: Sequence[Sample], responses: Sequence[str]) -> list[Verdict]:
        if len(samples) != len(responses):
            raise ValueError(f"{len(samples)} samples but {len(responses)} responses; give one reply per sample")
        return [self.verdict(sample, response) for sample, response in zip(samples, responses)]

    def verdict(self, sample: Sample, response: str) -> Verdict:
        if not sample.acts:
            return Verdict.failure(f"sample {sample.id}: no reference acts; the acts judge needs SGD-style acts")
        assessment = assess(sample, response or "", self.weights)
        score = final_score(assessment, self.weights)
        return Verdict(
            score=score, reasoning=explain(assessment, score), criteria=criteria_of(assessment, self.weights)
        )
