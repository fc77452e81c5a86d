"""Split a samples file into train and eval files by dialogue, so that no dialogue is on both sides.

Example:
  tracegym split --in_path samples.jsonl --train_out train.jsonl --eval_out eval.jsonl --eval_fraction 0.1
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from tracegym.commands.common import add_options, existing_file, fraction
from tracegym.errors import UserError
from tracegym.options import option
from tracegym.samples import read_samples, split_by_dialogue, write_jsonl


@dataclass(kw_only=True)
class SplitOptions:
    """`tracegym split`'s flags."""

    in_path: str = option(help="samples JSONL (from `tracegym prepare`)")
    train_out: str = option(help="where to write the train samples", output="file")
    eval_out: str = option(help="where to write the held-out samples", output="file")
    eval_fraction: float = option(0.1, "share of dialogues held out", type=fraction)
    seed: int = option(0, "random seed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_options(parser, SplitOptions)


def run(args: argparse.Namespace) -> int:
    in_path = existing_file(args.in_path, "--in_path")
    if Path(args.train_out).resolve() == Path(args.eval_out).resolve():
        raise UserError("--train_out and --eval_out are the same file; give two different paths")
    rows = [sample.to_dict() for sample in read_samples(in_path)]
    train, held_out = split_by_dialogue(rows, args.eval_fraction, args.seed)
    write_jsonl(args.train_out, train)
    write_jsonl(args.eval_out, held_out)
    dialogues = lambda part: len({row.get("dialogue_id") or row["id"] for row in part})  # noqa: E731
    print(
        f"train: {len(train)} samples from {dialogues(train)} dialogues -> {args.train_out}\n"
        f"eval: {len(held_out)} samples from {dialogues(held_out)} dialogues -> {args.eval_out}",
        file=sys.stdout,
    )
    return 0
