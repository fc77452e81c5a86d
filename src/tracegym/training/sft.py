"""Supervised warm start: prompt → ground_truth + end-of-turn, with the loss on the reply only.

    >>> settings = SFTSettings(model_name="student", train_jsonl="train.jsonl", output_dir="sft", max_steps=200)
    >>> result = run_sft(settings)          # saves model + tokenizer + sft_log.jsonl to settings.output_dir

A recipe in four steps: load (model, tokenizer, samples → token ids), batch (length-bucketed), train (AdamW,
warmup + cosine, clipped gradients), save. The loss is computed the fast way: the decoder runs once to give hidden
states, and the LM head (hidden × vocab, the costliest matmul of a tiny model) is applied only at the positions
that predict a reply token, instead of at every prompt position too. bench/sft.py measures this against full
logits and against TRL's SFTTrainer on the same data (BENCHMARKS.md, "sft").
"""

from __future__ import annotations

import logging
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tracegym import models
from tracegym.errors import UserError
from tracegym.placeholders import check_act_conditioned, delexicalize
from tracegym.samples import read_samples, write_json, write_jsonl
from tracegym.training.prompts import PromptStats, prompt_completion_rows

logger = logging.getLogger(__name__)


@dataclass
class SFTSettings:
    """Everything an SFT run depends on; the CLI flags map one to one onto these fields."""

    model_name: str
    train_jsonl: str
    output_dir: str
    max_steps: int | None = None  # None: one pass over the data (num_train_epochs)
    max_minutes: float | None = None  # wall-clock budget: stop cleanly and save when spent
    num_train_epochs: float = 1.0
    learning_rate: float = 1e-3
    per_device_train_batch_size: int = 16
    max_prompt_length: int = 1024
    max_completion_length: int = 128
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    logging_steps: int = 10
    seed: int = 0
    use_lora: bool = False
    placeholders: bool = False  # learn delexicalised replies ([n] placeholders); needs act-conditioned samples
    lora_r: int = 16
    lora_alpha: int = 32
    show_progress: bool = True

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
    import torch
    from transformers import set_seed

    set_seed(settings.seed)
    tokenizer = load_tokenizer(settings.model_name)
    model = load_model(settings.model_name)
    if settings.use_lora:
        model = with_lora(model, settings)
    stats = PromptStats()
    examples = tokenize_examples(samples, tokenizer, settings, stats)
    total_steps = planned_steps(len(examples), settings)
    batches = BatchPlan(examples, settings.per_device_train_batch_size, settings.seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    log, stopped_by = train_loop(model, tokenizer, batches, optimizer, total_steps, settings)
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


def collate(batch: list[Example], pad_id: int) -> dict[str, Any]:
    """Right-padded ids, attention mask, and the reply targets: `target_mask[b, t]` says position t predicts a
    reply token, which is `input_ids[b, t + 1]`."""
    import torch

    width = max(example.length for example in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
    target_mask = torch.zeros((len(batch), width), dtype=torch.bool)
    for row, example in enumerate(batch):
        ids = example.prompt_ids + example.completion_ids
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention_mask[row, : len(ids)] = 1
        first_target = len(example.prompt_ids) - 1
        target_mask[row, first_target : first_target + len(example.completion_ids)] = True
    return {"input_ids": input_ids, "attention_mask": attention_mask, "target_mask": target_mask}


# ---- train ------------------------------------------------------------------------------------------------------


def learning_rate_at(progress: float, peak: float, warmup_ratio: float) -> float:
    """Linear warm-up over the first `warmup_ratio` of training, then cosine decay to 0; `progress` in [0, 1]."""
    progress = min(max(progress, 0.0), 1.0)
    if warmup_ratio > 0 and progress < warmup_ratio:
        return peak * progress / warmup_ratio
    decay = (progress - warmup_ratio) / max(1e-9, 1.0 - warmup_ratio)
    return peak * 0.5 * (1.0 + math.cos(math.pi * decay))


def reply_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Mean cross-entropy over the reply tokens, with the LM head applied at those positions only."""
    import torch.nn.functional as F

    decoder = model.get_decoder()
    hidden = decoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    target_mask = batch["target_mask"]
    targets = batch["input_ids"][:, 1:][target_mask[:, :-1]]
    logits = model.get_output_embeddings()(hidden[:, :-1][target_mask[:, :-1]])
    softcap = getattr(model.config, "final_logit_softcapping", None)
    if softcap:
        logits = softcap * (logits / softcap).tanh()
    return F.cross_entropy(logits.float(), targets)


def full_logits_loss(model: Any, batch: dict[str, Any]) -> Any:
    """The same loss through the model's own forward (logits at every position); the benchmark's baseline."""
    labels = batch["input_ids"].clone()
    labels[:, 1:][~batch["target_mask"][:, :-1]] = -100
    labels[:, 0] = -100
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss


def train_loop(
    model: Any,
    tokenizer: Any,
    batches: BatchPlan,
    optimizer: Any,
    total_steps: int,
    settings: SFTSettings,
    loss_fn: Any = reply_loss,
) -> tuple[list[dict[str, Any]], str]:
    """Train until `total_steps` or the wall-clock budget; returns the log records and what stopped training.

    The learning-rate schedule follows whichever runs out first, steps or minutes, so a time-boxed run warms up
    and decays within its budget instead of stopping at the peak.
    """
    import torch
    from tqdm.auto import tqdm

    model.train()
    budget_s = settings.max_minutes * 60 if settings.max_minutes else math.inf
    began = time.monotonic()
    deadline = began + budget_s
    log: list[dict[str, Any]] = []
    window = {"loss": 0.0, "steps": 0, "tokens": 0, "seconds": 0.0}
    stopped_by = "max_steps"
    bar = tqdm(total=total_steps, desc="sft", unit="step", file=sys.stderr, disable=not settings.show_progress)
    batch_stream = batches.forever()
    for step in range(1, total_steps + 1):
        started = time.monotonic()
        progress = max((step - 1) / total_steps, (started - began) / budget_s)
        learning_rate = learning_rate_at(progress, settings.learning_rate, settings.warmup_ratio)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate
        batch = collate(next(batch_stream), tokenizer.pad_token_id)
        loss = loss_fn(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        window["loss"] += loss.item()
        window["steps"] += 1
        window["tokens"] += int(batch["attention_mask"].sum())
        window["seconds"] += time.monotonic() - started
        out_of_time = time.monotonic() >= deadline
        if step % settings.logging_steps == 0 or step == total_steps or step == 1 or out_of_time:
            log.append(_log_record(step, window, learning_rate))
            bar.set_postfix(loss=f"{log[-1]['loss']:.3f}", tok_s=f"{log[-1]['tokens_per_second']:.0f}")
            window = {"loss": 0.0, "steps": 0, "tokens": 0, "seconds": 0.0}
        bar.update(1)
        if out_of_time and step < total_steps:
            stopped_by = "max_minutes"
            break
    bar.close()
    return log, stopped_by


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
