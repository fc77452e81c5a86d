"""Audit a judge: the share of replies that game it which still score ≥ 0.5, attack by attack.

Attacks: master keys, injections, forged verdicts, swapped values and more (`tracegym.audit`).

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
from dataclasses import dataclass

from tracegym.commands.common import (
    add_judge_arguments,
    add_options,
    existing_file,
    non_negative_int,
    positive_int,
    rate,
)
from tracegym.options import option

DETERMINISTIC_JUDGES = frozenset({"acts", "similarity"})


@dataclass(kw_only=True)
class AuditOptions:
    """`tracegym audit`'s own flags; the audited judge's come from `JudgeSettings` (no default judge here)."""

    in_path: str | None = option(
        None, "samples JSONL from `tracegym prepare` (default: the bundled SGD sample's dev split)"
    )
    n: int = option(50, "prompts to attack", type=positive_int)
    out_path: str | None = option(None, "write the full report as JSON here", output="file")
    fail_above: float | None = option(
        None,
        "exit 1 when any attack's false-positive rate is above RATE, e.g. 0.02 (default: always exit 0)",
        type=rate,
    )
    retest_n: int = option(
        100,
        "LLM judges: inputs scored twice more with the cache bypassed, for test-retest consistency "
        "(0 skips it; deterministic judges skip it)",
        type=non_negative_int,
    )
    seed: int = option(0, "random seed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_options(parser, AuditOptions)
    add_judge_arguments(parser, defaults={"judge": None})


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
