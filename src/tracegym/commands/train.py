"""GRPO with TRL, the judge as reward, LoRA or full fine-tune; writes a run directory.

Examples:
  tracegym train --train_jsonl train.jsonl --model_name student_sft --use_lora --output_dir runs/grpo
  tracegym train --config recipe.yaml --max_steps 100          # flags override the file
  tracegym train ... --judge gemini+acts --judge_weights 0.7,0.3 --cache verdicts.sqlite
  tracegym train ... --reward_funcs my_pkg.rewards:brevity --reward_weights 1.0,0.2
  tracegym train --output_dir runs/grpo --resume_from_checkpoint last   # the run's own settings (its run.json)
  tracegym train ... --validate_every 10 --validation_prompts 24 --keep_best     # the gaming alarm, best policy kept
  accelerate launch --num_processes 2 --cpu -m tracegym train ...   # only rank 0 writes

--config takes a YAML file of flat keys: any field of TRL's GRPOConfig (beta, temperature, loss_type, use_vllm,
deepspeed, fsdp, ...), of PEFT's LoraConfig (r, lora_alpha, target_modules, ...), or of the flags below.
The run directory holds adapter/ or model/, config.yaml (+ sha256), log.jsonl, TensorBoard events (runs/),
checkpoint-*/ and a model card (README.md). With --validate_every N, a slice of --train_jsonl's dialogues is held out
of GRPO and scored every N steps by the judge and by independent signals (log.jsonl `kind: validation`); a warning
says when the judge rises while one of them falls significantly, Holm-corrected over the signals (the gaming
alarm); --keep_best saves the best policy on it.
Results (a JSON summary) go to stdout; progress to stderr.
"""

from __future__ import annotations

import argparse
import json

from tracegym.commands.common import add_judge_arguments, add_options
from tracegym.options import OUTPUTS_KEY, check_output_paths
from tracegym.training.config import GRPOFlags, RunConfig, TrainOptions, parse_weights

# Not HfArgumentParser/TrlParser over GRPOConfig: building every command's parser (`tracegym --help`, and the light
# commands) would import TRL and torch, and the parser would give each of GRPOConfig's ~200 fields a default that
# hides whether a flag was given, which the recipe file needs. The flags are the fields of TrainOptions, GRPOFlags
# and JudgeSettings, all left unset (None) so that a flag overrides the file and the file the declared defaults.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, help="a YAML recipe (GRPOConfig, LoraConfig and tracegym keys)")
    add_options(parser, TrainOptions, unset_is_none=True)
    add_options(parser, GRPOFlags, unset_is_none=True)
    add_judge_arguments(parser, unset_is_none=True)


def run(args: argparse.Namespace) -> int:
    config = run_config_of(args)
    check_output_paths({"output_dir": (config.grpo.get("output_dir"), "dir")})  # when the recipe names it

    from tracegym.evaluation.validation import SliceValidator
    from tracegym.training.grpo import run as run_grpo

    summary = run_grpo(config, validator_factory=SliceValidator)
    if summary is not None:
        print(
            json.dumps(
                {
                    "output_dir": summary.output_dir,
                    "steps": summary.steps,
                    **summary.final,
                    **_validation_figures(summary.validation),
                    "warnings": summary.warnings,
                }
            )
        )
    return 0


def _validation_figures(validation: dict | None) -> dict:
    """The summary's validation figures: the best step on the slice and the step whose policy was saved."""
    if not validation:
        return {}
    return {key: validation[key] for key in ("best_step", "best_judge", "kept_step")}


def run_config_of(args: argparse.Namespace) -> RunConfig:
    """The run's checked configuration from the parsed flags and their --config recipe (or, resuming, the run's
    own run.json); tests/test_gpu_recipes.py parses docs/GPU.md's commands and recipes through this."""
    from tracegym.training.config import read_recipe, recipe_of_run, resolve

    recipe = read_recipe(args.config) if args.config else {}
    if args.resume_from_checkpoint and args.output_dir and not args.config:
        recipe = recipe_of_run(args.output_dir)  # the run's own settings; the flags given now override them
    return resolve(recipe, flags_of(args), cuda_bf16=_cuda_bf16())


def flags_of(args: argparse.Namespace) -> dict:
    """The parsed `train` flags as `resolve` takes them: unset ones are None, the reward weights parsed."""
    flags = {k: v for k, v in vars(args).items() if k not in ("command", "run", "config", OUTPUTS_KEY)}
    flags["reward_weights"] = parse_weights(args.reward_weights)
    return flags


def _cuda_bf16() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
