"""`tracegym eval`: base vs trained student on the same held-out prompts, judged, measured, and reported.

Prints the seed's three lines (base and trained score summaries, Δ mean), then the paired bootstrap 95% CI of
Δ, win / tie / loss shares, independent signals (chrF, slot error rate, act-value recall, hallucination rate,
reply length) and Δ by seen / unseen service and act type. Writes generations.jsonl, results.json, report.md and
PNG plots into --out_dir. A fidelity warning goes to stderr and the top of the report when the judge's score
rose while an independent signal got significantly worse.

    tracegym eval --eval_jsonl runs/demo/eval.jsonl --base_model runs/demo/base \\
        --trained_model_dir runs/demo/trained --n 50 --judge acts
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tracegym.commands.common import add_judge_arguments, add_seed, non_negative_float, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--eval_jsonl", required=True, help="held-out samples (from `tracegym prepare`/`split`)")
    parser.add_argument("--base_model", required=True, help="the student before training: a hub id or a local dir")
    parser.add_argument(
        "--trained_model_dir",
        required=True,
        help="the trained student: a `tracegym train` run dir (adapter/ or model/ inside), a LoRA adapter dir "
        "(applied to --base_model), or a full model dir",
    )
    parser.add_argument(
        "--n", type=positive_int, default=50, help="prompts: the first n of a seeded shuffle (default 50)"
    )
    parser.add_argument(
        "--out_dir",
        default=None,
        help="where results.json, generations.jsonl, report.md and plots go (default: <run dir>/eval)",
    )
    parser.add_argument(
        "--num_samples",
        type=positive_int,
        default=1,
        help="replies per prompt (default 1, greedy); with several, each prompt's statistics use the mean of its "
        "replies",
    )
    parser.add_argument(
        "--temperature",
        type=non_negative_float,
        default=None,
        help="sampling temperature; 0 is greedy (default: greedy for one reply, 1.0 for several)",
    )
    parser.add_argument(
        "--max_new_tokens",
        type=positive_int,
        default=None,
        help="reply length cap in tokens (default: the run's max_completion_length, else 64)",
    )
    parser.add_argument(
        "--max_prompt_length",
        type=positive_int,
        default=None,
        help="prompt length cap in tokens; the oldest turns go first (default: the run's, else 512)",
    )
    parser.add_argument("--batch_size", type=positive_int, default=8, help="prompts per generation batch (default 8)")
    add_seed(parser)
    parser.add_argument(
        "--training_judge",
        default=None,
        help="the judge the student was trained with, named in the report (default: read from the run dir)",
    )
    parser.add_argument(
        "--placeholders",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="fill [n] placeholders in the replies from the sample's acts (default: as the run was trained)",
    )
    parser.add_argument(
        "--constrain_placeholders",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --placeholders, decode so that a reply writes each [n] of the acts at most once and no other "
        "(default: as the run was trained)",
    )
    add_judge_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from tracegym.evaluation import EvalConfig, evaluate, write_report
    from tracegym.evaluation.eval import framing_of_flags
    from tracegym.judges import JudgeSettings

    config = EvalConfig(
        eval_jsonl=args.eval_jsonl,
        base_model=args.base_model,
        trained_model_dir=args.trained_model_dir,
        n=args.n,
        judge=JudgeSettings.from_args(args),
        num_samples=args.num_samples,
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens,
        max_prompt_length=args.max_prompt_length,
        batch_size=args.batch_size,
        seed=args.seed,
        training_judge=args.training_judge,
        framing=framing_of_flags(args.placeholders, args.constrain_placeholders),
    )
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
    lines.append("Δ judge score by group:")
    groups = [(f"{g} services", c) for g, c in result.by_seen_unseen.items()]
    groups += [(f"act {a}", c) for a, c in result.by_act_type.items()]
    for label, c in groups:
        lines.append(f"  {label}: Δ {c.delta:+.4f} [{c.ci.low:+.4f}, {c.ci.high:+.4f}] (n={c.n})")
    return lines
