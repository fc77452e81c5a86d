"""`tracegym rubrics`: a teacher model writes a checkable rubric for each sample, cached and resumable.

    tracegym rubrics --in_path dev.jsonl --out_path dev.rubrics.jsonl --teacher gemini

Each rubric has 5–15 items tagged essential / important / optional / pitfall (Rubrics as Rewards), grounded in the
reference reply, its dialogue acts and the service schema; judges use it when they score replies. Written rubrics
are kept in the SQLite file of --cache (default: <out_path>.cache.sqlite), so a re-run after a stop asks the
teacher only for the missing ones. Each record's `rubric_writer` says who wrote its rubric (the teacher's
backend:model:prompt, or "offline": compiled from the acts). A sample whose rubric could not be written (an answer
that is not a rubric after one repair request, or an API error after the retries) keeps its old rubric and writer;
the failures are counted on stderr, and past --max_rubric_failures the command stops with exit 3 without writing
--out_path: the rubrics written are in the cache, and the same command resumes.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tracegym.commands.common import add_judge_arguments, add_options, existing_file
from tracegym.options import option, rate

if TYPE_CHECKING:
    from tracegym.judges.rubric_writer import RubricRun

# The share of samples whose rubric may fail before a run stops (exit 3). A working teacher almost never fails:
# API errors are retried and a malformed answer gets one repair request, so its failures are a handful of odd
# samples (2% lets 20 of 1,000 keep their offline rubric); a broken endpoint, model or prompt fails most of them,
# and the run then stops early instead of paying for every sample and writing a file of offline rubrics.
MAX_RUBRIC_FAILURES = 0.02
MAX_RUBRIC_FAILURES_HELP = (
    "the share of samples whose rubric may fail (kept their old rubric) before the command stops with exit 3, "
    "--out_path not written, the rubrics written kept in the cache for a re-run; e.g. 0.1, or 0 to allow none"
)


def max_rubric_failures_option() -> float:
    """The `--max_rubric_failures` flag, declared the same in `rubrics` and `prepare --with_rubric`."""
    return option(MAX_RUBRIC_FAILURES, MAX_RUBRIC_FAILURES_HELP, type=rate)


@dataclass(kw_only=True)
class RubricsOptions:
    """`tracegym rubrics`'s own flags; the teacher's come from `JudgeSettings` (`--teacher` is `--judge`)."""

    in_path: str = option(help="samples JSONL (from `tracegym prepare`)")
    out_path: str = option(help="where to write the samples with their rubrics", output="file")
    max_rubric_failures: float = max_rubric_failures_option()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_options(parser, RubricsOptions)
    parser.add_argument(
        "--teacher",
        dest="judge",
        metavar="NAME",
        default=argparse.SUPPRESS,
        help="the LLM that writes the rubrics: gemini or openai (same as --judge here)",
    )
    # The teacher's own caps are --max_rubric_failures and the cache; a call or dollar budget is not counted here,
    # so its flags are left out rather than accepted and ignored.
    add_judge_arguments(
        parser,
        defaults={"judge": None},
        exclude=("max_judge_calls", "max_judge_cost_usd", "judge_weights", "similarity_metric", "fluency_corpus"),
    )


def run(args: argparse.Namespace) -> int:
    from tracegym.errors import UserError
    from tracegym.judges import JudgeSettings, judge_names
    from tracegym.judges.rubric_writer import check_failures, run_rubric_writer, teacher_from_settings
    from tracegym.samples import read_samples, write_jsonl

    if not args.judge:
        raise UserError("give --teacher NAME: the LLM that writes the rubrics (gemini or openai)")
    judge_names(args.judge)  # an unknown teacher is reported before the output folder is made
    samples = read_samples(existing_file(args.in_path, "--in_path"))
    settings = JudgeSettings.from_args(args)
    teacher = teacher_from_settings(settings)  # a missing key is reported before any work
    if not settings.cache:
        Path(args.out_path).parent.mkdir(parents=True, exist_ok=True)
        settings.cache = str(Path(args.out_path).with_name(Path(args.out_path).name + ".cache.sqlite"))
    result = run_rubric_writer(samples, settings, max_failures=args.max_rubric_failures, teacher=teacher)
    check_failures(result, args.out_path, settings.cache)
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
    print_rubric_summary(result)
    return 0


def print_rubric_summary(result: RubricRun) -> None:
    """The run's one-line account on stderr, and the first failure's reason when some failed."""
    import sys

    print(result.summary(), file=sys.stderr)
    if result.failures:
        print(f"first failure: {result.failures[0]}", file=sys.stderr)
