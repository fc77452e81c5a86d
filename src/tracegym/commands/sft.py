"""`tracegym sft`: supervised warm start on prompt → reference reply, with the loss on the reply only.

Renders each sample's messages with the model's chat template, trains on the reference reply followed by the
end-of-turn token (length-bucketed batches, AdamW with warmup + cosine, clipped gradients), and saves the model and
tokenizer to OUTPUT_DIR with sft_log.jsonl (step, loss, tokens/s). A full fine-tune by default; `--use_lora` trains a
LoRA adapter (PEFT) and saves the merged model. Prints a JSON summary on stdout.

    tracegym student --train_jsonl train.jsonl --out_dir student
    tracegym sft --model_name student --train_jsonl train.jsonl --output_dir sft --max_minutes 5
"""

from __future__ import annotations

import argparse
import json

from tracegym.commands.common import add_options, existing_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tracegym.training.sft import SFTSettings

    add_options(parser, SFTSettings)


def run(args: argparse.Namespace) -> int:
    from tracegym.options import values_for
    from tracegym.training.sft import SFTSettings, run_sft

    existing_file(args.train_jsonl, "--train_jsonl")
    result = run_sft(values_for(SFTSettings, args))
    print(json.dumps(result.summary()))
    return 0
