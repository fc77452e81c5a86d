"""The turns worth a GRPO step: those the starting policy's greedy reply does not already get a perfect score on.

    >>> kept = turns_to_learn(model_dir, samples, JudgeSettings(judge="acts"), framing, below=1.0)

GRPO learns from the spread of rewards within a group of replies to one prompt. A prompt the policy already answers
perfectly mostly yields groups of equal rewards: no advantage, no gradient, and no change to its greedy reply,
which is what evaluation reads. Training only on the prompts whose greedy reply scores below `below` spends every
step where the reply can still improve (the offline form of DAPO's dynamic sampling, which drops groups of equal
rewards while sampling). The replies are `tracegym eval`'s: greedy, the run's prompt and reply caps, placeholders
filled and constrained as the framing says.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from tracegym.framing import Framing
from tracegym.judges import JudgeSettings
from tracegym.samples import Sample

FOCUS_BATCH = 32  # prompts per generation batch


@dataclass
class Focus:
    """What the selection saw: every turn's greedy score, and the turns kept."""

    kept: list[Sample]
    scores: list[float | None]  # one per turn looked at, in order

    @property
    def looked_at(self) -> int:
        return len(self.scores)


def turns_to_learn(
    model_name: str,
    samples: Sequence[Sample],
    judge: JudgeSettings,
    framing: Framing,
    *,
    below: float = 1.0,
    max_prompt_length: int | None = None,
    max_new_tokens: int = 64,
    seed: int = 0,
) -> Focus:
    """The samples whose greedy reply from `model_name` the judge scores below `below` (a failed verdict counts as
    below), in their order."""
    from tracegym.evaluation.eval import lexicalized
    from tracegym.evaluation.generate import generate_replies, load_base_model
    from tracegym.judges.base import score_sync
    from tracegym.judges.config import build_judge

    model, tokenizer = load_base_model(model_name)  # eval's loading: on the best device, in eval mode
    replies = generate_replies(
        model,
        tokenizer,
        samples,
        max_new_tokens=max_new_tokens,
        max_prompt_length=max_prompt_length,
        batch_size=FOCUS_BATCH,
        seed=seed,
        framing=framing,
        description="base replies to train turns",
    )
    if framing.placeholders:
        replies = lexicalized(replies, samples)
    texts = [group[0] for group in replies]
    verdicts = score_sync(build_judge(judge), samples, texts)
    scores = [verdict.score for verdict in verdicts]
    kept = [sample for sample, score in zip(samples, scores) if to_learn(score, below)]
    return Focus(kept=kept, scores=scores)


def to_learn(score: float | None, below: float = 1.0) -> bool:
    """Whether a turn whose greedy reply scored `score` is one GRPO should learn from (a failed verdict counts)."""
    return score is None or score < below


def with_anchors(
    scores: Sequence[float | None], anchors: float, draw: random.Random, *, below: float = 1.0
) -> list[int]:
    """Indices, in order, of GRPO's turns among those `scores` rates: every one below `below` (or unscored), and
    `anchors` times as many drawn by `draw` from the rest, whose replies GRPO should keep as they are."""
    learn = [i for i, score in enumerate(scores) if to_learn(score, below)]
    right = [i for i, score in enumerate(scores) if not to_learn(score, below)]
    return sorted(learn + draw.sample(right, min(len(right), round(anchors * len(learn)))))
