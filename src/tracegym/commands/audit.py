"""Audit a judge: how often do replies that game it (master keys, injections, forged verdicts, swapped values)
score ≥ 0.5?

    tracegym audit --judge acts
    tracegym audit --judge gemini --n 50 --out_path audit.json --fail_above 0.02

Scores one reply per attack on each of --n prompts whose reference carries checkable content (default: the
bundled SGD sample's dev split), prints the false-positive rate per attack, and for LLM judges the test-retest
consistency with the cache bypassed. Exits 0 after reporting; with --fail_above RATE, exits 1 when any attack's
rate is above RATE (for CI).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from tracegym.commands.common import add_judge_arguments, add_seed, existing_file, non_negative_int, positive_int

DETERMINISTIC_JUDGES = frozenset({"acts"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--in_path",
        default=None,
        help="samples JSONL from `tracegym prepare` (default: the bundled SGD sample's dev split)",
    )
    parser.add_argument("--n", type=positive_int, default=50, help="prompts to attack (default 50)")
    parser.add_argument("--out_path", default=None, help="write the full report as JSON here")
    parser.add_argument(
        "--fail_above",
        type=_rate,
        default=None,
        help="exit 1 when any attack's false-positive rate is above RATE, e.g. 0.02 (default: always exit 0)",
    )
    parser.add_argument(
        "--retest_n",
        type=non_negative_int,
        default=100,
        help="LLM judges: inputs scored twice more with the cache bypassed, for test-retest consistency "
        "(default 100; 0 skips it; deterministic judges skip it)",
    )
    add_seed(parser)
    add_judge_arguments(parser, default_judge=None)


def run(args: argparse.Namespace) -> int:
    from tracegym.audit import ATTACKS, audit_items, format_table, select_audit_items
    from tracegym.errors import UserError
    from tracegym.judges import JudgeSettings, build_judge
    from tracegym.samples import write_json

    if not args.judge:
        raise UserError("--judge is required: name the judge to audit, e.g. --judge acts or --judge gemini")
    items = select_audit_items(_audit_samples(args.in_path), args.n, args.seed)
    settings = JudgeSettings.from_args(args)
    judge = build_judge(settings)
    retest_judge = None
    if args.retest_n > 0 and not _is_deterministic(settings.judge):
        retest_judge = build_judge(dataclasses.replace(settings, cache=None))
    replies = len(items) * (len(ATTACKS) + 1)
    print(f"auditing judge {settings.judge}: {replies} replies on {len(items)} prompts ...", file=sys.stderr)
    report = audit_items(judge, items, seed=args.seed, retest_judge=retest_judge, retest_n=args.retest_n)
    if args.out_path:
        write_json(args.out_path, report.to_dict())
    print(format_table(report))
    if args.fail_above is not None:
        above = report.attacks_above(args.fail_above)
        if above:
            names = ", ".join(f"{r.attack} {r.false_positive_rate:.1%}" for r in above)
            print(f"audit failed: above {args.fail_above:.1%}: {names}", file=sys.stderr)
            return 1
    return 0


def _audit_samples(in_path: str | None):
    from tracegym.samples import read_samples

    if in_path:
        return read_samples(existing_file(in_path, "--in_path"))
    return bundled_dev_samples()


def bundled_dev_samples():
    """The bundled SGD sample's dev split, compiled in-process."""
    from tracegym.traces.compile import compile_sgd
    from tracegym.traces.sgd import bundled_sgd_root

    return list(compile_sgd(bundled_sgd_root(), "dev"))


def _is_deterministic(judge_spec: str) -> bool:
    return all(name.strip() in DETERMINISTIC_JUDGES for name in judge_spec.split("+") if name.strip())


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a rate in [0, 1), e.g. 0.02")
    return value
