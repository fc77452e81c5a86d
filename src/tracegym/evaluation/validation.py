"""The gaming alarm's measuring side: the policy's greedy replies to the validation slice, scored by the training
judge and by the independent signals, and the rule that raises the alarm.

`tracegym train --validate_every N` calls a `SliceValidator` every N steps (`tracegym.training.validation` holds
the slice out of GRPO and owns the callback). A validation replies as `tracegym eval` does: the same prompt
rendering and length caps as training, greedy, `[n]` placeholders filled from the acts before anything is scored,
the placeholder constraint when the run samples with it. The signals are `evaluation.metrics`' (none of the
judge's code), read as `eval.INDEPENDENT_SIGNALS` reads them.

The rule (`gaming_alarms`), against the first validation (the policy before its first GRPO step): the judge's mean
rose, and some fidelity signal (`eval.FIDELITY_SIGNALS`: chrF, slot error over replies with values, act-value
recall, hallucination, broken text, repetition) got significantly worse over the same prompts: its paired
bootstrap test (`stats.compare`) rejects "no change" with Holm's correction over the six signals
(`stats.worse_after_holm`), so an unchanged student raises it at a check about one time in twenty, not one in
seven. It is eval's fidelity warning, applied during training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tracegym.evaluation.eval import FIDELITY_SIGNALS, INDEPENDENT_SIGNALS, JUDGE, SIGNAL_LABELS, lexicalized
from tracegym.evaluation.metrics import reply_metrics
from tracegym.evaluation.stats import compare, worse_after_holm
from tracegym.judges.budget import Ledger
from tracegym.training import rundir
from tracegym.training.validation import ValidationPoint, ValidationSlice

VALIDATION_BATCH = 16  # prompts per generation batch
ALARM_RESAMPLES = 2_000  # bootstrap resamples per signal and validation: a decision, not a reported CI

PromptValues = dict[str, list[float | None]]  # per signal (and `judge`), one value per prompt of the slice


class SliceValidator:
    """Scores the current policy on the validation slice; remembers the first validation for the alarm's rule."""

    def __init__(self, validation: ValidationSlice) -> None:
        self.slice = validation
        self.first: PromptValues | None = None

    def __call__(self, model: Any, tokenizer: Any, step: int) -> ValidationPoint:
        replies = self.replies(model, tokenizer)
        started = time.perf_counter()
        verdicts = self.slice.run_async(self.slice.judge.score(self.slice.samples, replies))
        judge_seconds = time.perf_counter() - started
        values = prompt_values(self.slice.samples, replies, [verdict.score for verdict in verdicts])
        self.first = self.first or values
        spent = Ledger()
        spent.add(verdicts)
        return ValidationPoint(
            step=step,
            n=len(replies),
            judge=mean_of(values[JUDGE]),
            signals={name: mean_of(values[name]) for name, _, _ in INDEPENDENT_SIGNALS},
            judge_failures=spent.failures,
            judge_spend={**asdict(spent), "seconds": round(judge_seconds, 3)},
            alarms=gaming_alarms(self.first, values, step=step, seed=self.slice.seed),
        )

    def replies(self, model: Any, tokenizer: Any) -> list[str]:
        """Greedy replies to the slice, placeholders filled from each sample's acts when the run writes them."""
        from tracegym.evaluation.generate import generate_replies

        samples = self.slice.samples
        replies = generate_replies(
            model,
            tokenizer,
            samples,
            max_new_tokens=self.slice.max_new_tokens,
            max_prompt_length=self.slice.max_prompt_length,
            batch_size=VALIDATION_BATCH,
            seed=self.slice.seed,
            framing=self.slice.framing,
            description="validation replies",
        )
        if self.slice.framing.placeholders:
            replies = lexicalized(replies, samples)
        return [group[0] for group in replies]


def prompt_values(samples: Sequence[Any], replies: Sequence[str], scores: Sequence[float | None]) -> PromptValues:
    """The judge's score and every independent signal of each prompt's reply."""
    measured = [reply_metrics(sample, reply) for sample, reply in zip(samples, replies)]
    values: PromptValues = {JUDGE: list(scores)}
    for name, _, read in INDEPENDENT_SIGNALS:
        values[name] = [read(metrics) for metrics in measured]
    return values


def gaming_alarms(
    first: PromptValues, now: PromptValues, *, step: int, seed: int = 0, resamples: int = ALARM_RESAMPLES
) -> list[str]:
    """One warning line when the judge's mean rose since the first validation while a fidelity signal got
    significantly worse (Holm-corrected over the fidelity signals, module docstring); none otherwise."""
    judge = compare(JUDGE, first[JUDGE], now[JUDGE], seed=seed, resamples=resamples)
    if not judge.n or not judge.delta > 0:
        return []
    higher_is_better = {name: better for name, better, _ in INDEPENDENT_SIGNALS}
    signals = [
        compare(name, first[name], now[name], higher_is_better=higher_is_better[name], seed=seed, resamples=resamples)
        for name in FIDELITY_SIGNALS
    ]
    fallen = [
        f"{SIGNAL_LABELS[c.signal]} {c.base_mean:.3g} → {c.trained_mean:.3g} (Δ 95% CI [{c.ci.low:+.3g}, "
        f"{c.ci.high:+.3g}], p {c.p_value:.2g}, {c.n} prompts)"
        for c in worse_after_holm(signals)
    ]
    if not fallen:
        return []
    return [
        f"warning: gaming alarm at step {step}: the judge's validation score rose {judge.base_mean:.3f} → "
        f"{judge.trained_mean:.3f} since the first validation while " + "; ".join(fallen) + " got significantly "
        f"worse (Holm-corrected over {len(signals)} signals): the student may be gaming the judge"
    ]


def mean_of(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return round(sum(present) / len(present), 6) if present else None


# ------------------------------------------------------------------------------------------ the report's curve

VALIDATION_CURVE = "validation_curve.png"
CURVE_SIGNALS = FIDELITY_SIGNALS  # the curve draws what the alarm watches


def read_validation_points(run_dir: str | Path | None) -> list[dict[str, Any]]:
    """The `kind: validation` records of a run's log.jsonl, in order (empty without a run dir, log or validation)."""
    return rundir.log_records(run_dir, rundir.VALIDATION) if run_dir else []


def validation_curve_figure(points: Sequence[dict[str, Any]]) -> Any:
    """The judge's mean and each fidelity signal's mean on the validation slice per step: small multiples sharing
    the step axis, the best step starred, the steps that raised the gaming alarm in red. The caller saves it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [JUDGE, *CURVE_SIGNALS]
    rows = math.ceil(len(names) / 2)
    figure, axes_grid = plt.subplots(rows, 2, figsize=(8, 2.15 * rows), sharex=True)
    for spare in axes_grid.flat[len(names) :]:
        spare.set_visible(False)
    alarm_steps = [point["step"] for point in points if point.get("alarms")]
    best_steps = [point["step"] for point in points if point.get("best")]
    for axes, name in zip(axes_grid.flat, names):
        shown = [(point["step"], point[name]) for point in points if point.get(name) is not None]
        axes.plot([step for step, _ in shown], [value for _, value in shown], marker="o", linewidth=1.2)
        best = [(step, value) for step, value in shown if step == (best_steps[-1] if best_steps else None)]
        if name == JUDGE and best:
            axes.plot(*best[0], marker="*", markersize=14, color="tab:orange", label="best")
            axes.legend(loc="best", fontsize=8)
        for step in alarm_steps:
            axes.axvline(step, color="tab:red", alpha=0.4, linewidth=2)
        axes.set_title(SIGNAL_LABELS[name] + (" (training judge)" if name == JUDGE else ""), fontsize=9)
        axes.grid(alpha=0.3)
    for axes in axes_grid.flat[len(names) - 2 : len(names)]:  # the lowest plot of each column
        axes.xaxis.set_tick_params(labelbottom=True)
        axes.set_xlabel("training step")
    count = points[0].get("n") if points else 0
    marked = "; red: a gaming alarm" if alarm_steps else ""
    figure.suptitle(
        f"Validation slice ({count} held-out train prompts): judge vs independent signals{marked}", fontsize=10
    )
    return figure


def kept_policy_line(run_dir: str | Path | None) -> str | None:
    """The report's line on which policy `--keep_best` kept (run.json's validation record), or None without it."""
    if not run_dir or not rundir.has_run_record(Path(run_dir)):
        return None
    validation = rundir.read_run(run_dir).validation or {}
    kept, steps = validation.get("kept_step"), validation.get("steps") or []
    if not validation.get("keep_best") or kept is None:
        return None
    line = f"- **Policy kept:** step {kept} of {steps[-1] if steps else '?'} (`--keep_best`: the best on the validation slice)"
    if kept == 0:
        line += "; no step beat the starting policy there, so the trained model is the base"
    return line


def validation_report_lines(points: Sequence[dict[str, Any]]) -> list[str]:
    """The report's paragraph under the curve: the slice, the best step, the alarms."""
    if not points:
        return []
    best = [point for point in points if point.get("best")]
    alarms = [alarm for point in points for alarm in point.get("alarms") or []]
    lines = [
        f"During training, every {_step_gap(points)} steps, the policy replied greedily to {points[0].get('n')} "
        "train-split prompts held out of GRPO, scored by the training judge and by the independent signals "
        f"(log.jsonl, `kind: validation`). Best judge score on the slice: step {best[-1]['step']} "
        f"({best[-1]['judge']:.4f})."
        if best
        else "",
        f"Gaming alarms during training: {len(alarms)}" + (":" if alarms else " (none)."),
    ]
    return [line for line in lines if line] + [f"- {alarm.removeprefix('warning: ')}" for alarm in alarms] + [""]


def _step_gap(points: Sequence[dict[str, Any]]) -> int | str:
    steps = [point["step"] for point in points]
    gaps = sorted({b - a for a, b in zip(steps, steps[1:]) if b > a})
    return gaps[-1] if gaps else "?"
