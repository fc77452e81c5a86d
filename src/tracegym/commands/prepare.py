"""Turn dialogue traces into samples JSONL: one sample per system (assistant) turn.

Examples:
  tracegym prepare --out_path train.jsonl                                   # the bundled SGD sample, train split
  tracegym prepare --sgd_root ../shared/data/sgd --split dev --out_path dev.jsonl
  tracegym prepare --traces logs.jsonl --format chat --out_path chat.jsonl  # your own OpenAI-format chat logs

Each SGD sample's system message carries the service schema, today's date, the service calls and results so far
and the transaction status, so the reference reply is answerable (DESIGN.md §4). The rubric is compiled offline
from the reference turn's dialogue acts unless --with_rubric asks a teacher.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tracegym.commands.common import add_seed, positive_int
from tracegym.errors import UserError
from tracegym.samples import Sample, write_jsonl


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group("traces")
    source.add_argument(
        "--sgd_root", default=None, help="an SGD clone (train/ dev/ test/ folders); default: the bundled sample"
    )
    source.add_argument(
        "--split", choices=("train", "dev", "test"), default="train", help="SGD split to read (default train)"
    )
    source.add_argument("--traces", default=None, help="a chat-log file (JSONL or a JSON array) instead of SGD")
    source.add_argument("--format", choices=("chat",), default=None, help="format of --traces: chat (OpenAI messages)")
    parser.add_argument("--out_path", required=True, help="where to write the samples JSONL")
    parser.add_argument(
        "--context_turns", type=positive_int, default=None, help="keep only the last N turns of history (default all)"
    )
    parser.add_argument("--max_dialogues", type=positive_int, default=None, help="keep N dialogues, chosen by --seed")
    parser.add_argument("--max_samples", type=positive_int, default=None, help="stop after N samples")
    parser.add_argument(
        "--services", default=None, help="comma list of SGD services to keep, e.g. Restaurants_2,Alarm_1"
    )
    parser.add_argument(
        "--include_acts", action="store_true", help="act-conditioned mode: give the reference acts in the prompt"
    )
    parser.add_argument("--with_rubric", action="store_true", help="a teacher writes each rubric (needs --teacher)")
    parser.add_argument("--teacher", default=None, help="the teacher for --with_rubric (an LLM judge: gemini, openai)")
    parser.add_argument("--teacher_model", default=None, help="the teacher's model (default: the backend's own)")
    parser.add_argument("--base_url", default=None, help="OpenAI-compatible server for --teacher openai")
    parser.add_argument(
        "--cache",
        default=None,
        help="SQLite cache of written rubrics, so a re-run resumes (default <out_path>.cache.sqlite)",
    )
    add_seed(parser)


def run(args: argparse.Namespace) -> int:
    if args.with_rubric and not args.teacher:
        raise UserError("--with_rubric needs --teacher NAME (gemini, openai or hf)")
    if args.traces is not None and args.format != "chat":
        raise UserError("--traces needs --format chat (the only trace format besides SGD)")
    if args.traces is not None and args.sgd_root is not None:
        raise UserError("give either --sgd_root or --traces, not both")
    samples = _chat_samples(args) if args.traces is not None else _sgd_samples(args)
    if args.with_rubric:
        samples = with_teacher_rubrics(samples, args)
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
    from tracegym.traces.sgd import bundled_sgd_root

    services = frozenset(name.strip() for name in args.services.split(",") if name.strip()) if args.services else None
    options = CompileOptions(
        context_turns=args.context_turns,
        max_dialogues=args.max_dialogues,
        max_samples=args.max_samples,
        services=services,
        seed=args.seed,
        include_acts=args.include_acts,
    )
    root = Path(args.sgd_root) if args.sgd_root is not None else bundled_sgd_root()
    return _with_progress(compile_sgd(root, args.split, options), f"prepare {args.split}")


def _chat_samples(args: argparse.Namespace) -> Iterator[Sample]:
    import random

    from tracegym.traces.chat import read_chat_traces

    if args.services or args.include_acts:
        raise UserError("--services and --include_acts apply to SGD only; leave them out with --traces")
    samples = read_chat_traces(args.traces, split=args.split, context_turns=args.context_turns)
    if args.max_dialogues is not None:
        dialogue_ids = sorted({sample.dialogue_id for sample in samples})
        kept = set(random.Random(args.seed).sample(dialogue_ids, min(args.max_dialogues, len(dialogue_ids))))
        samples = [sample for sample in samples if sample.dialogue_id in kept]
    return iter(samples[: args.max_samples])


def with_teacher_rubrics(samples: Iterable[Sample], args: argparse.Namespace) -> list[Sample]:
    """The samples with rubrics a teacher wrote (`--with_rubric --teacher NAME`), cached and resumable."""
    from tracegym.judges import JudgeSettings
    from tracegym.judges.rubric_writer import write_rubrics

    settings = JudgeSettings(
        judge=args.teacher,
        judge_model=args.teacher_model,
        base_url=args.base_url,
        cache=args.cache or f"{args.out_path}.cache.sqlite",
    )
    return write_rubrics(list(samples), settings)


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
