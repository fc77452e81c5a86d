"""Supervised warm start through TRL's SFTTrainer: prompt → ground_truth + end-of-turn, loss on the reply only.

    >>> settings = SFTSettings(model_name="student", train_jsonl="train.jsonl", output_dir="sft", max_steps=200)
    >>> result = run_sft(settings)          # saves model + tokenizer + sft_log.jsonl to settings.output_dir

A recipe in four steps: load (model, tokenizer, samples → token ids, tokenized once here), batch (length-bucketed
BatchPlan, SFTTrainer's batch sampler), train (SFTTrainer: AdamW, warm-up + cosine over whichever budget runs out
first, steps or minutes, clipped gradients; a callback writes sft_log.jsonl and stops on the minute budget), save.

Two settings differ from a stock SFTTrainer; bench/sft.py measures both against the hand-written loop this module
ran before (BENCHMARKS.md, "sft", same run, alternated):
- `compute_loss` applies the LM head only at the positions that predict a reply token (the decoder runs once, the
  hidden × vocab matmul, the costliest of a tiny model, skips the prompt). Off-GPU, SFTTrainer's own loss goes
  through TRL's fused, chunked LM head at every position (it keeps only the label positions where Triton runs).
  That was the gap to the hand-written loop (2026-12-02, 2-core CPU, shared, medians of alternated rounds): the
  stock trainer in float32 with its per-step metrics and logging off took 2.33× the loop's step time at the demo's
  192-token prompts and 1.92× at 1,024; with its LM head at the label positions only, 1.21× and 1.05×; this
  trainer 1.06× and 1.25×. bf16 (SFTConfig's default, on CPU too), the entropy / token-accuracy metrics and
  logging every step moved it by less than the noise (SFTConfig's defaults on the same batches: 3.13×, 2.11×).
- bf16=False by default: the student is trained in the float32 it is loaded in, as before; SFTConfig would turn
  autocast on. `SFTSettings.bf16` turns it on where it pays (bench/gpu.py, on a GPU).
"""

from __future__ import annotations

import logging
import math
import random
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tracegym import models
from tracegym.errors import UserError
from tracegym.options import option, positive_float, positive_int
from tracegym.placeholders import check_act_conditioned, delexicalize
from tracegym.samples import read_samples, write_json, write_jsonl
from tracegym.training.prompts import PromptStats, prompt_completion_rows

logger = logging.getLogger(__name__)


@dataclass
class SFTSettings:
    """Everything an SFT run depends on; the CLI flags map one to one onto these fields."""

    model_name: str = option(help="a folder made by `tracegym student`, or a hub model")
    train_jsonl: str = option(help="samples JSONL (messages or prompt, and ground_truth)")
    output_dir: str = option(help="folder to save the trained model and tokenizer to", output="dir")
    max_steps: int | None = option(None, "optimizer steps (default: one epoch)", type=positive_int)
    max_minutes: float | None = option(None, "wall-clock budget: stop cleanly and save when spent", type=positive_float)
    num_train_epochs: float = option(1.0, "passes when --max_steps is unset", type=positive_float)
    learning_rate: float = option(1e-3, "peak learning rate", type=positive_float)
    per_device_train_batch_size: int = option(16, "batch size", type=positive_int)
    max_prompt_length: int = option(1024, "prompt tokens", type=positive_int)
    max_completion_length: int = option(128, "reply tokens incl. end of turn", type=positive_int)
    warmup_ratio: float = option(0.05, "share of steps warming up")
    weight_decay: float = option(0.0, "AdamW weight decay", cli=False)
    max_grad_norm: float = option(1.0, "gradient clipping norm", cli=False)
    logging_steps: int = option(10, "log every N steps", type=positive_int)
    seed: int = option(0, "random seed")
    use_lora: bool = option(False, "train a LoRA adapter (PEFT), save merged weights")
    placeholders: bool = option(
        False, "learn replies with [n] placeholders for the act values (samples prepared with --include_acts)"
    )
    lora_r: int = option(16, "LoRA rank", type=positive_int)
    lora_alpha: int = option(32, "LoRA alpha", type=positive_int)
    show_progress: bool = option(True, "a progress bar on stderr", cli=False)
    bf16: bool = option(False, "bf16 autocast over the float32 weights (a GPU that supports it)", cli=False)

    def __post_init__(self) -> None:
        if self.max_steps is not None and self.max_steps <= 0:
            raise UserError(f"--max_steps {self.max_steps}: must be a positive number of steps")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise UserError(f"--max_minutes {self.max_minutes}: must be a positive number of minutes")


@dataclass
class Example:
    """One training sequence: prompt then reply token ids; the loss covers the reply ids only."""

    prompt_ids: list[int]
    completion_ids: list[int]

    @property
    def length(self) -> int:
        return len(self.prompt_ids) + len(self.completion_ids)


@dataclass
class SFTResult:
    output_dir: str
    steps: int
    stopped_by: str  # "max_steps" or "max_minutes"
    first_loss: float
    final_loss: float
    tokens_per_second: float
    examples: int
    prompts_shortened: int
    system_prompts_cut: int
    last_turns_cut: int  # compact prompts kept whole but for their last user turn's middle
    log: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("log")
        return row


def run_sft(settings: SFTSettings) -> SFTResult:
    """Load, train, save: the whole warm start; returns what happened."""
    samples = read_samples(settings.train_jsonl)  # bad input fails before the heavy imports
    if settings.placeholders:
        check_act_conditioned(samples)
    models.check_model_reference(settings.model_name, "--model_name")
    from transformers import set_seed

    set_seed(settings.seed)
    tokenizer = load_tokenizer(settings.model_name)
    model = load_model(settings.model_name)
    if settings.use_lora:
        model = with_lora(model, settings)
    stats = PromptStats()
    examples = tokenize_examples(samples, tokenizer, settings, stats)
    total_steps = planned_steps(len(examples), settings)
    trainer = build_trainer(model, tokenizer, examples, total_steps, settings)
    trainer.train()
    log, stopped_by = trainer.step_log.records, trainer.step_log.stopped_by
    save(model, tokenizer, settings, log)
    elapsed = sum(record["seconds"] for record in log)
    tokens = sum(record["tokens"] for record in log)
    return SFTResult(
        output_dir=settings.output_dir,
        steps=log[-1]["step"] if log else 0,
        stopped_by=stopped_by,
        first_loss=log[0]["loss"] if log else float("nan"),
        final_loss=log[-1]["loss"] if log else float("nan"),
        tokens_per_second=tokens / elapsed if elapsed else 0.0,
        examples=len(examples),
        prompts_shortened=stats.prompts_shortened,
        system_prompts_cut=stats.system_truncated,
        last_turns_cut=stats.last_turn_cut,
        log=log,
    )


# ---- load -------------------------------------------------------------------------------------------------------


def load_tokenizer(model_name: str) -> Any:
    return models.load_tokenizer(model_name, "--model_name")


def load_model(model_name: str) -> Any:
    import torch

    return models.load_causal_lm(model_name, "--model_name", dtype=torch.float32)


def with_lora(model: Any, settings: SFTSettings) -> Any:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.lora_r, lora_alpha=settings.lora_alpha, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    return get_peft_model(model, config)


def tokenize_examples(samples: list[Any], tokenizer: Any, settings: SFTSettings, stats: PromptStats) -> list[Example]:
    rows = prompt_completion_rows(samples, tokenizer, settings.max_prompt_length, stats)
    if settings.placeholders:
        for row, sample in zip(rows, samples):
            row["completion"] = delexicalize(sample.ground_truth, sample.acts)
    stop = models.end_of_reply_id(tokenizer)
    examples = []
    for row in rows:
        # The rendered prompt already holds <bos> from the template: add no special tokens again.
        prompt_ids = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"][-settings.max_prompt_length :]
        reply_ids = tokenizer(row["completion"], add_special_tokens=False)["input_ids"]
        examples.append(Example(prompt_ids, reply_ids[: settings.max_completion_length - 1] + [stop]))
    return examples


# ---- batch ------------------------------------------------------------------------------------------------------


class BatchPlan:
    """Length-bucketed batches, reshuffled each epoch from the seed: similar lengths share a batch (less padding).

    Examples are shuffled, cut into pools of 50 batches, each pool sorted by length and cut into batches, and the
    batches shuffled, so that a batch is homogeneous in length but the order of lengths is random.
    """

    POOL_BATCHES = 50

    def __init__(self, examples: list[Example], batch_size: int, seed: int) -> None:
        self.examples = examples
        self.batch_size = batch_size
        self.seed = seed

    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.examples) / self.batch_size)

    def epoch(self, epoch_index: int) -> list[list[Example]]:
        rng = random.Random(self.seed * 1_000_003 + epoch_index)
        order = list(range(len(self.examples)))
        rng.shuffle(order)
        pool_size = self.batch_size * self.POOL_BATCHES
        batches = []
        for start in range(0, len(order), pool_size):
            pool = sorted(order[start : start + pool_size], key=lambda i: self.examples[i].length)
            batches += [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        rng.shuffle(batches)
        return [[self.examples[i] for i in batch] for batch in batches]

    def forever(self):
        epoch_index = 0
        while True:
            yield from self.epoch(epoch_index)
            epoch_index += 1


def planned_steps(example_count: int, settings: SFTSettings) -> int:
    if settings.max_steps is not None:
        return settings.max_steps
    return max(1, math.ceil(settings.num_train_epochs * example_count / settings.per_device_train_batch_size))


# ---- train ------------------------------------------------------------------------------------------------------


def learning_rate_at(progress: float, peak: float, warmup_ratio: float) -> float:
    """Linear warm-up over the first `warmup_ratio` of training, then cosine decay to 0; `progress` in [0, 1]."""
    progress = min(max(progress, 0.0), 1.0)
    if warmup_ratio > 0 and progress < warmup_ratio:
        return peak * progress / warmup_ratio
    decay = (progress - warmup_ratio) / max(1e-9, 1.0 - warmup_ratio)
    return peak * 0.5 * (1.0 + math.cos(math.pi * decay))


def training_rows(examples: list[Example]) -> list[dict[str, list[int]]]:
    """TRL's tokenized rows: the whole sequence, and labels that are -100 on the prompt (loss on the reply only)."""
    return [
        {
            "input_ids": example.prompt_ids + example.completion_ids,
            "labels": [-100] * len(example.prompt_ids) + example.completion_ids,
        }
        for example in examples
    ]


def sft_config(settings: SFTSettings, total_steps: int) -> Any:
    """TRL's SFTConfig for this run: the rows come tokenized, the optimizer and schedule from `build_trainer`."""
    from trl import SFTConfig

    return SFTConfig(
        output_dir=settings.output_dir,
        max_steps=total_steps,
        per_device_train_batch_size=settings.per_device_train_batch_size,
        max_grad_norm=settings.max_grad_norm,
        seed=settings.seed,
        # SFTConfig turns bf16 autocast on by default, on CPU too; the student is float32 and stays so unless asked
        # (bf16 did not make a CPU step faster: BENCHMARKS.md, "sft").
        bf16=settings.bf16,
        activation_checkpointing=False,  # TRL's default recomputes activations: slower, and these models are small
        dataset_kwargs={"skip_prepare_dataset": True},
        max_length=None,
        logging_strategy="no",  # sft_log.jsonl is written by step_log_callback, at the steps `logging_steps` asks for
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def build_trainer(model: Any, tokenizer: Any, examples: list[Example], total_steps: int, settings: SFTSettings) -> Any:
    """TRL's SFTTrainer on the length-bucketed batches, with AdamW and the budget-aware schedule of the loop it
    replaced, logging through `step_log_callback` (`trainer.step_log`)."""
    import torch
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    # TRL 1.16 still calls the deprecated `is_gradient_checkpointing` once a step; the warning tells a user nothing.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    # With a step count the schedule follows the steps alone, so the same seed trains the same model however fast
    # the machine is; the minutes then only stop a run that overruns. Without one, the time budget shapes it too.
    schedule = BudgetSchedule(
        total_steps, settings.warmup_ratio, settings.max_minutes, follow_time=settings.max_steps is None
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    batches = BatchPlan(examples, settings.per_device_train_batch_size, settings.seed)
    trainer = _trainer_class()(
        model=model,
        args=sft_config(settings, total_steps),
        train_dataset=Dataset.from_list(training_rows(examples)),
        processing_class=tokenizer,
        optimizers=(optimizer, scheduler),
        batch_plan=batches,
    )
    trainer.pop_callback(PrinterCallback)
    trainer.pop_callback(ProgressCallback)
    trainer.step_log = step_log_callback(trainer, schedule, total_steps, settings)
    trainer.add_callback(trainer.step_log)
    return trainer


def reply_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Mean cross-entropy over the reply tokens (labels not -100): the decoder runs once, and the LM head (hidden ×
    vocab, the costliest matmul of a tiny model) is applied only at the positions that predict a reply token."""
    import torch.nn.functional as F

    decoder = model.get_decoder()
    hidden = decoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    targets = batch["labels"][:, 1:]
    predicts_reply = targets != -100
    logits = model.get_output_embeddings()(hidden[:, :-1][predicts_reply])
    softcap = getattr(model.config, "final_logit_softcapping", None)
    if softcap:
        logits = softcap * (logits / softcap).tanh()
    return F.cross_entropy(logits.float(), targets[predicts_reply])


def _trainer_class() -> Any:
    from torch.utils.data import DataLoader
    from trl import SFTTrainer

    class BucketedSFTTrainer(SFTTrainer):
        """SFTTrainer fed BatchPlan's batches, with the loss taken at the reply positions only (`reply_loss`), which
        keeps each step's loss and token count for the step log."""

        def __init__(self, *args: Any, batch_plan: BatchPlan, **kwargs: Any) -> None:
            self.batch_plan = batch_plan
            self.last_loss = float("nan")
            self.last_tokens = 0
            super().__init__(*args, **kwargs)

        def get_train_dataloader(self) -> Any:
            sampler = EpochBatches(self.batch_plan)
            return DataLoader(self.train_dataset, batch_sampler=sampler, collate_fn=self.data_collator)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            # Off-GPU, SFTTrainer's fused LM head scores every position (the label positions only where Triton
            # runs), which made its step about twice this one's (BENCHMARKS.md, "sft"). One batch a step (no gradient
            # accumulation), so the mean over the batch's reply tokens is the loss.
            return reply_loss(model, inputs)

        def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
            loss = super().training_step(model, inputs, num_items_in_batch)
            self.last_loss = loss.item()
            self.last_tokens = int(inputs["attention_mask"].sum())
            return loss

    return BucketedSFTTrainer


class EpochBatches:
    """A DataLoader batch sampler: the indices of BatchPlan's batches, a new shuffle each time it is iterated."""

    def __init__(self, plan: BatchPlan) -> None:
        self.plan = plan
        self.epochs = 0

    def __len__(self) -> int:
        return self.plan.batches_per_epoch()

    def __iter__(self):
        position = {id(example): index for index, example in enumerate(self.plan.examples)}
        batches = self.plan.epoch(self.epochs)
        self.epochs += 1
        for batch in batches:
            yield [position[id(example)] for example in batch]


class BudgetSchedule:
    """The LambdaLR factor: warm-up then cosine over whichever runs out first, steps or minutes, so a time-boxed run
    warms up and decays within its budget instead of stopping at the peak. The clock starts with `start()`."""

    def __init__(
        self, total_steps: int, warmup_ratio: float, max_minutes: float | None, follow_time: bool = True
    ) -> None:
        self.total_steps = total_steps
        self.warmup_ratio = warmup_ratio
        self.budget_s = max_minutes * 60 if max_minutes else math.inf
        self.follow_time = follow_time  # False: the minutes only stop the run; the schedule follows the steps
        self.began: float | None = None

    def start(self) -> None:
        self.began = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.began if self.began is not None else 0.0

    def out_of_time(self) -> bool:
        return self.elapsed() >= self.budget_s

    def __call__(self, steps_done: int) -> float:
        progress = steps_done / self.total_steps
        if self.follow_time:
            progress = max(progress, self.elapsed() / self.budget_s)
        return learning_rate_at(progress, 1.0, self.warmup_ratio)


def step_log_callback(trainer: Any, schedule: BudgetSchedule, total_steps: int, settings: SFTSettings) -> Any:
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class StepLogCallback(TrainerCallback):
        """The log records (every `logging_steps`, the first and last step, and the step that spent the budget), the
        progress bar, and the stop when the wall-clock budget is spent."""

        def __init__(self, trainer: Any, schedule: BudgetSchedule, total_steps: int, settings: SFTSettings) -> None:
            self.trainer = trainer
            self.schedule = schedule
            self.total_steps = total_steps
            self.logging_steps = settings.logging_steps
            self.records: list[dict[str, Any]] = []
            self.stopped_by = "max_steps"
            self.window = _empty_window()
            self.learning_rate = 0.0
            self.mark = 0.0
            self.bar = tqdm(
                total=total_steps, desc="sft", unit="step", file=sys.stderr, disable=not settings.show_progress
            )

        def on_train_begin(self, args, state, control, **kwargs):
            self.schedule.start()
            self.mark = time.monotonic()

        def on_step_begin(self, args, state, control, **kwargs):
            self.learning_rate = self.trainer.optimizer.param_groups[0]["lr"]

        def on_step_end(self, args, state, control, **kwargs):
            now = time.monotonic()
            step = state.global_step
            self.window["loss"] += self.trainer.last_loss
            self.window["steps"] += 1
            self.window["tokens"] += self.trainer.last_tokens
            self.window["seconds"] += now - self.mark
            self.mark = now
            out_of_time = self.schedule.out_of_time()
            if step % self.logging_steps == 0 or step == self.total_steps or step == 1 or out_of_time:
                self.records.append(_log_record(step, self.window, self.learning_rate))
                last = self.records[-1]
                self.bar.set_postfix(loss=f"{last['loss']:.3f}", tok_s=f"{last['tokens_per_second']:.0f}")
                self.window = _empty_window()
            self.bar.update(1)
            if out_of_time and step < self.total_steps:
                self.stopped_by = "max_minutes"
                control.should_training_stop = True

        def on_train_end(self, args, state, control, **kwargs):
            self.bar.close()

    return StepLogCallback(trainer, schedule, total_steps, settings)


def _empty_window() -> dict[str, float]:
    return {"loss": 0.0, "steps": 0, "tokens": 0, "seconds": 0.0}


def _log_record(step: int, window: dict[str, float], learning_rate: float) -> dict[str, Any]:
    return {
        "step": step,
        "loss": round(window["loss"] / window["steps"], 6),
        "learning_rate": learning_rate,
        "tokens": int(window["tokens"]),
        "seconds": round(window["seconds"], 4),
        "tokens_per_second": round(window["tokens"] / window["seconds"], 1) if window["seconds"] else 0.0,
    }


# ---- save -------------------------------------------------------------------------------------------------------


def save(model: Any, tokenizer: Any, settings: SFTSettings, log: list[dict[str, Any]]) -> None:
    """Full weights + tokenizer in `output_dir` (a LoRA run is merged first, so the folder loads like a model)."""
    output_dir = Path(settings.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if settings.use_lora:
        model = model.merge_and_unload()
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    write_jsonl(output_dir / "sft_log.jsonl", log)
    write_json(output_dir / "sft_settings.json", asdict(settings))
