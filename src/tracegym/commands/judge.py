"""Score the `response` of each sample with a judge; write the samples back with `score` and `judge`.

    tracegym judge --in_path replies.jsonl --out_path scored.jsonl --judge acts
    tracegym judge --in_path replies.jsonl --out_path scored.jsonl --judge gemini+acts --judge_weights 0.7,0.3 \\
        --cache verdicts.sqlite --max_judge_cost_usd 2

`score` is a float in [0, 1], or null when the judge failed on that reply; `judge` is the judge's fingerprint.
A summary (n, mean, failures, guarded, cache hits, calls, tokens, cost) goes to stdout; `guarded` counts the replies
an LLM judge's guard scored 0 without a call (text aimed at the grader, or no content: ":", "Solution", ...),
and each such record also gets a `guard` field with the reason.

Budget: --max_judge_calls and --max_judge_cost_usd cap what this run spends (cache hits are free and do not
count; a judge that makes no requests, such as acts, counts one call per reply). Costs come from a per-model
price table (USD per 1M tokens), overridable with a JSON or YAML file named in $TRACEGYM_PRICES. At a cap the
command stops with exit 3 and writes no output; the verdicts paid for are in the --cache, so re-running the same
command resumes where it stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracegym.commands.common import add_judge_arguments, add_options, positive_int
from tracegym.errors import BudgetExceeded, UserError
from tracegym.options import option
from tracegym.samples import Sample, iter_jsonl, write_jsonl


@dataclass(kw_only=True)
class JudgeCommandOptions:
    """`tracegym judge`'s own flags; the judge's come from `JudgeSettings`."""

    in_path: str = option(help="samples JSONL, each with a `response` string")
    out_path: str = option(help="where to write the samples with `score` and `judge`", output="file")
    batch_size: int = option(64, "replies handed to the judge at once", type=positive_int)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_options(parser, JudgeCommandOptions)
    add_judge_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from tracegym.judges import JudgeSettings, build_judge
    from tracegym.judges.budget import Ledger

    rows, samples = read_judge_input(args.in_path)
    settings = JudgeSettings.from_args(args)
    judge = build_judge(settings)
    responses = [sample.response for sample in samples]
    try:
        verdicts = asyncio.run(score_in_batches(judge, samples, responses, args.batch_size))
    except BudgetExceeded as stop:
        raise BudgetExceeded(f"{stop}; {args.out_path} not written; {resume_hint(settings.cache)}") from None
    write_jsonl(args.out_path, scored_rows(rows, verdicts, judge.fingerprint))
    ledger = Ledger()
    ledger.add(verdicts)
    print(summary(ledger, verdicts, judge.fingerprint, args.out_path))
    warn_about_failures(verdicts)
    return 0


def read_judge_input(path: str) -> tuple[list[dict[str, Any]], list[Sample]]:
    """The raw rows (to write back unchanged) and their samples; every record must carry a `response` string."""
    rows = list(iter_jsonl(path))
    if not rows:
        raise UserError(f"--in_path {path}: no samples in the file; give samples that carry a `response`")
    samples = []
    for index, row in enumerate(rows):
        where = f"--in_path {path}: record {index}"
        sample = Sample.from_dict(row, where=where)
        if "response" not in row:
            raise UserError(f"{where}: no `response` field; add the reply to judge as a string field `response`")
        if not isinstance(row["response"], str):
            raise UserError(
                f"{where}: `response` is {type(row['response']).__name__}, expected a string; write the reply as text"
            )
        samples.append(sample)
    return rows, samples


async def score_in_batches(judge: Any, samples: Sequence[Sample], responses: Sequence[str], batch_size: int) -> list:
    """All verdicts, batch after batch, with a progress bar on stderr."""
    from tqdm import tqdm

    verdicts = []
    with tqdm(total=len(samples), desc="judging", unit="reply", file=sys.stderr) as progress:
        for start in range(0, len(samples), batch_size):
            batch = await judge.score(samples[start : start + batch_size], responses[start : start + batch_size])
            verdicts.extend(batch)
            progress.update(len(batch))
    return verdicts


def scored_rows(rows: Sequence[dict[str, Any]], verdicts: Sequence, fingerprint: str) -> list[dict[str, Any]]:
    from tracegym.judges.guard import is_guarded

    scored = []
    for row, verdict in zip(rows, verdicts):
        record = {**row, "score": verdict.score, "judge": fingerprint}
        if is_guarded(verdict):
            record["guard"] = guard_reason_of(verdict)
        scored.append(record)
    return scored


def guard_reason_of(verdict: Any) -> str:
    """The guard's reason in a guarded verdict's reasoning (`guard: why`, or `name: guard: why` in a mixture)."""
    for line in (verdict.reasoning or "").splitlines():
        _, found, reason = line.partition("guard: ")
        if found:
            return reason
    return "guarded"


def summary(ledger: Any, verdicts: Sequence, fingerprint: str, out_path: str) -> str:
    scores = [verdict.score for verdict in verdicts if verdict.score is not None]
    mean = f"{sum(scores) / len(scores):.4f}" if scores else "n/a"
    return "\n".join(
        [
            f"judge: {fingerprint}",
            f"out_path: {out_path}",
            f"n: {ledger.replies}",
            f"mean: {mean}",
            f"failures: {ledger.failures}",
            f"guarded: {ledger.guarded}",
            f"cache_hits: {ledger.cache_hits}",
            f"calls: {ledger.calls}",
            f"input_tokens: {ledger.input_tokens}",
            f"output_tokens: {ledger.output_tokens}",
            f"cost_usd: {ledger.cost_usd:.6f}",
        ]
    )


def warn_about_failures(verdicts: Sequence) -> None:
    failed = [verdict for verdict in verdicts if verdict.score is None]
    if failed:
        print(
            f"warning: the judge failed on {len(failed)} of {len(verdicts)} replies (score null); "
            f"first error: {failed[0].error or 'unknown'}",
            file=sys.stderr,
        )


def resume_hint(cache: str | None) -> str:
    if cache:
        return f"the verdicts paid for are saved in --cache {Path(cache)}; re-run the same command to resume"
    return "add --cache PATH to keep paid verdicts, so that a re-run resumes instead of starting over"
