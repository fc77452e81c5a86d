"""`tracegym eval`: base vs trained student on the same held-out prompts, judged, measured, and reported.

Prints the seed's three lines (base and trained score summaries, Δ mean), then the paired bootstrap 95% CI of
Δ, win / tie / loss shares, independent signals (chrF, slot error rate, act-value recall, hallucination rate,
reply length) and Δ by seen / unseen service and act type. Writes generations.jsonl, results.json, report.md and
PNG plots into --out_dir. A fidelity warning goes to stderr and the top of the report when the judge's score
rose while a fidelity signal got significantly worse (paired bootstrap, Holm-corrected over the six signals).

    tracegym eval --eval_jsonl runs/demo/eval.jsonl --base_model runs/demo/base \\
        --trained_model_dir runs/demo/trained --n 50 --judge acts
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from tracegym.commands.common import add_judge_arguments, add_options
from tracegym.options import option, values_for


@dataclass
class FramingFlags:
    """How the replies are written and decoded; both unset: as the run trained (its run.json)."""

    placeholders: bool | None = option(
        None, "fill [n] placeholders in the replies from the sample's acts (default: as the run was trained)"
    )
    constrain_placeholders: bool | None = option(
        None,
        "with --placeholders, decode so that a reply writes each [n] of the acts at most once and no other "
        "(default: as the run was trained)",
    )


@dataclass
class EvalOutput:
    """Where `tracegym eval` writes its report."""

    out_dir: str | None = option(
        None,
        "where results.json, generations.jsonl, report.md and plots go (default: <run dir>/eval)",
        output="dir",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tracegym.evaluation.eval import EvalConfig

    add_options(parser, EvalConfig)
    add_options(parser, FramingFlags)
    add_options(parser, EvalOutput)
    add_judge_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from tracegym.evaluation import EvalConfig, evaluate, write_report
    from tracegym.evaluation.eval import framing_of_flags
    from tracegym.judges import JudgeSettings

    framing = framing_of_flags(args.placeholders, args.constrain_placeholders)
    config = values_for(EvalConfig, args, judge=JudgeSettings.from_args(args), framing=framing)
    result = evaluate(config)
    out_dir = Path(args.out_dir) if args.out_dir else default_out_dir(result.run_dir, args.trained_model_dir)
    paths = write_report(result, out_dir)
    print("\n".join(result_lines(result)))
    print(f"Report: {paths['report']}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def default_out_dir(run_dir: str | None, trained_model_dir: str) -> Path:
    return Path(run_dir or trained_model_dir) / "eval"


def result_lines(result) -> list[str]:
    """What `eval` prints: the seed's three lines first, then the statistics behind them."""
    from tracegym.evaluation.eval import JUDGE, SIGNAL_LABELS
    from tracegym.evaluation.report import decimals_for

    judge = result.judge_delta
    rates = result.win_rates
    lines = result.seed_lines() + [
        f"Δ 95% CI (paired bootstrap, {result.config.bootstrap_resamples} resamples, {judge.n} prompts): "
        f"[{judge.ci.low:+.4f}, {judge.ci.high:+.4f}]",
        f"Win / tie / loss: {rates.win:.1%} / {rates.tie:.1%} / {rates.loss:.1%}",
        f"Eval judge: {result.judge_name} ({result.judge_fingerprint}); training judge: {result.training_judge or 'unknown'}",
        "Independent signals (base → trained, Δ [95% CI]):",
    ]
    for name, c in result.comparisons.items():
        if name == JUDGE:
            continue
        if not c.n:
            lines.append(f"  {SIGNAL_LABELS[name]}: does not apply to these prompts")
            continue
        p = decimals_for(name)
        lines.append(
            f"  {SIGNAL_LABELS[name]}: {c.base_mean:.{p}f} → {c.trained_mean:.{p}f}, Δ {c.delta:+.{p}f} "
            f"[{c.ci.low:+.{p}f}, {c.ci.high:+.{p}f}] (n={c.n})"
        )
    lines.append(f"  corpus chrF: {result.corpus_chrf['base']:.2f} → {result.corpus_chrf['trained']:.2f}")
    lines.append(f"  corpus BLEU: {result.corpus_bleu['base']:.2f} → {result.corpus_bleu['trained']:.2f}")
    lines.append("Δ judge score by group:")
    groups = [(f"{g} services", c) for g, c in result.by_seen_unseen.items()]
    groups += list(result.by_base_score.items())
    groups += [(f"act {a}", c) for a, c in result.by_act_type.items()]
    for label, c in groups:
        lines.append(f"  {label}: Δ {c.delta:+.4f} [{c.ci.low:+.4f}, {c.ci.high:+.4f}] (n={c.n})")
    return lines
