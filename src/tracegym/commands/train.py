"""GRPO with TRL, the judge as reward, LoRA or full fine-tune; writes a run directory.

Examples:
  tracegym train --train_jsonl train.jsonl --model_name student_sft --use_lora --output_dir runs/grpo
  tracegym train --config recipe.yaml --max_steps 100          # flags override the file
  tracegym train ... --judge gemini+acts --judge_weights 0.7,0.3 --cache verdicts.sqlite
  tracegym train ... --reward_funcs my_pkg.rewards:brevity --reward_weights 1.0,0.2
  tracegym train ... --resume_from_checkpoint last
  accelerate launch --num_processes 2 --cpu -m tracegym train ...   # only rank 0 writes

--config takes a YAML file of flat keys: any field of TRL's GRPOConfig (beta, temperature, loss_type, use_vllm,
deepspeed, fsdp, ...), of PEFT's LoraConfig (r, lora_alpha, target_modules, ...), or of the flags below.
The run directory holds adapter/ or model/, config.yaml (+ sha256), log.jsonl, TensorBoard events (runs/),
checkpoint-*/ and a model card (README.md). Results (a JSON summary) go to stdout; progress to stderr.
"""

from __future__ import annotations

import argparse
import json

from tracegym.commands.common import add_judge_arguments, add_seed, positive_float, positive_int
from tracegym.judges import JudgeSettings
from tracegym.training.config import GRPO_DEFAULTS, TrainOptions, parse_weights


def add_arguments(parser: argparse.ArgumentParser) -> None:
    helps = {name: f.metadata.get("help", "") for name, f in TrainOptions.__dataclass_fields__.items()}
    parser.add_argument("--config", default=None, help="a YAML recipe (GRPOConfig, LoraConfig and tracegym keys)")
    parser.add_argument("--train_jsonl", default=None, help=helps["train_jsonl"])
    parser.add_argument("--model_name", default=None, help=helps["model_name"])
    parser.add_argument("--output_dir", default=None, help="the run directory to write")
    parser.add_argument("--use_lora", action="store_true", default=None, help=helps["use_lora"])
    parser.add_argument("--merge", action="store_true", default=None, help=helps["merge"])
    parser.add_argument(
        "--max_prompt_length", type=positive_int, default=None, help=f"{helps['max_prompt_length']} (default 512)"
    )
    grpo = parser.add_argument_group("GRPO (TRL's GRPOConfig; defaults sized for the CPU demo)")
    for name, kind, text in (
        ("max_steps", positive_int, "optimizer steps"),
        ("learning_rate", positive_float, "learning rate"),
        ("num_generations", positive_int, "replies sampled per prompt (a GRPO group)"),
        ("per_device_train_batch_size", positive_int, "replies per device per micro-batch"),
        ("gradient_accumulation_steps", positive_int, "micro-batches per optimizer step"),
        ("max_completion_length", positive_int, "reply tokens at most"),
        ("save_steps", positive_int, "write a checkpoint every N steps"),
    ):
        grpo.add_argument(f"--{name}", type=kind, default=None, help=f"{text} (default {GRPO_DEFAULTS[name]})")
    grpo.add_argument("--beta", type=float, default=None, help="KL coefficient to the reference model (default 0)")
    grpo.add_argument("--use_vllm", action="store_true", default=None, help="generate with vLLM (GPU; see docs/GPU.md)")
    grpo.add_argument("--deepspeed", default=None, help="a DeepSpeed config JSON, passed to TRL/accelerate")
    grpo.add_argument(
        "--report_to", nargs="+", default=None, help="logging integrations (default tensorboard; e.g. wandb)"
    )
    grpo.add_argument(
        "--reward_weights", default=None, help="weights of the judge then each --reward_funcs, comma separated"
    )
    add_seed(parser)
    parser.set_defaults(seed=None)
    extra = parser.add_argument_group("rewards and runs")
    extra.add_argument(
        "--reward_funcs", action="append", default=None, metavar="PKG.MODULE:FN", help=helps["reward_funcs"]
    )
    extra.add_argument(
        "--resume_from_checkpoint",
        nargs="?",
        const="last",
        default=None,
        metavar="PATH|last",
        help=helps["resume_from_checkpoint"],
    )
    extra.add_argument("--overwrite", action="store_true", default=None, help=helps["overwrite"])
    extra.add_argument("--max_minutes", type=positive_float, default=None, help=helps["max_minutes"])
    extra.add_argument("--placeholders", action="store_true", default=None, help=helps["placeholders"])
    extra.add_argument(
        "--constrain_placeholders",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"{helps['constrain_placeholders']} (default on)",
    )
    extra.add_argument("--truncated_reward", type=float, default=None, metavar="R", help=helps["truncated_reward"])
    add_judge_arguments(parser)
    # Judge flags left unset fall back to the recipe file, then to JudgeSettings' defaults.
    parser.set_defaults(**{name: None for name in JudgeSettings.__dataclass_fields__})


def run(args: argparse.Namespace) -> int:
    from tracegym.training.config import read_recipe, resolve

    recipe = read_recipe(args.config) if args.config else {}
    config = resolve(recipe, flags_of(args), cuda_bf16=_cuda_bf16())

    from tracegym.training.grpo import run as run_grpo

    summary = run_grpo(config)
    if summary is not None:
        print(
            json.dumps(
                {
                    "output_dir": summary.output_dir,
                    "steps": summary.steps,
                    **summary.final,
                    "warnings": summary.warnings,
                }
            )
        )
    return 0


def flags_of(args: argparse.Namespace) -> dict:
    """The parsed `train` flags as `resolve` takes them: unset ones are None, the reward weights parsed."""
    flags = {k: v for k, v in vars(args).items() if k not in ("command", "run", "config")}
    flags["reward_weights"] = parse_weights(args.reward_weights)
    return flags


def _cuda_bf16() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
