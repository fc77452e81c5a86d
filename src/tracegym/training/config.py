"""One source of truth for a training run's configuration.

A run is configured by three objects, each owned by the library that uses it:

- TRL's `GRPOConfig` (steps, batch sizes, learning rate, `beta`, `num_generations`, `use_vllm`, DeepSpeed/FSDP, ...),
- PEFT's `LoraConfig` (`r`, `lora_alpha`, `target_modules`, ...) when `--use_lora`,
- `TrainOptions` below: what tracegym adds (the samples file, the student, prompt length, extra reward functions),
  plus the judge's `JudgeSettings`.

A recipe file (`--config recipe.yaml`) holds flat keys; each key goes to whichever of those classes declares a field
of that name, so no field is declared twice. An unknown key is an error that names it. Command-line flags override
the file, and the file overrides tracegym's defaults (`GRPO_DEFAULTS`, `LORA_DEFAULTS`), which are sized for the
2-core demo (8 prompts × 8 replies × ≤ 40 tokens a step):

    # recipe.yaml
    model_name: google/gemma-3-270m-it
    use_lora: true
    r: 32                 # LoraConfig
    learning_rate: 2.0e-5 # GRPOConfig
    beta: 0.04            # GRPOConfig: KL to the reference model, logged as `kl`
    judge: gemini+acts    # JudgeSettings
    judge_weights: 0.7,0.3

No torch here at import time: TRL and PEFT are imported by the functions that need their fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracegym.errors import UserError
from tracegym.framing import Framing
from tracegym.judges import JudgeSettings
from tracegym.options import MAX_PROMPT_LENGTH, non_negative_int, option, positive_float, positive_int

# tracegym's defaults for GRPOConfig fields: small, step-based runs that log and checkpoint every few steps.
GRPO_DEFAULTS: dict[str, Any] = {
    "max_steps": 50,
    "learning_rate": 1e-5,
    "num_generations": 8,
    "per_device_train_batch_size": 8,
    "gradient_accumulation_steps": 8,
    "max_completion_length": 40,
    "logging_steps": 1,
    "save_steps": 25,
    "save_total_limit": 2,
    "report_to": ["tensorboard"],
    "activation_checkpointing": False,  # tiny students: recomputation costs more than it saves
    "seed": 0,
}
LORA_DEFAULTS: dict[str, Any] = {
    "r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.0,
    "target_modules": "all-linear",
    "task_type": "CAUSAL_LM",
}
# GRPOConfig counts that must be positive whatever the source (flag or file).
POSITIVE_COUNTS = (
    "max_steps",
    "num_generations",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_completion_length",
    "logging_steps",
    "save_steps",
)


RUN_GROUP = "rewards and runs"
VALIDATION_GROUP = "validation: the gaming alarm (train-split dialogues held out of GRPO)"
GRPO_GROUP = "GRPO (TRL's GRPOConfig; defaults sized for the CPU demo)"


@dataclass
class TrainOptions:
    """What tracegym adds to TRL's and PEFT's configs for a run."""

    train_jsonl: str | None = option(None, "samples JSONL to train on (`tracegym prepare`)")
    model_name: str | None = option(None, "the student: a local folder (`tracegym student`/`sft`) or a hub model id")
    use_lora: bool = option(False, "train a LoRA adapter (LoraConfig) instead of all weights")
    merge: bool = option(False, "with --use_lora, also write the merged model to merged/")
    max_prompt_length: int = option(
        MAX_PROMPT_LENGTH,
        "prompt tokens at most; the oldest history turns go first, never the system message",
        type=positive_int,
    )
    reward_funcs: list[str] = option(
        [],
        "extra TRL-style reward functions `pkg.module:fn`, scored beside the judge",
        action="append",
        metavar="PKG.MODULE:FN",
        group=RUN_GROUP,
    )
    resume_from_checkpoint: str | None = option(
        None,
        "a checkpoint folder, or `last` for the newest checkpoint-* in the run dir",
        nargs="?",
        const="last",
        metavar="PATH|last",
        group=RUN_GROUP,
    )
    overwrite: bool = option(False, "replace an existing, non-empty run directory", group=RUN_GROUP)
    max_minutes: float | None = option(
        None,
        "wall-clock budget: stop cleanly after the step that passes it, and save",
        type=positive_float,
        group=RUN_GROUP,
    )
    placeholders: bool = option(
        False,
        "the student writes [n] placeholders, filled from the acts before judging (--include_acts samples)",
        group=RUN_GROUP,
    )
    constrain_placeholders: bool = option(
        True,
        "with --placeholders, sample replies that write each [n] of the prompt's acts at most once and "
        "no other (needs one token per placeholder: `tracegym student --placeholder_tokens`)",
        group=RUN_GROUP,
    )
    truncated_reward: float | None = option(
        None,
        "reward for a reply cut off at max_completion_length (no end of turn) instead of its judge score, "
        "which then is not asked; e.g. 0 to teach the student to finish (default: judge every reply)",
        metavar="R",
        group=RUN_GROUP,
    )
    sft_coef: float = option(
        0.0,
        "weight of a supervised term in GRPO's loss (InstructGPT's PPO-ptx): each micro-batch adds this times the "
        "reference replies' cross-entropy on --sft_batch_size turns of --sft_jsonl, to hold the student to what SFT "
        "taught on turns GRPO does not train on (on the demo it did not: BENCHMARKS.md); 0: off",
        metavar="C",
        group=RUN_GROUP,
    )
    sft_jsonl: str | None = option(
        None,
        "with --sft_coef: the turns whose reference replies the term replays, e.g. the student's SFT data (default: "
        "--train_jsonl); keep the validation slice's dialogues out of it",
        group=RUN_GROUP,
    )
    sft_batch_size: int = option(4, "with --sft_coef: turns per micro-batch", type=positive_int, group=RUN_GROUP)
    validate_every: int = option(
        0,
        "every N steps (and before the first and after the last), score a validation slice with the judge and "
        "with independent signals (chrF, slot error, act-value recall, hallucination, broken text), log both, and "
        "warn when the judge rises while a signal falls significantly; 0: off",
        type=non_negative_int,
        metavar="N",
        group=VALIDATION_GROUP,
    )
    validation_prompts: int = option(
        24,
        "the slice: whole dialogues of --train_jsonl, drawn by the run's seed until they hold this many turns, "
        "held out of GRPO",
        type=positive_int,
        group=VALIDATION_GROUP,
    )
    validation_jsonl: str | None = option(
        None,
        "with --validate_every: the slice is every sample of this JSONL (turns of dialogues GRPO never sees) instead "
        "of whole dialogues held out of --train_jsonl; --validation_prompts does not apply",
        group=VALIDATION_GROUP,
    )
    keep_best: bool = option(
        False,
        "with --validate_every, save the policy best on the slice's judge score instead of the last (run.json "
        "names its step)",
        group=VALIDATION_GROUP,
    )

    def __post_init__(self) -> None:
        if not isinstance(self.max_prompt_length, int) or self.max_prompt_length <= 0:
            raise UserError(
                f"max_prompt_length {self.max_prompt_length!r}: must be a positive integer (e.g. {MAX_PROMPT_LENGTH})"
            )
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise UserError(f"max_minutes {self.max_minutes!r}: must be a positive number of minutes")
        if self.truncated_reward is not None and not isinstance(self.truncated_reward, (int, float)):
            raise UserError(f"truncated_reward {self.truncated_reward!r}: must be a number (e.g. 0)")
        if isinstance(self.reward_funcs, str):
            self.reward_funcs = [self.reward_funcs]
        if not isinstance(self.validate_every, int) or isinstance(self.validate_every, bool) or self.validate_every < 0:
            raise UserError(f"validate_every {self.validate_every!r}: must be 0 (off) or a positive number of steps")
        if not isinstance(self.validation_prompts, int) or self.validation_prompts <= 0:
            raise UserError(f"validation_prompts {self.validation_prompts!r}: must be a positive integer (e.g. 24)")
        if self.validation_jsonl is not None and not self.validate_every:
            raise UserError("--validation_jsonl needs --validate_every N: the slice is scored every N steps")
        if isinstance(self.sft_coef, bool) or not isinstance(self.sft_coef, (int, float)) or self.sft_coef < 0:
            raise UserError(f"sft_coef {self.sft_coef!r}: must be 0 (off) or a positive weight (e.g. 0.1)")
        if self.sft_jsonl is not None and not self.sft_coef:
            raise UserError("--sft_jsonl needs --sft_coef C: the turns are replayed only with a weight above 0")
        if self.keep_best and not self.validate_every:
            raise UserError("--keep_best needs --validate_every N: the best policy is chosen on the validation slice")

    @property
    def framing(self) -> Framing:
        """The student's framing as one typed setting (placeholders imply act-conditioned samples)."""
        return Framing(acts=self.placeholders, placeholders=self.placeholders, constrained=self.constrain_placeholders)


@dataclass
class GRPOFlags:
    """The GRPOConfig fields `tracegym train` offers as flags (a recipe file may set any other). Their defaults are
    `GRPO_DEFAULTS`' (else TRL's); the flags themselves default to unset, so that the recipe file can set them."""

    output_dir: str | None = option(None, "the run directory to write", output="dir")
    max_steps: int = option(GRPO_DEFAULTS["max_steps"], "optimizer steps", type=positive_int, group=GRPO_GROUP)
    learning_rate: float = option(
        GRPO_DEFAULTS["learning_rate"], "learning rate", type=positive_float, group=GRPO_GROUP
    )
    num_generations: int = option(
        GRPO_DEFAULTS["num_generations"],
        "replies sampled per prompt (a GRPO group)",
        type=positive_int,
        group=GRPO_GROUP,
    )
    per_device_train_batch_size: int = option(
        GRPO_DEFAULTS["per_device_train_batch_size"],
        "replies per device per micro-batch",
        type=positive_int,
        group=GRPO_GROUP,
    )
    gradient_accumulation_steps: int = option(
        GRPO_DEFAULTS["gradient_accumulation_steps"],
        "micro-batches per optimizer step",
        type=positive_int,
        group=GRPO_GROUP,
    )
    max_completion_length: int = option(
        GRPO_DEFAULTS["max_completion_length"], "reply tokens at most", type=positive_int, group=GRPO_GROUP
    )
    save_steps: int = option(
        GRPO_DEFAULTS["save_steps"], "write a checkpoint every N steps", type=positive_int, group=GRPO_GROUP
    )
    beta: float | None = option(None, "KL coefficient to the reference model (default: TRL's, 0)", group=GRPO_GROUP)
    use_vllm: bool = option(False, "generate with vLLM (GPU; see docs/GPU.md)", group=GRPO_GROUP)
    deepspeed: str | None = option(None, "a DeepSpeed config JSON, passed to TRL/accelerate", group=GRPO_GROUP)
    report_to: list[str] = option(
        GRPO_DEFAULTS["report_to"], "logging integrations (e.g. wandb; none for no logging)", group=GRPO_GROUP
    )
    reward_weights: str | None = option(
        None, "weights of the judge then each --reward_funcs, comma separated", group=GRPO_GROUP
    )
    seed: int = option(GRPO_DEFAULTS["seed"], "random seed")


@dataclass
class RunConfig:
    """The resolved configuration: keyword arguments for GRPOConfig and LoraConfig, and tracegym's own."""

    options: TrainOptions
    judge: JudgeSettings
    grpo: dict[str, Any]
    lora: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "tracegym": dataclasses.asdict(self.options),
            "judge": dataclasses.asdict(self.judge),
            "grpo": self.grpo,
            "lora": self.lora,
        }


def field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls) if f.init}


def grpo_field_names() -> set[str]:
    from trl import GRPOConfig

    return field_names(GRPOConfig)


def lora_field_names() -> set[str]:
    from peft import LoraConfig

    return field_names(LoraConfig)


def read_recipe(path: str | Path) -> dict[str, Any]:
    """The flat key/value mapping of a YAML recipe file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"--config {path}: no such file; check the path")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserError(f"--config {path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"--config {path}: expected a mapping of keys to values, got {type(data).__name__}")
    return data


# Settings of one invocation rather than of the run: a resumed run takes them from its own flags, never the record.
NOT_RESUMED = frozenset({"resume_from_checkpoint", "overwrite_output_dir", "output_dir"})


def recipe_of_run(output_dir: str | Path) -> dict[str, Any]:
    """The flat recipe of the run in `output_dir` as its run.json records it, to resume it with the same settings
    (flags still override); {} when the folder holds no run yet."""
    from tracegym.training import rundir

    if not rundir.has_run_record(Path(output_dir)):
        return {}
    sections = rundir.read_run(output_dir).config
    flat = {key: value for section in sections.values() if isinstance(section, dict) for key, value in section.items()}
    return {key: value for key, value in flat.items() if key not in NOT_RESUMED and value is not None}


def route_keys(values: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """`values` split by owner: {"tracegym": …, "judge": …, "grpo": …, "lora": …}; an unknown key is a UserError."""
    owners = {
        "tracegym": field_names(TrainOptions),
        "judge": field_names(JudgeSettings),
        "grpo": grpo_field_names(),
        "lora": lora_field_names(),
    }
    routed: dict[str, dict[str, Any]] = {owner: {} for owner in owners}
    for key, value in values.items():
        owner = next((name for name, known in owners.items() if key in known), None)
        if owner is None:
            raise UserError(
                f"{where}: unknown key {key!r}; use a field of TRL's GRPOConfig, PEFT's LoraConfig, or tracegym's "
                "TrainOptions/JudgeSettings (see `tracegym train --help`)"
            )
        routed[owner][key] = value
    return routed


def resolve(recipe: dict[str, Any], flags: dict[str, Any], cuda_bf16: bool = False) -> RunConfig:
    """Defaults < recipe file < flags (flags given as None are left out), each routed to its owner and checked."""
    from_file = route_keys(recipe, "--config")
    from_flags = route_keys({k: v for k, v in flags.items() if v is not None}, "flags")
    own = {**from_file["tracegym"], **from_flags["tracegym"]}
    try:
        options = TrainOptions(**own)
    except TypeError as exc:
        raise UserError(f"tracegym options: {exc}") from None
    judge = JudgeSettings(**{**from_file["judge"], **from_flags["judge"]})
    lora = {**from_file["lora"], **from_flags["lora"]}
    return run_config(options, judge, {**from_file["grpo"], **from_flags["grpo"]}, lora, cuda_bf16=cuda_bf16)


def run_config(
    options: TrainOptions,
    judge: JudgeSettings,
    grpo: dict[str, Any],
    lora: dict[str, Any] | None = None,
    cuda_bf16: bool = False,
) -> RunConfig:
    """The checked run configuration from typed options and the GRPOConfig / LoraConfig keys that differ from
    tracegym's defaults (`GRPO_DEFAULTS`, `LORA_DEFAULTS`); the demo builds its GRPO stage with this."""
    if not options.use_lora and lora:
        raise UserError(f"LoRA keys {', '.join(sorted(lora))} given without use_lora; add --use_lora or remove them")
    grpo = {**GRPO_DEFAULTS, "bf16": cuda_bf16, **grpo}
    lora = {**LORA_DEFAULTS, **(lora or {})} if options.use_lora else None
    check_run_config(options, grpo)
    return RunConfig(options=options, judge=judge, grpo=grpo, lora=lora)


def check_run_config(options: TrainOptions, grpo: dict[str, Any]) -> None:
    """The checks that must fail before anything is written, each saying how to fix it."""
    for key in POSITIVE_COUNTS:
        value = grpo.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise UserError(f"{key} {value!r}: must be a positive integer")
    learning_rate = grpo.get("learning_rate")
    if not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
        raise UserError(f"learning_rate {learning_rate!r}: must be a positive number (e.g. 1e-5)")
    if grpo.get("num_generations", 2) < 2:
        raise UserError("num_generations must be at least 2: GRPO compares replies to the same prompt")
    for name in ("train_jsonl", "model_name", "output_dir"):
        value = grpo.get(name) if name == "output_dir" else getattr(options, name)
        if not value:
            raise UserError(f"--{name} is required (give it as a flag or a --config key)")
    sharded = [key for key in ("deepspeed", "fsdp") if grpo.get(key)]
    if options.validate_every and sharded:
        raise UserError(
            f"--validate_every does not run under {' or '.join(sharded)} (the policy is generated from and copied on "
            "one process); drop it, or validate the saved checkpoints with `tracegym eval`"
        )
    if options.merge and not options.use_lora:
        raise UserError("--merge needs --use_lora: a full fine-tune already writes the whole model to model/")
    weights = grpo.get("reward_weights")
    if weights is not None and len(weights) != 1 + len(options.reward_funcs):
        raise UserError(
            f"reward_weights has {len(weights)} value(s) for {1 + len(options.reward_funcs)} reward function(s) "
            "(the judge first, then each --reward_funcs); give one weight each"
        )


def parse_weights(text: str | None) -> list[float] | None:
    """`"1.0,0.5"` → [1.0, 0.5]."""
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--reward_weights {text!r}: expected numbers separated by commas, such as 1.0,0.5") from None
