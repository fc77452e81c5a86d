"""Any judge as a TRL reward function: async, one judge call per training step, None for a failed verdict.

    >>> from tracegym.judges import JudgeSettings, build_judge
    >>> from tracegym.training.reward import JudgeReward
    >>> judge_reward = JudgeReward(build_judge(JudgeSettings(judge="acts", cache="verdicts.sqlite")))
    >>>
    >>> def brevity(prompts, completions, **columns):          # your own TRL reward function
    ...     return [1.0 if len(c) < 200 else 0.0 for c in completions]
    >>>
    >>> trainer = GRPOTrainer(model, reward_funcs=[judge_reward, brevity], args=GRPOConfig(reward_weights=[1.0, 0.2]),
    ...                       train_dataset=dataset)           # dataset rows carry a `sample` column (see below)

TRL calls `await judge_reward(prompts=…, completions=…, **columns)` on its event loop, beside any other async reward
functions, once per generation batch: every reply of the step goes to `judge.score` in one batch (through the
verdict cache when the judge is wrapped in one), and the judge's backend fans the calls out under its own limit.

The judge needs the `Sample` each reply answers. The dataset built by `tracegym train` carries it as a `sample`
column (the record as JSON); a dataset without one must have the record's fields as columns (`id`,
`ground_truth`, …), and the `prompt` TRL passes stands in for the record's prompt.

A failed verdict is `None`, never 0: TRL leaves that reply out of the group's baseline and gives it no advantage.
With `truncated_reward`, a reply TRL cut off at `max_completion_length` (its last token id is none of
`stop_token_ids`, `tracegym.models.reply_stop_ids`: what ends a reply) gets that reward and is not judged: in the loss it teaches the student to finish, where TRL's
`mask_truncated_completions` would only leave it out.
Each call's figures (failures, guarded replies, cache hits, tokens, cost, per-judge parts, seconds spent) are kept in `history`
and, inside TRL, logged through its `log_metric` hook under `judge/…`, so they reach log.jsonl and TensorBoard.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tracegym.framing import Framing
from tracegym.judges.base import Judge, Verdict
from tracegym.judges.budget import Ledger
from tracegym.models import ends_reply
from tracegym.placeholders import lexicalize
from tracegym.samples import Sample

# Keyword arguments TRL adds beside the dataset's columns; never sample fields.
TRL_EXTRA_KWARGS = frozenset({"trainer_state", "log_extra", "log_metric", "completion_ids", "environments"})


@dataclass
class StepJudgeStats:
    """What one reward call (one training step's replies) cost and returned."""

    replies: int = 0
    failures: int = 0
    guarded: int = 0  # scored 0 by the judge's guard (grader-directed or empty replies) without a call
    cache_hits: int = 0
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    truncated: int = 0
    parts: dict[str, float] = field(default_factory=dict)  # mean score per judge, over replies it scored
    first_error: str | None = None

    def metrics(self) -> dict[str, float]:
        """Flat `judge/…` figures for TRL's `log_metric`."""
        figures = {
            "judge/replies": self.replies,
            "judge/failures": self.failures,
            "judge/guarded": self.guarded,
            "judge/cache_hits": self.cache_hits,
            "judge/calls": self.calls,
            "judge/input_tokens": self.input_tokens,
            "judge/output_tokens": self.output_tokens,
            "judge/cost_usd": self.cost_usd,
            "judge/seconds": self.seconds,
            "judge/truncated": self.truncated,
        }
        figures.update({f"judge/parts/{name}": value for name, value in self.parts.items()})
        return figures


def stats_of(verdicts: Sequence[Verdict], judge_name: str, seconds: float) -> StepJudgeStats:
    """Totals (the judge's own ledger) and per-judge means of one batch of verdicts."""
    ledger = Ledger()
    ledger.add(verdicts)
    part_values: dict[str, list[float]] = {}
    for verdict in verdicts:
        if verdict.score is None:
            continue
        for name, value in (verdict.parts or {judge_name: verdict.score}).items():
            if value is not None and not math.isnan(value):
                part_values.setdefault(name, []).append(float(value))
    return StepJudgeStats(
        **asdict(ledger),
        seconds=seconds,
        parts={name: sum(values) / len(values) for name, values in part_values.items()},
        first_error=next((verdict.error for verdict in verdicts if verdict.score is None), None),
    )


def completion_text(completion: str | list[dict[str, Any]]) -> str:
    """The reply's text, for plain completions (a string) and conversational ones (a list of messages)."""
    if isinstance(completion, str):
        return completion
    assistant = [m for m in completion if isinstance(m, dict) and m.get("role", "assistant") == "assistant"]
    content = (assistant or completion)[-1].get("content", "") if completion else ""
    if isinstance(content, list):  # content blocks: [{"type": "text", "text": …}]
        return "".join(block.get("text", "") for block in content if isinstance(block, dict))
    return str(content)


def samples_from_columns(prompts: Sequence[Any], columns: dict[str, Any]) -> list[Sample]:
    """One Sample per reply, from the `sample` column or else from the record's fields as columns."""
    if "sample" in columns:
        return [Sample.from_dict(json.loads(row), where="dataset column `sample`") for row in columns["sample"]]
    names = [name for name in columns if name not in TRL_EXTRA_KWARGS]
    samples = []
    for index, prompt in enumerate(prompts):
        row = {name: columns[name][index] for name in names}
        row.setdefault("prompt", prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False))
        samples.append(Sample.from_dict(row, where=f"dataset row {index}"))
    return samples


class JudgeReward:
    """A judge as an async TRL reward function (`prompts, completions, **columns`) → list of float or None."""

    def __init__(
        self,
        judge: Judge,
        name: str = "judge",
        framing: Framing | None = None,
        truncated_reward: float | None = None,
        stop_token_ids: frozenset[int] = frozenset(),
    ) -> None:
        if truncated_reward is not None and not stop_token_ids:
            raise ValueError("truncated_reward needs the stop_token_ids that end a reply")
        self.judge = judge
        self.framing = framing or Framing()  # with placeholders: fill each [n] from the sample's acts before judging
        self.truncated_reward = truncated_reward
        self.stop_token_ids = stop_token_ids
        self.__name__ = name  # TRL names the reward column (`rewards/judge/mean`) after this
        self.history: list[StepJudgeStats] = []

    async def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float | None]:
        samples = samples_from_columns(prompts, columns)
        replies = [completion_text(completion) for completion in completions]
        if self.framing.placeholders:
            replies = [lexicalize(reply, sample.acts) for reply, sample in zip(replies, samples)]
        cut = self.truncated(columns.get("completion_ids"), len(replies))
        judged = [index for index in range(len(replies)) if index not in cut]
        started = time.perf_counter()
        verdicts = await self.judge.score([samples[i] for i in judged], [replies[i] for i in judged])
        stats = stats_of(verdicts, self.judge.name, time.perf_counter() - started)
        stats.truncated = len(cut)
        self.history.append(stats)
        log_metric: Callable[[str, float], None] | None = columns.get("log_metric")
        if log_metric is not None:
            for name, value in stats.metrics().items():
                log_metric(name, float(value))
        scores: list[float | None] = [self.truncated_reward] * len(replies)
        for index, verdict in zip(judged, verdicts):
            scores[index] = verdict.score
        return scores

    def truncated(self, completion_ids: Sequence[Sequence[int]] | None, count: int) -> set[int]:
        """Indices of the replies cut off before their end of turn; none unless `truncated_reward` is set."""
        if self.truncated_reward is None or completion_ids is None:
            return set()
        if len(completion_ids) != count:
            raise ValueError(f"{len(completion_ids)} completion_ids for {count} completions")
        return {i for i, ids in enumerate(completion_ids) if ids and not ends_reply(ids, self.stop_token_ids)}

    def totals(self) -> dict[str, Any]:
        """Everything this reward has judged so far, summed over steps (this process only)."""
        keys = (*asdict(Ledger()), "seconds")
        return {key: sum(asdict(step)[key] for step in self.history) for key in keys}

    def totals_of_all_processes(self) -> dict[str, Any]:
        """`totals()` summed over every training process: a collective call, so every process must make it."""
        from accelerate.utils import gather_object

        per_process = gather_object([self.totals()])
        return {key: sum(totals[key] for totals in per_process) for key in per_process[0]}
