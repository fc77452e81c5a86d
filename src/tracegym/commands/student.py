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

from tracegym.commands.common import add_seed, existing_file, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--sgd_root", default=None, help="an SGD clone; its train split is read (default: the bundled SGD sample)"
    )
    source.add_argument("--train_jsonl", default=None, help="a samples JSONL made by `tracegym prepare`")
    parser.add_argument("--out_dir", required=True, help="folder to write the model and tokenizer to")
    parser.add_argument("--vocab_size", type=positive_int, default=6000, help="BPE vocabulary size (default 6000)")
    parser.add_argument("--hidden_size", type=positive_int, default=128, help="model width (default 128)")
    parser.add_argument("--num_layers", type=positive_int, default=4, help="decoder layers (default 4)")
    parser.add_argument("--num_heads", type=positive_int, default=4, help="attention heads (default 4)")
    parser.add_argument("--num_kv_heads", type=positive_int, default=1, help="key/value heads (default 1)")
    parser.add_argument(
        "--placeholder_tokens",
        type=int,
        default=0,
        metavar="N",
        help="make the value placeholders [1] … [N] one token each, for a student trained with --placeholders (default 0)",
    )
    add_seed(parser)


def run(args: argparse.Namespace) -> int:
    from tracegym.training.student import StudentConfig, build_student, texts_of_samples

    config = StudentConfig(
        out_dir=args.out_dir,
        vocab_size=args.vocab_size,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        num_heads=args.num_heads,
        num_kv_heads=args.num_kv_heads,
        placeholder_tokens=args.placeholder_tokens,
        seed=args.seed,
    )
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
