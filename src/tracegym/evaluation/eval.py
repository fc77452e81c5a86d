"""Base vs trained on the same held-out prompts: generate, judge, measure, compare. Callable in-process:

    >>> config = EvalConfig(eval_jsonl="eval.jsonl", base_model="runs/demo/base", trained_model_dir="runs/demo/trained")
    >>> result = evaluate(config)          # EvalResult: every figure, every generation
    >>> write_report(result, "runs/demo/eval")

The unit of every statistic is the prompt. With `num_samples` k > 1, a prompt's score (and each metric) is the
mean over its k replies; the paired bootstrap then resamples prompts.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tracegym.errors import UserError
from tracegym.evaluation.cost import JudgeSpend, cost_per_point
from tracegym.evaluation.metrics import (
    ReplyMetrics,
    act_types,
    corpus_bleu,
    corpus_chrf,
    reply_metrics,
    t2g2_split,
)
from tracegym.evaluation.stats import Comparison, WinRates, compare, summary, win_tie_loss, worse_after_holm
from tracegym.framing import Framing
from tracegym.judges import JudgeSettings
from tracegym.options import MAX_PROMPT_LENGTH, non_negative_float, option, positive_int
from tracegym.placeholders import check_act_conditioned, lexicalize
from tracegym.samples import Sample, read_samples
from tracegym.training.rundir import RunRecord, read_judge_totals, read_run, read_validation_spend

JUDGE = "judge"
DEFAULT_MAX_PROMPT_LENGTH = MAX_PROMPT_LENGTH  # train's default
DEFAULT_MAX_NEW_TOKENS = 64
# name, higher_is_better, how one reply's value is read from its ReplyMetrics
INDEPENDENT_SIGNALS: tuple[tuple[str, bool, Callable[[ReplyMetrics], float | None]], ...] = (
    ("chrf", True, lambda m: m.chrf),
    ("slot_error_rate_t2g2", False, lambda m: m.slot_error_t2g2),
    ("slot_error_rate_valued_replies", False, lambda m: m.slot_error),
    ("act_value_recall", True, lambda m: m.act_value_recall),
    ("hallucination_rate", False, lambda m: m.hallucinated),
    ("reply_length_words", True, lambda m: float(m.length_words)),
    ("broken_text_rate", False, lambda m: m.broken_text),
    ("repetition_rate", False, lambda m: m.repetition),
)
# Signals of quality the judge could be gaming; reply length is not quality, so it only feeds the avoidance check.
# One slot error figure, not both: they count the same wrong replies, and the T2G2 one only adds replies that
# cannot fail (0 on both sides), which shrink its Δ but hardly whether it is significant; both would warn twice.
# The other one's Δ reads directly: the share of replies with values that lost one.
FIDELITY_SIGNALS = (
    "chrf",
    "slot_error_rate_valued_replies",
    "act_value_recall",
    "hallucination_rate",
    "broken_text_rate",
    "repetition_rate",
)
AVOIDANCE_SIGNALS = ("reply_length_words", "act_value_recall")
# Saying less is a drop of a tenth or more of the base mean: the demo's students wrote 0.1 to 0.2 of 12 words less,
# significant on 3,000 turns, and no reader calls that terse.
AVOIDANCE_MIN_RELATIVE_DROP = 0.1
SIGNAL_LABELS = {
    JUDGE: "judge score",
    "chrf": "chrF",
    "slot_error_rate_t2g2": "slot error rate, T2G2 count (every reply)",
    "slot_error_rate_valued_replies": "slot error rate over replies with non-categorical values",
    "act_value_recall": "act-value recall",
    "hallucination_rate": "hallucination rate",
    "reply_length_words": "reply length (words)",
    "broken_text_rate": "broken text rate",
    "repetition_rate": "repetition rate",
}


@dataclass
class EvalConfig:
    """Everything `tracegym eval` needs; the CLI's flags map onto these fields."""

    eval_jsonl: str = option(help="held-out samples (from `tracegym prepare`/`split`)")
    base_model: str = option(help="the student before training: a hub id or a local dir")
    trained_model_dir: str = option(
        help="the trained student: a `tracegym train` run dir (adapter/ or model/ inside), a LoRA adapter dir "
        "(applied to --base_model), or a full model dir"
    )
    n: int = option(50, "prompts: the first n of a seeded shuffle", type=positive_int)
    judge: JudgeSettings = field(
        default_factory=JudgeSettings, metadata={"help": "the judge that scores both students' replies", "cli": False}
    )
    num_samples: int = option(
        1,
        "replies per prompt (1: greedy); with several, each prompt's statistics use the mean of its replies",
        type=positive_int,
    )
    temperature: float | None = option(
        None,
        "sampling temperature; 0 is greedy (default: greedy for one reply, 1.0 for several)",
        type=non_negative_float,
    )
    max_new_tokens: int | None = option(
        None, "reply length cap in tokens (default: the run's max_completion_length, else 64)", type=positive_int
    )
    max_prompt_length: int | None = option(
        None,
        f"prompt length cap in tokens; the oldest turns go first (default: the run's, else {MAX_PROMPT_LENGTH})",
        type=positive_int,
    )
    batch_size: int = option(8, "prompts per generation batch", type=positive_int)
    seed: int = option(0, "random seed")
    training_judge: str | None = option(
        None, "the judge the student was trained with, named in the report (default: read from the run's run.json)"
    )
    framing: Framing | None = option(
        None, "how replies are written and decoded; None: as the run trained (its run.json)", cli=False
    )
    bootstrap_resamples: int = option(10_000, "bootstrap resamples of the paired CI", cli=False)

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise UserError(f"--n {self.n}: must be a positive number of samples (e.g. 50)")
        for name in ("num_samples", "max_new_tokens", "max_prompt_length", "batch_size"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise UserError(f"--{name} {getattr(self, name)}: must be positive")
        if self.temperature is not None and self.temperature < 0:
            raise UserError(f"--temperature {self.temperature}: must be 0 (greedy) or more")
        if self.temperature is None:
            self.temperature = 1.0 if self.num_samples > 1 else 0.0
        if self.num_samples > 1 and self.temperature == 0:
            raise UserError(f"--num_samples {self.num_samples} needs sampling: give --temperature above 0 (e.g. 0.7)")


@dataclass
class ModelReplies:
    """One model's replies to one prompt, with the judge's scores and the independent metrics of each."""

    replies: list[str]
    scores: list[float | None]
    metrics: list[ReplyMetrics]

    def mean_score(self) -> float | None:
        return _mean_or_none(self.scores)

    def mean_of(self, read: Callable[[ReplyMetrics], float | None]) -> float | None:
        return _mean_or_none([read(m) for m in self.metrics])

    def to_dict(self, prefix: str) -> dict[str, Any]:
        return {
            f"{prefix}_replies": self.replies,
            f"{prefix}_scores": self.scores,
            f"{prefix}_metrics": [m.to_dict() for m in self.metrics],
        }


@dataclass
class EvalItem:
    sample: Sample
    base: ModelReplies
    trained: ModelReplies

    def to_dict(self) -> dict[str, Any]:
        s = self.sample
        return {
            "id": s.id,
            "split": s.split,  # ids repeat across SGD's splits (dev and test both have dialogue 1_00000)
            "dialogue_id": s.dialogue_id,
            "turn_index": s.turn_index,
            "service": s.service,
            "unseen_service": s.unseen_service,
            "acts": [act.to_dict() for act in s.acts],
            "ground_truth": s.ground_truth,
            **self.base.to_dict("base"),
            **self.trained.to_dict("trained"),
        }


@dataclass
class EvalResult:
    """Every figure of an evaluation and every generation behind it."""

    config: EvalConfig
    items: list[EvalItem]
    judge_name: str
    judge_fingerprint: str
    training_judge: str | None
    run_dir: str | None
    base_summary: dict[str, float]
    trained_summary: dict[str, float]
    comparisons: dict[str, Comparison]
    win_rates: WinRates
    corpus_chrf: dict[str, float]
    corpus_bleu: dict[str, float]
    by_seen_unseen: dict[str, Comparison]
    # The turns the base already answered perfectly (the trained model can only keep or break them) and the rest
    # (it can only keep or fix them): a Δ near 0 may hide gains on one side and as many losses on the other.
    by_base_score: dict[str, Comparison]
    by_act_type: dict[str, Comparison]
    by_service: dict[str, Comparison]
    slot_error_rate_t2g2_by_split: dict[str, Comparison]  # seen / unseen by the T2G2 reference's domain rule
    judge_failures: dict[str, int]
    warnings: list[str]
    # What the judge spent: "training" (the run's judge_totals; None when not recorded), "validation" (its
    # validation records; None when it did not validate) and "evaluation" (here).
    judge_spend: dict[str, JudgeSpend | None] = field(default_factory=dict)

    @property
    def judge_delta(self) -> Comparison:
        return self.comparisons[JUDGE]

    def seed_lines(self) -> list[str]:
        """The seed's three lines: base and trained score summaries, then the signed Δ of the means."""
        from tracegym.evaluation.stats import format_delta

        return [
            f"Base scores: {self.base_summary}",
            f"Trained scores: {self.trained_summary}",
            f"Δ mean: {format_delta(self.judge_delta.delta)}",
        ]

    def to_dict(self) -> dict[str, Any]:
        config = {k: v for k, v in vars(self.config).items() if k not in ("judge", "framing")}
        config["judge"] = {k: v for k, v in vars(self.config.judge).items()}
        config["framing"] = self.config.framing.to_dict() if self.config.framing else None
        return {
            "config": config,
            "n_prompts": len(self.items),
            "judge": {"name": self.judge_name, "fingerprint": self.judge_fingerprint},
            "training_judge": self.training_judge,
            "run_dir": self.run_dir,
            "base_scores": self.base_summary,
            "trained_scores": self.trained_summary,
            "delta_mean": self.judge_delta.delta,
            "comparisons": {name: c.to_dict() for name, c in self.comparisons.items()},
            "win_tie_loss": vars(self.win_rates),
            "corpus_chrf": self.corpus_chrf,
            "corpus_bleu": self.corpus_bleu,
            "by_seen_unseen": {name: c.to_dict() for name, c in self.by_seen_unseen.items()},
            "by_base_score": {name: c.to_dict() for name, c in self.by_base_score.items()},
            "by_act_type": {name: c.to_dict() for name, c in self.by_act_type.items()},
            "by_service": {name: c.to_dict() for name, c in self.by_service.items()},
            "slot_error_rate_t2g2_by_split": {
                name: c.to_dict() for name, c in self.slot_error_rate_t2g2_by_split.items()
            },
            "judge_failures": self.judge_failures,
            "cost_per_point": cost_per_point(self.judge_spend, self.judge_delta.delta),
            "warnings": self.warnings,
        }


def evaluate(config: EvalConfig) -> EvalResult:
    """Generate with both models on the same held-out prompts, score both with the judge, compare."""
    from tracegym.decoding import placeholder_token_ids
    from tracegym.evaluation.generate import (
        generate_replies,
        load_base_model,
        load_trained_model,
        locate_trained_model,
    )
    from tracegym.judges import build_judge
    from tracegym.models import check_model_reference

    samples = held_out_samples(config.eval_jsonl, config.n, config.seed)
    location = locate_trained_model(config.trained_model_dir)
    framing_asked = config.framing is not None or location.run_dir is not None
    config = with_settings_of_run(config, read_run(location.run_dir) if location.run_dir else None)
    if config.framing.placeholders:
        check_act_conditioned(samples)
    check_model_reference(config.base_model, "--base_model")
    judge = build_judge(config.judge)  # before generating: a bad judge flag should fail in a second, not minutes
    if not framing_asked and any(sample.acts for sample in samples):
        check_placeholders_asked(config)
    model, tokenizer = load_base_model(config.base_model)
    if config.framing.constrained and not placeholder_token_ids(tokenizer):
        # nothing to constrain; the report must not claim it
        config = replace(config, framing=replace(config.framing, constrained=False))
    generation = dict(
        num_samples=config.num_samples,
        temperature=config.temperature,
        max_new_tokens=config.max_new_tokens,
        max_prompt_length=config.max_prompt_length,
        batch_size=config.batch_size,
        seed=config.seed,
        framing=config.framing,
    )
    base_replies = generate_replies(model, tokenizer, samples, description="base replies", **generation)
    del model
    model, tokenizer = load_trained_model(location, config.base_model)
    trained_replies = generate_replies(model, tokenizer, samples, description="trained replies", **generation)
    del model
    if config.framing.placeholders:
        base_replies = lexicalized(base_replies, samples)
        trained_replies = lexicalized(trained_replies, samples)

    items = [
        EvalItem(sample, ModelReplies(base, [], []), ModelReplies(trained, [], []))
        for sample, base, trained in zip(samples, base_replies, trained_replies)
    ]
    eval_spend = score_items(items, judge)
    measure_items(items)
    return compare_items(
        config,
        items,
        judge_name=" ".join(
            filter(None, (getattr(judge, "name", config.judge.judge), getattr(judge, "version", None)))
        ),
        judge_fingerprint=getattr(judge, "fingerprint", ""),
        training_judge=config.training_judge,
        run_dir=str(location.run_dir) if location.run_dir else None,
        judge_spend={
            "training": training_spend(location.run_dir),
            "validation": validation_spend(location.run_dir),
            "evaluation": eval_spend,
        },
    )


def validation_spend(run_dir: str | Path | None) -> JudgeSpend | None:
    """What scoring the run's validation slice cost (`--validate_every`); None when the run did not validate."""
    return _spend_of(read_validation_spend(run_dir) if run_dir else None)


def training_spend(run_dir: str | Path | None) -> JudgeSpend | None:
    """What the training judge spent over the run (its `judge_totals` records); None when not recorded."""
    return _spend_of(read_judge_totals(run_dir) if run_dir else None)


def _spend_of(totals: dict[str, float] | None) -> JudgeSpend | None:
    return JudgeSpend.of_totals(totals) if totals is not None else None


def lexicalized(replies: Sequence[Sequence[str]], samples: Sequence[Sample]) -> list[list[str]]:
    """Each prompt's replies with their [n] placeholders filled from that sample's acts."""
    return [[lexicalize(reply, sample.acts) for reply in group] for group, sample in zip(replies, samples)]


def with_settings_of_run(config: EvalConfig, run: RunRecord | None) -> EvalConfig:
    """What the config leaves open, as the run trained (its run.json), so eval sees what training saw: the
    framing, the prompt and reply length caps, the training judge's name. Without a run: the plain framing and
    the defaults (512 prompt tokens, train's default; 64 new tokens)."""
    return replace(
        config,
        framing=config.framing or (run.framing if run else Framing()),
        max_prompt_length=config.max_prompt_length or (run.max_prompt_length if run else DEFAULT_MAX_PROMPT_LENGTH),
        max_new_tokens=config.max_new_tokens or (run.max_completion_length if run else DEFAULT_MAX_NEW_TOKENS),
        training_judge=config.training_judge or (run.training_judge() if run else None),
    )


def check_placeholders_asked(config: EvalConfig) -> None:
    """A UserError when the student writes [n] placeholders and nothing says whether eval should fill them: a model
    dir without run.json does not record how the student was trained."""
    from tracegym.decoding import placeholder_token_ids
    from tracegym.models import load_tokenizer

    if placeholder_token_ids(load_tokenizer(config.base_model, "--base_model")):
        raise UserError(
            f"--base_model {config.base_model} writes [n] placeholders, and --trained_model_dir "
            f"{config.trained_model_dir} has no run.json to say whether they are filled: give --placeholders (fill "
            "them from each sample's acts, as the demo trains) or --no_placeholders (judge the replies as written)"
        )


def framing_of_flags(placeholders: bool | None, constrained: bool | None) -> Framing | None:
    """The framing eval's `--[no-]placeholders` and `--[no-]constrain_placeholders` ask for; None when neither is
    given (as the run trained). A constraint flag alone means placeholders: there is nothing else to constrain."""
    if placeholders is None and constrained is None:
        return None
    if placeholders is False:
        return Framing()
    return Framing.named("acts").with_placeholders(True, constrained=True if constrained is None else constrained)


def held_out_samples(eval_jsonl: str | Path, n: int, seed: int) -> list[Sample]:
    """The first n samples of a seeded shuffle of the file (all of them when it holds fewer)."""
    path = Path(eval_jsonl)
    if not path.is_file():
        raise UserError(f"--eval_jsonl {path}: no such file; make one with `tracegym prepare` and `tracegym split`")
    samples = read_samples(path)
    random.Random(seed).shuffle(samples)
    return samples[:n]


def score_items(items: Sequence[EvalItem], judge: Any) -> JudgeSpend:
    """Score every reply of each model through the judge, one batch per model; returns what the judge spent."""
    from tracegym.judges import score_sync

    spend = JudgeSpend()
    for side in ("base", "trained"):
        samples = [item.sample for item in items for _ in getattr(item, side).replies]
        replies = [reply for item in items for reply in getattr(item, side).replies]
        started = time.perf_counter()
        verdicts = score_sync(judge, samples, replies)
        spend += JudgeSpend.of_verdicts(verdicts, seconds=time.perf_counter() - started)
        scores = iter(verdict.score for verdict in verdicts)
        for item in items:
            own = getattr(item, side)
            own.scores = [next(scores) for _ in own.replies]
    return spend


def measure_items(items: Sequence[EvalItem]) -> None:
    for item in items:
        for side in (item.base, item.trained):
            side.metrics = [reply_metrics(item.sample, reply) for reply in side.replies]


def compare_items(
    config: EvalConfig,
    items: list[EvalItem],
    *,
    judge_name: str,
    judge_fingerprint: str,
    training_judge: str | None,
    run_dir: str | None,
    judge_spend: dict[str, JudgeSpend | None] | None = None,
) -> EvalResult:
    """Every statistic from scored and measured items: no model or judge needed, so tests and re-scoring use it.
    `judge_spend`: what the judge spent in "training", "validation" and "evaluation" (None: not recorded)."""
    seed, resamples = config.seed, config.bootstrap_resamples
    base_scores = [item.base.mean_score() for item in items]
    trained_scores = [item.trained.mean_score() for item in items]
    paired = [(b, t) for b, t in zip(base_scores, trained_scores) if b is not None and t is not None]
    comparisons = {JUDGE: compare(JUDGE, base_scores, trained_scores, seed=seed, resamples=resamples)}
    for name, higher_is_better, read in INDEPENDENT_SIGNALS:
        comparisons[name] = compare(
            name,
            [item.base.mean_of(read) for item in items],
            [item.trained.mean_of(read) for item in items],
            higher_is_better=higher_is_better,
            seed=seed,
            resamples=resamples,
        )

    def judge_comparison_over(subset: list[EvalItem]) -> Comparison:
        return compare(
            JUDGE,
            [item.base.mean_score() for item in subset],
            [item.trained.mean_score() for item in subset],
            seed=seed,
            resamples=resamples,
        )

    result = EvalResult(
        config=config,
        items=items,
        judge_name=judge_name,
        judge_fingerprint=judge_fingerprint,
        training_judge=training_judge,
        run_dir=run_dir,
        base_summary=summary([b for b, _ in paired]),
        trained_summary=summary([t for _, t in paired]),
        comparisons=comparisons,
        win_rates=win_tie_loss([b for b, _ in paired], [t for _, t in paired]),
        corpus_chrf={
            "base": corpus_chrf(*_replies_and_references(items, "base")),
            "trained": corpus_chrf(*_replies_and_references(items, "trained")),
        },
        corpus_bleu={
            "base": corpus_bleu(*_replies_and_references(items, "base")),
            "trained": corpus_bleu(*_replies_and_references(items, "trained")),
        },
        by_seen_unseen={
            group: judge_comparison_over(subset)
            for group, subset in _grouped(items, lambda s: ["unseen" if s.unseen_service else "seen"]).items()
        },
        by_base_score={
            group: judge_comparison_over(subset) for group, subset in _by_base_score(items).items() if subset
        },
        by_act_type={group: judge_comparison_over(subset) for group, subset in _grouped(items, act_types).items()},
        by_service={
            group: judge_comparison_over(subset)
            for group, subset in _grouped(items, lambda s: [s.service or "(none)"]).items()
        },
        slot_error_rate_t2g2_by_split={
            group: compare(
                "slot_error_rate_t2g2",
                [item.base.mean_of(lambda m: m.slot_error_t2g2) for item in subset],
                [item.trained.mean_of(lambda m: m.slot_error_t2g2) for item in subset],
                higher_is_better=False,
                seed=seed,
                resamples=resamples,
            )
            for group, subset in _grouped(items, _t2g2_groups).items()
        },
        judge_failures={
            "base": sum(score is None for item in items for score in item.base.scores),
            "trained": sum(score is None for item in items for score in item.trained.scores),
        },
        warnings=[],
        judge_spend={"training": None, "validation": None, "evaluation": None, **(judge_spend or {})},
    )
    result.warnings = fidelity_warnings(result)
    return result


def fidelity_warnings(result: EvalResult) -> list[str]:
    """Warnings that the judge's gain may not be real: an independent signal significantly worse, or avoidance."""
    judge = result.judge_delta
    if not judge.delta > 0:
        return []
    fidelity = [result.comparisons[name] for name in FIDELITY_SIGNALS]
    warnings = [
        f"fidelity warning: the judge's score rose (Δ {judge.delta:+.4f}) while {SIGNAL_LABELS[c.signal]} got "
        f"significantly worse (Δ {c.delta:+.4f}, 95% CI [{c.ci.low:+.4f}, {c.ci.high:+.4f}], p {c.p_value:.2g}, "
        f"Holm-corrected over {len(fidelity)} signals): the student may be gaming the judge"
        for c in worse_after_holm(fidelity)
    ]
    avoiding = [
        c
        for c in worse_after_holm([result.comparisons[name] for name in AVOIDANCE_SIGNALS])
        if abs(c.delta) >= AVOIDANCE_MIN_RELATIVE_DROP * abs(c.base_mean)
    ]
    if avoiding:
        dropped = " and ".join(f"{SIGNAL_LABELS[c.signal]} (Δ {c.delta:+.4f})" for c in avoiding)
        warnings.append(
            f"avoidance warning: the judge's score rose while {dropped} dropped significantly, by a tenth or more: "
            "the student may be saying less to risk less (terse, generic replies)"
        )
    return warnings


def _t2g2_groups(sample: Sample) -> list[str]:
    """The sample's T2G2 seen/unseen group; none when the T2G2 count does not apply (no schema, no service)."""
    split = t2g2_split(sample)
    return [split] if split and sample.schema is not None else []


def _grouped(items: Sequence[EvalItem], groups_of: Callable[[Sample], list[str]]) -> dict[str, list[EvalItem]]:
    groups: dict[str, list[EvalItem]] = {}
    for item in items:
        for group in groups_of(item.sample):
            groups.setdefault(group, []).append(item)
    return dict(sorted(groups.items()))


BASE_PERFECT, BASE_IMPERFECT = "base scored 1", "base scored below 1"


def _by_base_score(items: Sequence[EvalItem]) -> dict[str, list[EvalItem]]:
    """The items whose base replies all scored 1, and the others (a reply the judge failed on counts as below 1)."""
    groups: dict[str, list[EvalItem]] = {BASE_PERFECT: [], BASE_IMPERFECT: []}
    for item in items:
        perfect = bool(item.base.scores) and all(score is not None and score >= 1.0 for score in item.base.scores)
        groups[BASE_PERFECT if perfect else BASE_IMPERFECT].append(item)
    return groups


def _replies_and_references(items: Sequence[EvalItem], side: str) -> tuple[list[str], list[str]]:
    replies = [reply for item in items for reply in getattr(item, side).replies]
    references = [item.sample.ground_truth for item in items for _ in getattr(item, side).replies]
    return replies, references


def _mean_or_none(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None and not math.isnan(v)]
    return sum(present) / len(present) if present else None
