"""GRPO as a recipe: set up (check everything, write nothing), train, save.

    >>> config = resolve(read_recipe("recipe.yaml"), flags={...})
    >>> summary = run(config)          # what `tracegym train` does

TRL's `GRPOTrainer` does the learning (PEFT's LoRA when `use_lora`); tracegym gives it the samples as prompts
rendered with the student's chat template, the judge as an async reward function, and a callback that writes a
record per step to log.jsonl; with `--validate_every`, a second callback scores a slice held out of GRPO every N
steps (`training.validation`, the gaming alarm; the validator comes from evaluation through `validator_factory`). Every check that can fail on bad input runs in `setup`, before the run directory is
touched, so a bad flag leaves nothing half-made. The run directory's run.json (`rundir.RunRecord`) records what the
run was; resuming into a run directory checks the new options against it (`rundir.check_resumable`).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import tracegym
from tracegym import models
from tracegym.errors import UserError
from tracegym.framing import Framing
from tracegym.judges import build_judge
from tracegym.placeholders import check_act_conditioned
from tracegym.samples import Sample, read_samples
from tracegym.training import rundir
from tracegym.training.config import RunConfig, TrainOptions
from tracegym.training.reward import JudgeReward
from tracegym.training.sft_term import SFTTerm, build_sft_term
from tracegym.training.validation import (
    ValidationOutcome,
    ValidationSlice,
    ValidatorFactory,
    hold_out_slice,
    validation_callback,
)

# Scalar sample fields copied into dataset columns for users' own reward functions (`ground_truth=…`).
SCALAR_COLUMNS = ("id", "dialogue_id", "ground_truth", "rubric", "task_description")


@dataclass
class TrainingSetup:
    """Everything a run needs, checked; nothing written yet."""

    config: RunConfig
    framing: Framing
    grpo_config: Any  # trl.GRPOConfig
    lora_config: Any  # peft.LoraConfig | None
    tokenizer: Any
    samples: list[Sample]
    dataset: Any  # datasets.Dataset
    judge_reward: JudgeReward
    reward_funcs: list[Any]
    resume_from: str | None
    is_main: bool
    validation_samples: list[Sample]  # held out of GRPO for --validate_every (empty without it)
    validation: ValidationOutcome | None  # filled in by the validation callback as training goes
    sft_term: SFTTerm | None = None  # --sft_coef's supervised term

    @property
    def output_dir(self) -> Path:
        return Path(self.grpo_config.output_dir)

    @property
    def weights_dir(self) -> Path:
        return self.output_dir / ("adapter" if self.lora_config is not None else "model")


def run(config: RunConfig, validator_factory: ValidatorFactory | None = None) -> rundir.RunSummary | None:
    """Set up, train, save. Returns the summary on the main process, None on the others.

    `validator_factory` scores the validation slice for `--validate_every` (`tracegym.evaluation.validation.
    SliceValidator`, which the `train` command and the demo hand in)."""
    from accelerate import PartialState

    if config.options.validate_every and validator_factory is None:
        raise ValueError("validate_every needs a validator_factory (tracegym.evaluation.validation.SliceValidator)")
    training = setup(config)
    start_run_dir(training)
    PartialState().wait_for_everyone()  # the other ranks start once rank 0 has made the run dir
    trainer = train(training, validator_factory)
    return save(training, trainer)


# ---------------------------------------------------------------- setup


def setup(config: RunConfig) -> TrainingSetup:
    from accelerate import PartialState

    options = config.options
    is_main = PartialState().is_main_process
    grpo_config = build_grpo_config(config.grpo)
    lora_config = build_lora_config(config.lora) if config.lora is not None else None
    output_dir = Path(grpo_config.output_dir)
    resume_from = resolve_checkpoint(options.resume_from_checkpoint, output_dir)
    if is_main:  # only rank 0 owns the run dir; another rank would see the dir rank 0 has just made
        rundir.prepare_run_dir(output_dir, overwrite=options.overwrite, resuming=resume_from is not None)
    samples = read_samples(options.train_jsonl)
    framing = run_framing(options, samples)
    validation_samples: list[Sample] = []
    if options.validate_every and options.validation_jsonl is not None:
        validation_samples = given_slice(read_samples(options.validation_jsonl), samples, options)
    elif options.validate_every:
        samples, validation_samples = hold_out_slice(samples, options.validation_prompts, grpo_config.seed)
    tokenizer = load_tokenizer(options.model_name)
    framing = as_sampled(framing, tokenizer, grpo_config)
    check_enough_prompts(samples, grpo_config, options.train_jsonl)
    dataset = build_dataset(samples, tokenizer, options.max_prompt_length)
    judge_reward = JudgeReward(
        build_judge(config.judge),
        framing=framing,
        truncated_reward=options.truncated_reward,
        stop_token_ids=models.reply_stop_ids(tokenizer, models.generation_config_of(options.model_name)),
    )
    user_funcs = [load_reward_function(spec) for spec in options.reward_funcs]
    sft_term = None
    if options.sft_coef and PartialState().num_processes > 1:
        raise UserError(
            "--sft_coef runs in one process: its term calls the model outside accelerate's wrapper; "
            "drop it or train without `accelerate launch`"
        )
    if options.sft_coef:
        sft_samples = sft_replay_samples(options, samples, validation_samples, framing)
        sft_term = build_sft_term(
            sft_samples,
            tokenizer,
            coef=options.sft_coef,
            batch_size=options.sft_batch_size,
            max_prompt_length=options.max_prompt_length,
            max_completion_length=grpo_config.max_completion_length,
            placeholders=framing.placeholders,
            seed=grpo_config.seed,
        )
    if resume_from is not None and rundir.has_run_record(output_dir):
        recorded = rundir.read_run(output_dir)
        rundir.check_resumable(recorded, run_record(config, framing, judge_reward, grpo_config, ""), output_dir)
    return TrainingSetup(
        config=config,
        framing=framing,
        grpo_config=grpo_config,
        lora_config=lora_config,
        tokenizer=tokenizer,
        samples=samples,
        dataset=dataset,
        judge_reward=judge_reward,
        reward_funcs=[judge_reward, *user_funcs],
        resume_from=resume_from,
        is_main=is_main,
        validation_samples=validation_samples,
        validation=validation_outcome(options, validation_samples),
        sft_term=sft_term,
    )


def sft_replay_samples(
    options: TrainOptions, samples: list[Sample], validation_samples: list[Sample], framing: Framing
) -> list[Sample]:
    """The turns --sft_coef's term replays: --sft_jsonl's, or the training samples; none of the slice's dialogues."""
    if options.sft_jsonl is None:
        return samples
    replay = read_samples(options.sft_jsonl)
    if framing.placeholders:
        check_act_conditioned(replay)
    shared = shared_dialogues(replay, validation_samples)
    if shared:
        raise UserError(
            f"--sft_jsonl {options.sft_jsonl}: {len(shared)} of its dialogues (e.g. {shared[0]!r}) are in the "
            "validation slice; replay turns the slice does not hold, or the alarm would watch trained turns"
        )
    if not replay:
        raise UserError(f"--sft_jsonl {options.sft_jsonl}: no samples in it")
    return replay


def given_slice(slice_: list[Sample], samples: list[Sample], options: TrainOptions) -> list[Sample]:
    """The --validation_jsonl slice, checked to share no dialogue with the training samples."""
    shared = shared_dialogues(slice_, samples)
    if shared:
        raise UserError(
            f"--validation_jsonl {options.validation_jsonl}: {len(shared)} of its dialogues (e.g. {shared[0]!r}) are "
            f"also in --train_jsonl {options.train_jsonl}; validate on dialogues GRPO never sees"
        )
    if not slice_:
        raise UserError(f"--validation_jsonl {options.validation_jsonl}: no samples in it")
    return slice_


def shared_dialogues(samples: list[Sample], others: list[Sample]) -> list[str]:
    """The dialogues (a sample's own id when it has none) that both lists hold turns of, sorted."""
    return sorted({sample.dialogue_id or sample.id for sample in samples} & {o.dialogue_id or o.id for o in others})


def validation_outcome(options: TrainOptions, validation_samples: list[Sample]) -> ValidationOutcome | None:
    if not options.validate_every:
        return None
    return ValidationOutcome(
        every=options.validate_every,
        prompts=len(validation_samples),
        dialogues=sorted({sample.dialogue_id or sample.id for sample in validation_samples}),
        keep_best=options.keep_best,
    )


def check_enough_prompts(samples: list[Sample], grpo_config: Any, path: str) -> None:
    """A UserError when the samples cannot fill one generation batch: TRL would stop at step 0 and save the
    untouched model as if it had trained."""
    needed = grpo_config.generation_batch_size // grpo_config.num_generations
    if len(samples) < needed:
        raise UserError(
            f"--train_jsonl {path}: {len(samples)} samples, but one GRPO generation batch takes {needed} prompts "
            f"(per_device_train_batch_size × gradient_accumulation_steps × processes ÷ num_generations); give more "
            "samples or lower --gradient_accumulation_steps or --per_device_train_batch_size"
        )


def run_framing(options: TrainOptions, samples: list[Sample]) -> Framing:
    """How this run frames the student: the options' framing, with whether the prompts show the acts, and
    compactly, taken from the samples themselves."""
    if options.placeholders:
        check_act_conditioned(samples)  # the UserError that names the first sample without acts
    acts = samples_show_acts(samples)
    compact = acts and all(sample.framing.compact for sample in samples if sample.acts)
    return replace(options.framing, acts=acts, compact=compact)


def as_sampled(framing: Framing, tokenizer: Any, grpo_config: Any) -> Framing:
    """The framing as GRPO will really sample: unconstrained when the tokenizer has no placeholder tokens (nothing
    to constrain) or vLLM generates (outside the model's `generate`, where the constraint sits)."""
    from tracegym.decoding import placeholder_token_ids

    if not framing.constrained:
        return framing
    if grpo_config.use_vllm:
        print(
            "warning: --constrain_placeholders does not reach vLLM's sampler; GRPO samples unconstrained",
            file=sys.stderr,
        )
        return replace(framing, constrained=False)
    return framing if placeholder_token_ids(tokenizer) else replace(framing, constrained=False)


def samples_show_acts(samples: list[Sample]) -> bool:
    """Whether the samples are act-conditioned: some have reference acts, and every such prompt shows them."""
    with_acts = [sample for sample in samples if sample.acts]
    return bool(with_acts) and all(sample.framing.acts for sample in with_acts)


def run_record(
    config: RunConfig,
    framing: Framing,
    judge_reward: JudgeReward,
    grpo_config: Any,
    digest: str,
    validation: ValidationOutcome | None = None,
) -> rundir.RunRecord:
    """The run.json of this run (`rundir.RunRecord`); `digest`: config.yaml's sha256."""
    options = config.options
    return rundir.RunRecord(
        judge_name=config.judge.judge,
        judge_fingerprint=judge_reward.judge.fingerprint,
        framing=framing,
        max_prompt_length=options.max_prompt_length,
        max_completion_length=grpo_config.max_completion_length,
        seed=grpo_config.seed,
        data_seed=grpo_config.data_seed,
        base_model=str(options.model_name),
        use_lora=config.lora is not None,
        train_jsonl=str(options.train_jsonl),
        config_sha256=digest,
        tracegym_version=tracegym.__version__,
        config=rundir.jsonable(config.to_dict()),
        validation=validation.to_dict() if validation is not None else None,
    )


def build_grpo_config(kwargs: dict[str, Any]) -> Any:
    from trl import GRPOConfig

    try:
        return GRPOConfig(**kwargs)
    except (ValueError, TypeError) as exc:
        raise UserError(f"GRPOConfig rejected the settings: {exc}; fix the flag or the --config key") from None


def build_lora_config(kwargs: dict[str, Any]) -> Any:
    from peft import LoraConfig

    try:
        return LoraConfig(**kwargs)
    except (ValueError, TypeError) as exc:
        raise UserError(f"LoraConfig rejected the settings: {exc}; fix the --config key") from None


def resolve_checkpoint(requested: str | None, output_dir: Path) -> str | None:
    """The checkpoint folder to resume from: `last` is the newest complete checkpoint-* in the run dir.

    A checkpoint is complete once its trainer_state.json exists (the trainer writes it last), so a folder that a
    kill cut short is skipped.
    """
    if requested is None:
        return None
    if requested == "last":
        complete = [
            folder
            for folder in (output_dir.glob("checkpoint-*") if output_dir.is_dir() else [])
            if folder.name.removeprefix("checkpoint-").isdigit() and (folder / "trainer_state.json").is_file()
        ]
        last = str(max(complete, key=lambda folder: int(folder.name.removeprefix("checkpoint-")))) if complete else None
        if last is None:
            raise UserError(
                f"--resume_from_checkpoint last: no complete checkpoint-* folder in {output_dir}; "
                "drop the flag to start a new run"
            )
        return last
    if not Path(requested).is_dir():
        raise UserError(f"--resume_from_checkpoint {requested}: no such folder; give a checkpoint-* folder or `last`")
    return requested


def load_tokenizer(model_name: str) -> Any:
    """The student's tokenizer; a model that cannot be found is a UserError, checked before anything is written."""
    models.check_model_loads(model_name, "--model_name")
    return models.load_tokenizer(model_name, "--model_name")


def build_dataset(samples: list[Sample], tokenizer: Any, max_prompt_length: int) -> Any:
    """A `datasets.Dataset`: the rendered prompt, the sample as JSON (for the judge), and its scalar fields."""
    from datasets import Dataset

    from tracegym.training.prompts import PromptStats, render_sample_prompt

    stats = PromptStats()
    rows = []
    for sample in samples:
        record = sample.to_dict()
        try:
            prompt = render_sample_prompt(tokenizer, record, max_prompt_length, stats)
        except UserError as exc:
            raise UserError(f"sample {sample.id!r}: {exc}") from None
        row = {"prompt": without_duplicate_bos(tokenizer, prompt), "sample": json.dumps(record, ensure_ascii=False)}
        row.update({name: str(record.get(name) or "") for name in SCALAR_COLUMNS})
        rows.append(row)
    return Dataset.from_list(rows)


def without_duplicate_bos(tokenizer: Any, text: str) -> str:
    """The rendered prompt minus its leading BOS when the tokenizer adds one itself (TRL tokenizes plain prompts
    with special tokens, and a doubled BOS is a prompt the model never saw in pre-training)."""
    bos = tokenizer.bos_token
    if not bos or not text.startswith(bos):
        return text
    adds_bos = tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]
    return text[len(bos) :] if adds_bos else text


def load_reward_function(spec: str) -> Any:
    """`pkg.module:fn` → the function, for TRL's `reward_funcs`."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UserError(f"--reward_funcs {spec!r}: expected `pkg.module:function`")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"--reward_funcs {spec!r}: cannot import {module_name!r} ({exc}); check PYTHONPATH") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise UserError(f"--reward_funcs {spec!r}: {module_name} has no function {attribute!r}")
    return function


# ---------------------------------------------------------------- train


def start_run_dir(training: TrainingSetup) -> None:
    """Create the run directory and write the resolved config (main process only)."""
    if not training.is_main:
        return
    output_dir = training.output_dir
    if training.config.options.overwrite and training.resume_from is None and output_dir.is_dir():
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    resolved = training.config.to_dict()
    resolved["grpo"] = training.grpo_config.to_dict()
    resolved["lora"] = training.lora_config.to_dict() if training.lora_config is not None else None
    digest = rundir.write_config(output_dir, resolved)
    record = run_record(
        training.config, training.framing, training.judge_reward, training.grpo_config, digest, training.validation
    )
    rundir.write_run(output_dir, record)


def make_trainer(training: TrainingSetup, validator_factory: ValidatorFactory | None = None) -> Any:
    from transformers.trainer_callback import ProgressCallback

    from tracegym.decoding import constrain_generate

    # TRL 1.16 still calls the deprecated `is_gradient_checkpointing` once a step; the warning tells a user nothing.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

    trainer = grpo_trainer_class(training.sft_term)(
        model=training.config.options.model_name,
        reward_funcs=training.reward_funcs,
        args=training.grpo_config,
        train_dataset=training.dataset,
        processing_class=training.tokenizer,
        peft_config=training.lora_config,
    )
    if training.framing.constrained:
        constrain_generate(trainer.model, training.tokenizer)
    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(quiet_progress_callback())
    trainer.add_callback(run_log_callback(training.output_dir))
    if training.config.options.max_minutes:
        trainer.add_callback(time_limit_callback(training.config.options.max_minutes))
    if training.validation is not None and validator_factory is not None:
        validator = validator_factory(validation_slice(training, trainer))
        trainer.add_callback(validation_callback(validator, training.validation, training.output_dir))
    return trainer


def grpo_trainer_class(sft_term: SFTTerm | None) -> Any:
    """TRL's GRPOTrainer, or with a supervised term (`training.sft_term`) one that adds it to each micro-batch's loss."""
    from trl import GRPOTrainer

    if sft_term is None:
        return GRPOTrainer

    class GRPOTrainerWithSFT(GRPOTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            if not model.training:
                return loss
            sft_loss = sft_term.loss(model)
            self._metrics["train"]["sft_loss"].append(sft_loss.item())
            # TRL scales its policy loss for gradient accumulation itself (HF's auto-scaling is off): so this too.
            return loss + sft_term.coef * sft_loss / self.current_gradient_accumulation_steps

    return GRPOTrainerWithSFT


def validation_slice(training: TrainingSetup, trainer: Any) -> ValidationSlice:
    """The held-out samples as the run frames and judges them, greedy replies as long as GRPO's."""
    return ValidationSlice(
        samples=training.validation_samples,
        judge=training.judge_reward.judge,
        framing=training.framing,
        max_prompt_length=training.config.options.max_prompt_length,
        max_new_tokens=training.grpo_config.max_completion_length,
        seed=training.grpo_config.seed,
        run_async=coroutine_runner(trainer),
    )


def coroutine_runner(trainer: Any) -> Any:
    """Runs a coroutine on TRL's event loop when it has one (async reward functions), else on a fresh one."""
    loop = getattr(trainer, "async_loop", None)
    if loop is None:
        return asyncio.run
    return lambda coroutine: asyncio.run_coroutine_threadsafe(coroutine, loop).result()


def train(training: TrainingSetup, validator_factory: ValidatorFactory | None = None) -> Any:
    from tracegym.training.cpu_logprobs import completion_tokens_only

    trainer = make_trainer(training, validator_factory)
    with completion_tokens_only():
        trainer.train(resume_from_checkpoint=training.resume_from)
    return trainer


def run_log_callback(output_dir: Path) -> Any:
    from transformers import TrainerCallback

    class RunLogCallback(TrainerCallback):
        """Appends each logged step to log.jsonl (main process), with a warning when the step had nothing to learn."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            kind = "summary" if "train_runtime" in logs else "step"
            record = {"kind": kind, "step": state.global_step, "time": round(time.time(), 3), **logs}
            if kind == "step" and (logs.get("frac_reward_zero_std") or 0.0) >= 1.0:
                record["warning"] = "reward constant within every group: no learning signal this step"
            rundir.append_log_record(output_dir, record)

    return RunLogCallback()


def time_limit_callback(minutes: float) -> Any:
    """Stops training after the step that passes the wall-clock budget; the trainer then saves as usual."""
    from transformers import TrainerCallback

    class TimeLimitCallback(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.deadline = time.monotonic() + minutes * 60

        def on_step_end(self, args, state, control, **kwargs):
            if time.monotonic() >= self.deadline:
                control.should_training_stop = True

    return TimeLimitCallback()


def quiet_progress_callback() -> Any:
    """transformers' progress bar, showing the reward beside it instead of printing every log dict to stdout."""
    from transformers.trainer_callback import ProgressCallback

    class QuietProgressCallback(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and self.training_bar is not None and logs and "reward" in logs:
                shown = {k: logs[k] for k in ("reward", "reward_std", "kl") if logs.get(k) is not None}
                self.training_bar.set_postfix({k: f"{v:.3f}" for k, v in shown.items()}, refresh=False)

    return QuietProgressCallback()


# ---------------------------------------------------------------- save


def save(training: TrainingSetup, trainer: Any) -> rundir.RunSummary | None:
    """Weights (+ tokenizer), merged model if asked, the model card; the loud warning if nothing was learnable."""
    trainer.save_model(str(training.weights_dir))  # collective under DeepSpeed/FSDP; writes on the main process
    judge_totals = training.judge_reward.totals_of_all_processes()  # collective too
    if not training.is_main:
        return None
    merged_dir = save_merged(training, trainer) if training.config.options.merge else None
    log = rundir.read_log(training.output_dir)
    warnings = list(training.validation.alarms) if training.validation is not None else []
    if training.validation is not None:
        record = rundir.read_run(training.output_dir)
        rundir.write_run(training.output_dir, replace(record, validation=training.validation.to_dict()))
    if rundir.nothing_to_learn(log):
        warnings.append(rundir.NOTHING_TO_LEARN_WARNING)
        rundir.append_log_record(training.output_dir, {"kind": "warning", "message": rundir.NOTHING_TO_LEARN_WARNING})
        print(f"\n{'!' * 80}\n{rundir.NOTHING_TO_LEARN_WARNING}\n{'!' * 80}\n", file=sys.stderr)
    summary = rundir.RunSummary(
        output_dir=str(training.output_dir),
        weights_dir=str(training.weights_dir),
        steps=trainer.state.global_step,
        samples=len(training.samples),
        train_jsonl=str(training.config.options.train_jsonl),
        model_name=str(training.config.options.model_name),
        judge_fingerprint=training.judge_reward.judge.fingerprint,
        config_sha256=(training.output_dir / "config.sha256").read_text().split()[0],
        final=rundir.final_figures(log),
        judge_totals=judge_totals,
        warnings=warnings,
        merged_dir=str(merged_dir) if merged_dir else None,
        validation=training.validation.to_dict() if training.validation is not None else None,
    )
    rundir.write_model_card(summary)
    rundir.append_judge_totals(training.output_dir, judge_totals)
    return summary


def save_merged(training: TrainingSetup, trainer: Any) -> Path:
    merged_dir = training.output_dir / "merged"
    model = trainer.accelerator.unwrap_model(trainer.model)
    merged = model.merge_and_unload()
    merged.save_pretrained(str(merged_dir))
    training.tokenizer.save_pretrained(str(merged_dir))
    return merged_dir
