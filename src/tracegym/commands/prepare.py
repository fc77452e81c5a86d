"""Turn dialogue traces into samples JSONL: one sample per system (assistant) turn.

Examples:
  tracegym prepare --out_path train.jsonl                                   # the bundled SGD sample, train split
  tracegym prepare --sgd_root ../shared/data/sgd --split dev --out_path dev.jsonl
  tracegym prepare --traces logs.jsonl --format chat --out_path chat.jsonl  # your own OpenAI-format chat logs

Each SGD sample's system message carries the service schema, today's date, the service calls and results so far
and the transaction status, so the reference reply is answerable (DESIGN.md §4). The rubric is compiled offline
from the reference turn's dialogue acts (`rubric_writer: "offline"`) unless --with_rubric asks a teacher (Gemini
unless --teacher says otherwise; its rubrics say `rubric_writer: "gemini:<model>:<prompt>"`). The teacher's
failures are counted on stderr; past --max_rubric_failures the command stops with exit 3 without writing
--out_path, the rubrics written kept in --cache, and the same command resumes.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracegym.commands.common import add_options, positive_int
from tracegym.commands.rubrics import max_rubric_failures_option, print_rubric_summary
from tracegym.errors import UserError
from tracegym.options import option
from tracegym.samples import Sample, write_jsonl

if TYPE_CHECKING:
    from tracegym.judges import JudgeSettings
    from tracegym.judges.llm import LLMJudge

TRACES = "traces"


@dataclass(kw_only=True)
class PrepareOptions:
    """`tracegym prepare`'s flags."""

    sgd_root: str | None = option(
        None, "an SGD clone (train/ dev/ test/ folders); default: the bundled sample", group=TRACES
    )
    seen_in: str | None = option(
        None,
        "the SGD root whose train split decides which services count as seen (default: --sgd_root's, or the "
        "bundled sample's)",
        group=TRACES,
    )
    split: str = option("train", "SGD split to read", choices=("train", "dev", "test"), group=TRACES)
    traces: str | None = option(None, "a chat-log file (JSONL or a JSON array) instead of SGD", group=TRACES)
    format: str | None = option(None, "format of --traces: chat (OpenAI messages)", choices=("chat",), group=TRACES)
    out_path: str = option(help="where to write the samples JSONL", output="file")
    context_turns: int | None = option(None, "keep only the last N turns of history (default all)", type=positive_int)
    max_dialogues: int | None = option(None, "keep N dialogues, chosen by --seed", type=positive_int)
    max_samples: int | None = option(None, "stop after N samples", type=positive_int)
    services: str | None = option(None, "comma list of SGD services to keep, e.g. Restaurants_2,Alarm_1")
    include_acts: bool = option(False, "act-conditioned mode: give the reference acts in the prompt")
    compact: bool = option(
        False,
        "with --include_acts: the prompt is only the service, the intent, the acts and the last user turn "
        "(more with --context_turns); for a small student with a short prompt budget",
    )
    with_rubric: bool = option(False, "a teacher (--teacher) writes each rubric instead of compiling it from the acts")
    teacher: str = option("gemini", "the teacher for --with_rubric, an LLM judge: gemini or openai")
    teacher_model: str | None = option(None, "the teacher's model (default: the backend's own)")
    base_url: str | None = option(
        None,
        "the teacher's server: OpenAI-compatible for openai, a Gemini endpoint for gemini (default $OPENAI_BASE_URL, "
        "$GEMINI_BASE_URL)",
    )
    cache: str | None = option(
        None, "SQLite cache of written rubrics, so a re-run resumes (default <out_path>.cache.sqlite)", output="file"
    )
    max_rubric_failures: float = max_rubric_failures_option()
    seed: int = option(0, "random seed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_options(parser, PrepareOptions)


def run(args: argparse.Namespace) -> int:
    if args.traces is not None and args.format != "chat":
        raise UserError("--traces needs --format chat (the only trace format besides SGD)")
    if args.traces is not None and args.sgd_root is not None:
        raise UserError("give either --sgd_root or --traces, not both")
    teacher = rubric_teacher(args) if args.with_rubric else None  # a missing key is reported before any work
    samples = _chat_samples(args) if args.traces is not None else _sgd_samples(args)
    if teacher is not None:
        samples = with_teacher_rubrics(samples, args, teacher)
    samples = iter(samples)
    first = next(samples, None)
    if first is None:
        raise UserError("no samples to write (the filters left nothing); loosen --services or --max_* and rerun")
    dialogue_ids: set[str] = set()
    count = write_jsonl(args.out_path, _noting_dialogues(itertools.chain([first], samples), dialogue_ids))
    print(f"{count} samples from {len(dialogue_ids)} dialogues -> {args.out_path}")
    return 0


def _sgd_samples(args: argparse.Namespace) -> Iterator[Sample]:
    from tracegym.traces.compile import CompileOptions, compile_sgd
    from tracegym.traces.sgd import bundled_sgd_root, read_schema

    if args.seen_in is not None and not (Path(args.seen_in) / "train" / "schema.json").is_file():
        raise UserError(
            f"--seen_in {args.seen_in}: no train/schema.json there; give an SGD root that has a train split"
        )
    services = frozenset(name.strip() for name in args.services.split(",") if name.strip()) if args.services else None
    options = CompileOptions(
        context_turns=args.context_turns,
        max_dialogues=args.max_dialogues,
        max_samples=args.max_samples,
        services=services,
        seed=args.seed,
        include_acts=args.include_acts,
        compact=args.compact,
        seen_services=frozenset(read_schema(Path(args.seen_in), "train")) if args.seen_in else None,
    )
    root = Path(args.sgd_root) if args.sgd_root is not None else bundled_sgd_root()
    return _with_progress(compile_sgd(root, args.split, options), f"prepare {args.split}")


def _chat_samples(args: argparse.Namespace) -> Iterator[Sample]:
    import random

    from tracegym.traces.chat import read_chat_traces

    if args.services or args.include_acts or args.compact or args.seen_in:
        raise UserError(
            "--services, --include_acts, --compact and --seen_in apply to SGD only; leave them out with --traces"
        )
    samples = read_chat_traces(args.traces, split=args.split, context_turns=args.context_turns)
    if args.max_dialogues is not None:
        dialogue_ids = sorted({sample.dialogue_id for sample in samples})
        kept = set(random.Random(args.seed).sample(dialogue_ids, min(args.max_dialogues, len(dialogue_ids))))
        samples = [sample for sample in samples if sample.dialogue_id in kept]
    return iter(samples[: args.max_samples])


def teacher_settings(args: argparse.Namespace) -> JudgeSettings:
    """The `JudgeSettings` of the teacher that `--with_rubric` asks."""
    from tracegym.judges import JudgeSettings

    return JudgeSettings(
        judge=args.teacher,
        judge_model=args.teacher_model,
        base_url=args.base_url,
        cache=args.cache or f"{args.out_path}.cache.sqlite",
    )


def rubric_teacher(args: argparse.Namespace) -> LLMJudge:
    """The teacher `--with_rubric` asks, built (its key checked) before any sample is read."""
    from tracegym.judges import judge_names
    from tracegym.judges.rubric_writer import teacher_from_settings

    judge_names(args.teacher)
    return teacher_from_settings(teacher_settings(args))


def with_teacher_rubrics(samples: Iterable[Sample], args: argparse.Namespace, teacher: LLMJudge) -> list[Sample]:
    """The samples with rubrics a teacher wrote (`--with_rubric`), cached and resumable; past
    --max_rubric_failures a clean stop (exit 3) before --out_path is written."""
    from tracegym.judges.rubric_writer import check_failures, run_rubric_writer

    settings = teacher_settings(args)
    result = run_rubric_writer(list(samples), settings, max_failures=args.max_rubric_failures, teacher=teacher)
    check_failures(result, args.out_path, settings.cache)
    print_rubric_summary(result)
    return result.samples


def _noting_dialogues(samples: Iterable[Sample], dialogue_ids: set[str]) -> Iterator[dict[str, Any]]:
    for sample in samples:
        dialogue_ids.add(sample.dialogue_id)
        yield sample.to_dict()


def _with_progress(samples: Iterator[Sample], label: str) -> Iterator[Sample]:
    from tqdm import tqdm

    # disable=None: no bar when stderr is not a terminal, so an error stays the only line there.
    bar = tqdm(
        samples, desc=label, unit=" samples", file=sys.stderr, mininterval=0.5, delay=0.5, leave=False, disable=None
    )
    return iter(bar)
