"""`tracegym student`: build a small Gemma-architecture student and its tokenizer from traces, with no hub.

Trains a byte-level BPE tokenizer (digits split one by one, Gemma's turn markers and chat template) on the text of
the samples (system messages, turns, replies) and writes a randomly initialised Gemma-3 text model (tied
embeddings, about 1.7M parameters by default) that `AutoModelForCausalLM.from_pretrained(OUT_DIR)` and
`AutoTokenizer.from_pretrained(OUT_DIR)` load. Warm it up with `tracegym sft`.

    tracegym student --train_jsonl train.jsonl --out_dir student
    tracegym student --out_dir student            # from the bundled SGD sample
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

from tracegym.commands.common import add_options, existing_file
from tracegym.errors import UserError
from tracegym.options import option, values_for
from tracegym.training.student import StudentConfig

SOURCE = "source (one of them; default: the bundled SGD sample)"


@dataclass
class StudentSource:
    """Where the tokenizer's text comes from; the student's shape is `StudentConfig`'s."""

    sgd_root: str | None = option(None, "an SGD clone; its train split is read", group=SOURCE)
    train_jsonl: str | None = option(None, "a samples JSONL made by `tracegym prepare`", group=SOURCE)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_options(parser, StudentSource)
    add_options(
        parser, StudentConfig, exclude=("head_dim", "intermediate_size", "max_position_embeddings", "sliding_window")
    )


def run(args: argparse.Namespace) -> int:
    from tracegym.training.student import build_student, texts_of_samples

    if args.sgd_root is not None and args.train_jsonl is not None:
        raise UserError("give either --sgd_root or --train_jsonl, not both")
    config = values_for(StudentConfig, args)
    summary = build_student(texts_of_samples(_sample_rows(args)), config)
    print(json.dumps(summary.to_dict()))
    return 0


def _sample_rows(args: argparse.Namespace) -> list[dict]:
    """The samples whose text trains the tokenizer: a samples file, an SGD folder, or the bundled sample."""
    from tracegym.samples import read_samples

    if args.train_jsonl:
        return [sample.to_dict() for sample in read_samples(existing_file(args.train_jsonl, "--train_jsonl"))]
    from tracegym.traces.compile import compile_sgd
    from tracegym.traces.sgd import bundled_sgd_root

    root = args.sgd_root or bundled_sgd_root()
    return [sample.to_dict() for sample in compile_sgd(root, "train")]
