"""`tracegym rubrics`: a teacher model writes a checkable rubric for each sample, cached and resumable.

    tracegym rubrics --in_path dev.jsonl --out_path dev.rubrics.jsonl --teacher gemini

Each rubric has 5–15 items tagged essential / important / optional / pitfall (Rubrics as Rewards), grounded in the
reference reply, its dialogue acts and the service schema; judges use it when they score replies. Written rubrics
are kept in the SQLite file of --cache (default: <out_path>.cache.sqlite), so a re-run after a stop asks the
teacher only for the missing ones. A sample whose rubric could not be written keeps its old rubric.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from tracegym.commands.common import add_judge_arguments, add_options, existing_file
from tracegym.options import option


@dataclass(kw_only=True)
class RubricsOptions:
    """`tracegym rubrics`'s own flags; the teacher's come from `JudgeSettings` (`--teacher` is `--judge`)."""

    in_path: str = option(help="samples JSONL (from `tracegym prepare`)")
    out_path: str = option(help="where to write the samples with their rubrics", output="file")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_options(parser, RubricsOptions)
    parser.add_argument(
        "--teacher",
        dest="judge",
        metavar="NAME",
        default=argparse.SUPPRESS,
        help="the LLM that writes the rubrics: gemini or openai (same as --judge here)",
    )
    add_judge_arguments(parser, defaults={"judge": None})


def run(args: argparse.Namespace) -> int:
    from tracegym.errors import UserError
    from tracegym.judges import JudgeSettings, judge_names
    from tracegym.judges.rubric_writer import run_rubric_writer
    from tracegym.samples import read_samples, write_jsonl

    if not args.judge:
        raise UserError("give --teacher NAME: the LLM that writes the rubrics (gemini or openai)")
    judge_names(args.judge)  # an unknown teacher is reported before the output folder is made
    samples = read_samples(existing_file(args.in_path, "--in_path"))
    settings = JudgeSettings.from_args(args)
    if not settings.cache:
        Path(args.out_path).parent.mkdir(parents=True, exist_ok=True)
        settings.cache = str(Path(args.out_path).with_name(Path(args.out_path).name + ".cache.sqlite"))
    result = run_rubric_writer(samples, settings)
    write_jsonl(args.out_path, result.samples)
    print(f"n: {len(samples)}")
    print(f"written: {result.written}")
    print(f"from_cache: {result.from_cache}")
    print(f"failures: {len(result.failures)}")
    print(f"calls: {result.usage.calls}")
    print(f"input_tokens: {result.usage.input_tokens}")
    print(f"output_tokens: {result.usage.output_tokens}")
    print(f"cost_usd: {result.usage.cost_usd:.4f}")
    print(f"cache: {settings.cache}")
    if result.failures:
        import sys

        print(f"first failure: {result.failures[0]}", file=sys.stderr)
    return 0
