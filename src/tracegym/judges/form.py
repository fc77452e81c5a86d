"""`--judge form`: how well a reply reads, whatever it says: the act judge's form factors without its content credit.

The act judge multiplies its content credit by factors that read the reply's form: length, repeated words, phrases
and sentences, copying the user, list shape, broken text, other domains' words, grammar slips (`acts/scoring.py`,
`form_factor`). On a reply with no content credit those factors multiply 0, so the act judge scores every wrong reply
about 0 however it reads: "Where are you leaving from and where are you leaving from?" 0.067, the same question
asked a third time 0.014. A GRPO group of wrong replies then gives almost no push away from repeating itself.

This judge is that product alone, in [0, 1]: 1 for a reply that reads well. It is meant as a small part of a
training mixture, `--reward acts+form --reward_weights 0.9,0.1`, so that among wrong replies the one that reads well
earns more; on its own it rewards fluent nonsense. Like the act judge it needs the sample's reference acts.

Measured as the demo's reward on seed 0 (BENCHMARKS.md, demo, thirteenth session): at 0.9/0.1 GRPO's student repeats
itself in 12 held-out replies of 2,981 instead of 14 (the SFT student: 5), for a smaller gain, so the demo's reward
stays the act judge alone. Its repeats are on turns GRPO never trained on, which a reward does not reach.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from tracegym.judges.acts.scoring import VERSION as ACTS_VERSION
from tracegym.judges.acts.scoring import ActsWeights, assess, form_factor, rule_files
from tracegym.judges.base import Verdict, fingerprint_of, source_digest, verdicts_one_by_one
from tracegym.samples import Sample

VERSION = 1  # bump when the scoring here changes, so cached verdicts of the old scoring are not reused


class FormJudge:
    """Scores a reply by the act judge's form factors alone; pure CPU, no model, deterministic."""

    name = "form"

    def __init__(self, weights: ActsWeights | None = None) -> None:
        self.weights = weights or ActsWeights()
        self.fingerprint = fingerprint_of(
            self.name,
            version=VERSION,
            acts_version=ACTS_VERSION,
            rules=source_digest(rule_files()),
            weights=asdict(self.weights),
        )

    def __repr__(self) -> str:
        return f"FormJudge(fingerprint={self.fingerprint!r})"

    @classmethod
    def from_settings(cls, settings: Any) -> FormJudge:
        return cls()

    async def score(self, samples: Sequence[Sample], responses: Sequence[str]) -> list[Verdict]:
        return verdicts_one_by_one(self.verdict, samples, responses)

    def verdict(self, sample: Sample, response: str) -> Verdict:
        if not sample.acts:
            return Verdict.failure(
                f"sample {sample.id}: no reference acts; the form judge reads the reply against them as the acts "
                "judge does"
            )
        found = assess(sample, response or "", self.weights)
        score = round(form_factor(found, self.weights), 4)
        criteria = {
            "length_factor": round(found.length_factor, 4),
            "repetition_factor": round(found.repetition_factor, 4),
            "repeated_words": float(found.repeated_words),
            "repeated_phrases": float(found.repeated_phrases),
            "broken_text": float(found.broken_text),
            "grammar_slips": float(len(found.grammar_slips or [])),
        }
        flaws = [name for name, value in criteria.items() if value < 1 if name.endswith("factor")]
        flaws += [name for name, value in criteria.items() if value > 0 if not name.endswith("factor")]
        reasoning = f"form {score:.3f}" + (": " + ", ".join(flaws).replace("_", " ") if flaws else "")
        return Verdict(score=score, reasoning=reasoning, criteria=criteria)
