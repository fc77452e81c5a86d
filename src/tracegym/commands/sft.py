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

from tracegym.commands.common import add_seed, existing_file, positive_float, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model_name", required=True, help="a folder made by `tracegym student`, or a hub model")
    parser.add_argument("--train_jsonl", required=True, help="samples JSONL (messages or prompt, and ground_truth)")
    parser.add_argument("--output_dir", required=True, help="folder to save the trained model and tokenizer to")
    parser.add_argument("--max_steps", type=positive_int, default=None, help="optimizer steps (default: one epoch)")
    parser.add_argument("--num_train_epochs", type=positive_float, default=1.0, help="passes when --max_steps is unset")
    parser.add_argument(
        "--max_minutes", type=positive_float, default=None, help="wall-clock budget: stop cleanly and save when spent"
    )
    parser.add_argument("--learning_rate", type=positive_float, default=1e-3, help="peak learning rate (default 1e-3)")
    parser.add_argument("--per_device_train_batch_size", type=positive_int, default=16, help="batch size (default 16)")
    parser.add_argument("--max_prompt_length", type=positive_int, default=1024, help="prompt tokens (default 1024)")
    parser.add_argument(
        "--max_completion_length", type=positive_int, default=128, help="reply tokens incl. end of turn (default 128)"
    )
    parser.add_argument("--warmup_ratio", type=float, default=0.05, help="share of steps warming up (default 0.05)")
    parser.add_argument("--logging_steps", type=positive_int, default=10, help="log every N steps (default 10)")
    parser.add_argument("--use_lora", action="store_true", help="train a LoRA adapter (PEFT), save merged weights")
    parser.add_argument(
        "--placeholders",
        action="store_true",
        help="learn replies with [n] placeholders for the act values (samples prepared with --include_acts)",
    )
    parser.add_argument("--lora_r", type=positive_int, default=16, help="LoRA rank (default 16)")
    parser.add_argument("--lora_alpha", type=positive_int, default=32, help="LoRA alpha (default 32)")
    add_seed(parser)


def run(args: argparse.Namespace) -> int:
    from tracegym.training.sft import SFTSettings, run_sft

    existing_file(args.train_jsonl, "--train_jsonl")
    settings = SFTSettings(
        model_name=args.model_name,
        train_jsonl=args.train_jsonl,
        output_dir=args.output_dir,
        max_steps=args.max_steps,
        max_minutes=args.max_minutes,
        num_train_epochs=args.num_train_epochs,
        learning_rate=args.learning_rate,
        per_device_train_batch_size=args.per_device_train_batch_size,
        max_prompt_length=args.max_prompt_length,
        max_completion_length=args.max_completion_length,
        warmup_ratio=args.warmup_ratio,
        logging_steps=args.logging_steps,
        use_lora=args.use_lora,
        placeholders=args.placeholders,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        seed=args.seed,
    )
    result = run_sft(settings)
    print(json.dumps(result.summary()))
    return 0
