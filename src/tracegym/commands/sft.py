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

from tracegym.commands.common import add_options, existing_file, positive_float, positive_int

# SFTSettings (training/sft.py) declares the flags' defaults; the help text and the checking types are here.
SFT_FLAGS: dict[str, dict] = {
    "model_name": {"help": "a folder made by `tracegym student`, or a hub model"},
    "train_jsonl": {"help": "samples JSONL (messages or prompt, and ground_truth)"},
    "output_dir": {"help": "folder to save the trained model and tokenizer to", "output": "dir"},
    "max_steps": {"help": "optimizer steps (default: one epoch)", "type": positive_int},
    "num_train_epochs": {"help": "passes when --max_steps is unset", "type": positive_float},
    "max_minutes": {"help": "wall-clock budget: stop cleanly and save when spent", "type": positive_float},
    "learning_rate": {"help": "peak learning rate", "type": positive_float},
    "per_device_train_batch_size": {"help": "batch size", "type": positive_int},
    "max_prompt_length": {"help": "prompt tokens", "type": positive_int},
    "max_completion_length": {"help": "reply tokens incl. end of turn", "type": positive_int},
    "warmup_ratio": {"help": "share of steps warming up"},
    "logging_steps": {"help": "log every N steps", "type": positive_int},
    "use_lora": {"help": "train a LoRA adapter (PEFT), save merged weights"},
    "placeholders": {
        "help": "learn replies with [n] placeholders for the act values (samples prepared with --include_acts)"
    },
    "lora_r": {"help": "LoRA rank", "type": positive_int},
    "lora_alpha": {"help": "LoRA alpha", "type": positive_int},
    "seed": {"help": "random seed"},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tracegym.training.sft import SFTSettings

    add_options(parser, SFTSettings, include=SFT_FLAGS, metadata=SFT_FLAGS)


def run(args: argparse.Namespace) -> int:
    from tracegym.options import values_for
    from tracegym.training.sft import SFTSettings, run_sft

    existing_file(args.train_jsonl, "--train_jsonl")
    result = run_sft(values_for(SFTSettings, args))
    print(json.dumps(result.summary()))
    return 0
