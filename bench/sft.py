"""SFT step time on CPU: the hand-written loop tracegym used until issue 11 vs TRL's SFTTrainer, like for like.

Both sides train the same student (built here by `tracegym student` code on the bundled SGD sample), from the same
initial weights, on the same batches in the same order (the own loop's length-bucketed batches, fed to TRL through a
pre-tokenized dataset and its sequential sampler), right-padded to the longest row of each batch, with the loss on
the same reply tokens (prompt tokens masked: TRL's `completion_mask`), gradient checkpointing off, same optimizer
settings. Tokenizing happens once, before any timing; only training steps are timed.

TRL is run in several configurations, each switching one more of its per-step extras off, so that the gap to the own
loop is attributed switch by switch:

    trl_old_bench   the previous benchmark's setup itself: as trl_as_before, but SFTTrainer tokenizes the rendered
                    prompt / reply text and draws random batches (no length bucketing: other batches, more padding;
                    its tokens/s column counts the fixed batches' tokens and is not comparable)
    trl_as_before   SFTTrainer as the previous benchmark ran it: SFTConfig's defaults (bf16 mixed precision is on
                    by default, also on CPU), logging every step; its fused LM head scores every position off-GPU
    trl_fp32        + bf16=False (float32, like the own loop)
    trl_no_metrics  + no entropy / token-accuracy per step (SFTTrainer has no switch for them: a subclass reinstalls
                    the fused LM head with log-probabilities only and drops the metric lines of compute_loss)
    trl_lean        + logging_steps large (the metrics are still gathered each step; this only skips the log calls)
    trl_reply_only  + the fused LM head scores only the reply positions, as it does on a GPU (TRL's `compact` path;
                    off-GPU it scores every position)
    tracegym_sft    what `tracegym sft` runs now: `tracegym.training.sft.build_trainer`, an SFTTrainer subclass in
                    float32 whose compute_loss applies the LM head at the reply positions only (no metrics), with
                    Trainer logging off and the step log written by a callback

The own loop ("own") is the loop `tracegym sft` ran before it moved to TRL, kept here as the baseline: the decoder
once, the LM head at the reply positions only, AdamW, the same warm-up + cosine schedule, clipped gradients.

Each round runs the own loop, every TRL configuration (in alternating order: reversed every other round), and the own
loop again, each for `--steps` steps; a configuration's figure for the round is its median step time (step 1 left
out as warm-up) divided by the mean of the own loop's two medians in that round (first and last, so that a load
that changes through the round weighs on both sides). The figure reported is the median of those ratios across rounds. The machine is
shared: ratios from the same round are what count, the absolute seconds are for context.

    python bench/sft.py                                  # 3 rounds × 5 steps, all configurations
    python bench/sft.py --max_prompt_length 192          # the demo's prompt length
    python bench/sft.py --rounds 5 --steps 8 --threads 1 --configs trl_fp32 trl_lean
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OWN = "own"
PRODUCT = "tracegym_sft"


@dataclass(frozen=True)
class TrlSwitches:
    """What a TRL configuration leaves on: each field is one of the per-step costs the own loop does not have."""

    bf16: bool
    metrics: bool
    logging_steps: int
    all_positions: bool
    old_data: bool = False  # the previous benchmark's data path: TRL tokenizes prompt/completion text, random batches


CONFIGS: dict[str, TrlSwitches] = {
    "trl_old_bench": TrlSwitches(bf16=True, metrics=True, logging_steps=1, all_positions=True, old_data=True),
    "trl_as_before": TrlSwitches(bf16=True, metrics=True, logging_steps=1, all_positions=True),
    "trl_fp32": TrlSwitches(bf16=False, metrics=True, logging_steps=1, all_positions=True),
    "trl_no_metrics": TrlSwitches(bf16=False, metrics=False, logging_steps=1, all_positions=True),
    "trl_lean": TrlSwitches(bf16=False, metrics=False, logging_steps=10_000, all_positions=True),
    "trl_reply_only": TrlSwitches(bf16=False, metrics=False, logging_steps=10_000, all_positions=False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="steps per run (the first is left out as warm-up)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--configs", nargs="+", default=[*CONFIGS, PRODUCT], choices=[*CONFIGS, PRODUCT])
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--max_prompt_length", type=int, default=1024)
    parser.add_argument("--max_completion_length", type=int, default=128)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (0: torch's own); 1 is steadier on a shared machine"
    )
    parser.add_argument("--sgd_root", default=None, help="SGD clone (default: the bundled sample)")
    args = parser.parse_args()
    if args.steps < 2:
        parser.error("--steps must be at least 2 (step 1 is warm-up)")

    import datasets
    import torch

    datasets.disable_progress_bars()
    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench_sft_"))
    samples_path, student_dir, parameters = build_data_and_student(work, args.sgd_root)
    batches, pad_id = fixed_batches(samples_path, student_dir, args)
    tokens = [sum(example.length for example in batch) for batch in batches]
    widths = [max(example.length for example in batch) for batch in batches]
    print(
        f"student: {parameters:,} parameters; torch {torch.__version__}, threads {torch.get_num_threads()}; "
        f"{len(batches)} batches of {args.batch_size}: {statistics.mean(tokens):.0f} non-padding tokens and "
        f"{statistics.mean(widths):.0f} columns on average; load average before: {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    names = [OWN, *args.configs]
    per_round: list[dict[str, dict[str, Any]]] = []
    for round_index in range(args.rounds):
        # The own loop runs first and last in each round (its two medians averaged), so that a load that rises or
        # falls through the round weighs on the baseline as on the configurations in between.
        order = args.configs if round_index % 2 == 0 else args.configs[::-1]
        figures: dict[str, dict[str, Any]] = {}
        for position, name in enumerate([OWN, *order, OWN]):
            load = os.getloadavg()[0]
            if name == OWN:
                run = run_own(student_dir, batches, pad_id, args)
            elif name == PRODUCT:
                run = run_product(student_dir, batches, args)
            else:
                run = run_trl(student_dir, batches, args, work, CONFIGS[name], samples_path)
            run["load"] = load
            print(
                f"round {round_index + 1} {name:15s} median {run['median_s']:6.2f} s/step "
                f"(steps {', '.join(f'{s:.2f}' for s in run['step_seconds'])}) load {load:.1f}",
                flush=True,
            )
            if name == OWN and position > 0:
                first = figures[OWN]
                run = {**first, "median_s": (first["median_s"] + run["median_s"]) / 2, "bracket": [first, run]}
            figures[name] = run
        per_round.append(figures)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print_table(names, per_round, tokens)
    print(json.dumps({"args": vars(args), "rounds": per_round}))


def build_data_and_student(work: Path, sgd_root: str | None) -> tuple[Path, Path, int]:
    from tracegym.samples import write_jsonl
    from tracegym.traces.compile import compile_sgd
    from tracegym.traces.sgd import bundled_sgd_root
    from tracegym.training.student import StudentConfig, build_student, texts_of_samples

    rows = [sample.to_dict() for sample in compile_sgd(sgd_root or bundled_sgd_root(), "train")]
    samples_path = work / "train.jsonl"
    write_jsonl(samples_path, rows)
    summary = build_student(texts_of_samples(rows), StudentConfig(out_dir=str(work / "student")))
    return samples_path, work / "student", summary.parameters


def sft_settings(student_dir: Path, args: argparse.Namespace, samples_path: Path | str = "") -> Any:
    from tracegym.training.sft import SFTSettings

    return SFTSettings(
        model_name=str(student_dir),
        train_jsonl=str(samples_path),
        output_dir=str(student_dir.parent / "own"),
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        max_prompt_length=args.max_prompt_length,
        max_completion_length=args.max_completion_length,
        logging_steps=1,
        show_progress=False,
    )


def fixed_batches(samples_path: Path, student_dir: Path, args: argparse.Namespace) -> tuple[list[list[Any]], int]:
    """The own loop's first full batches (tokenized once): both sides train on exactly these, in this order."""
    from tracegym.samples import read_samples
    from tracegym.training import sft
    from tracegym.training.prompts import PromptStats

    settings = sft_settings(student_dir, args, samples_path)
    tokenizer = sft.load_tokenizer(settings.model_name)
    examples = sft.tokenize_examples(read_samples(samples_path), tokenizer, settings, PromptStats())
    stream = sft.BatchPlan(examples, args.batch_size, settings.seed).forever()
    batches: list[list[Any]] = []
    while len(batches) < args.steps:
        batch = next(stream)
        if len(batch) == args.batch_size:  # a short batch would shift the sequential sampler's cut
            batches.append(batch)
    return batches, tokenizer.pad_token_id


class FixedBatches:
    """Stands in for sft.BatchPlan: the given batches, in order, every epoch."""

    def __init__(self, batches: list[list[Any]]) -> None:
        self.batches = batches
        self.examples = [example for batch in batches for example in batch]

    def batches_per_epoch(self) -> int:
        return len(self.batches)

    def epoch(self, epoch_index: int) -> list[list[Any]]:
        return self.batches

    def forever(self):
        while True:
            yield from self.batches


def run_own(student_dir: Path, batches: list[list[Any]], pad_id: int, args: argparse.Namespace) -> dict[str, Any]:
    """The pre-TRL loop of `tracegym sft`: per step, set the learning rate, collate, loss, backward, clip, step."""
    import torch
    from transformers import set_seed

    from tracegym.training import sft

    settings = sft_settings(student_dir, args)
    set_seed(settings.seed)
    model = sft.load_model(settings.model_name)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    model.train()
    stream = FixedBatches(batches).forever()
    seconds, losses = [], []
    for step in range(1, args.steps + 1):
        started = time.perf_counter()
        learning_rate = sft.learning_rate_at((step - 1) / args.steps, settings.learning_rate, settings.warmup_ratio)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate
        batch = collate(next(stream), pad_id)
        loss = reply_loss(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        seconds.append(time.perf_counter() - started)
    return figures_of(seconds, losses)


def collate(batch: list[Any], pad_id: int) -> dict[str, Any]:
    """Right-padded ids, attention mask, and `target_mask[b, t]`: position t predicts reply token input_ids[b, t+1]."""
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


def reply_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Mean cross-entropy over the reply tokens, with the LM head applied at those positions only."""
    import torch.nn.functional as F

    hidden = model.get_decoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    target_mask = batch["target_mask"][:, :-1]
    targets = batch["input_ids"][:, 1:][target_mask]
    logits = model.get_output_embeddings()(hidden[:, :-1][target_mask])
    softcap = getattr(model.config, "final_logit_softcapping", None)
    if softcap:
        logits = softcap * (logits / softcap).tanh()
    return F.cross_entropy(logits.float(), targets)


def run_product(student_dir: Path, batches: list[list[Any]], args: argparse.Namespace) -> dict[str, Any]:
    """`tracegym sft`'s trainer (`sft.build_trainer`) on the same batches; its step log gives one record a step."""
    from transformers import set_seed

    from tracegym.training import sft

    settings = sft_settings(student_dir, args)
    set_seed(settings.seed)
    tokenizer, model = sft.load_tokenizer(settings.model_name), sft.load_model(settings.model_name)
    plan = FixedBatches(batches)
    trainer = sft.build_trainer(model, tokenizer, plan.examples, args.steps, settings)
    trainer.batch_plan = plan
    trainer.train()
    records = trainer.step_log.records
    return figures_of([r["seconds"] for r in records], [r["loss"] for r in records])


def run_trl(
    student_dir: Path,
    batches: list[list[Any]],
    args: argparse.Namespace,
    work: Path,
    switches: TrlSwitches,
    samples_path: Path,
) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import set_seed
    from trl import SFTConfig

    from tracegym.training import sft

    set_seed(0)
    tokenizer, model = sft.load_tokenizer(str(student_dir)), sft.load_model(str(student_dir))
    rows = [
        {
            "input_ids": example.prompt_ids + example.completion_ids,
            "completion_mask": [0] * len(example.prompt_ids) + [1] * len(example.completion_ids),
        }
        for batch in batches
        for example in batch
    ]
    config = SFTConfig(
        output_dir=str(work / "trl"),
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=1e-3,
        lr_scheduler_type="cosine",
        warmup_steps=0.05,  # a float below 1: a fraction of the steps, as the own loop's warmup_ratio
        weight_decay=0.0,
        max_grad_norm=1.0,
        completion_only_loss=True,
        max_length=args.max_prompt_length + args.max_completion_length,
        # the rows are already in the own loop's batch order (old_data: TRL's random sampler, as before)
        train_sampling_strategy="random" if switches.old_data else "sequential",
        activation_checkpointing=False,  # the own loop recomputes nothing
        bf16=switches.bf16,
        logging_steps=switches.logging_steps,
        report_to="none",
        save_strategy="no",
        eval_strategy="no",
        seed=0,
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
        include_num_input_tokens_seen="no",
    )
    if switches.old_data:
        rows = old_bench_rows(samples_path, tokenizer, args)
    timer = step_timer()
    trainer = trl_trainer_class(switches.metrics)(
        model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tokenizer, callbacks=[timer]
    )
    with scoring_every_position(switches.all_positions):
        trainer.train()
    losses = [float(entry["loss"]) for entry in trainer.state.log_history if "loss" in entry]
    return figures_of(timer.seconds, losses)


def old_bench_rows(samples_path: Path, tokenizer: Any, args: argparse.Namespace) -> list[dict[str, str]]:
    """The previous benchmark's TRL input: rendered prompt and reply as text, tokenized by SFTTrainer itself."""
    from tracegym.samples import read_samples
    from tracegym.training.prompts import prompt_completion_rows

    rows = prompt_completion_rows(read_samples(samples_path), tokenizer, args.max_prompt_length)
    return [{"prompt": row["prompt"], "completion": row["completion"]} for row in rows]


def trl_trainer_class(metrics: bool) -> Any:
    """SFTTrainer itself, or (metrics=False) a subclass without its per-step entropy / token-accuracy metrics."""
    import torch
    from trl import SFTTrainer
    from trl.trainer.utils import add_fused_lm_head

    if metrics:
        return SFTTrainer

    class SFTTrainerWithoutMetrics(SFTTrainer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            del self.model.forward  # SFTTrainer's fused head with entropy and is_top1: back to the class's forward
            add_fused_lm_head(self.model, outputs=("log_probs",))

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            outputs = model(**inputs, use_cache=False, fused_lm_head=True)
            num_tokens = outputs.label_mask.sum() if num_items_in_batch is None else num_items_in_batch
            return -outputs.log_probs.sum() / torch.as_tensor(num_tokens).clamp(min=1)

    return SFTTrainerWithoutMetrics


def scoring_every_position(all_positions: bool) -> contextlib.AbstractContextManager:
    """TRL's fused LM head scores only the label positions where Triton runs (GPU), every position elsewhere; with
    all_positions=False it takes the GPU's path (`compact`) on CPU too, in torch, as `tracegym train` does."""
    from tracegym.training.cpu_logprobs import completion_tokens_only

    return contextlib.nullcontext() if all_positions else completion_tokens_only()


def step_timer() -> Any:
    """A Trainer callback: the wall time from one step's end to the next (the batch fetch and collation included,
    as in the own loop's step time), the first step from its own begin."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self._mark = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            if not self.seconds and not self._mark:
                self._mark = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            now = time.perf_counter()
            self.seconds.append(now - self._mark)
            self._mark = now

    return StepTimer()


def figures_of(step_seconds: list[float], losses: list[float]) -> dict[str, Any]:
    return {
        "median_s": statistics.median(step_seconds[1:]),
        "step_seconds": [round(s, 3) for s in step_seconds],
        "first_loss": losses[0] if losses else float("nan"),
    }


def print_table(names: list[str], per_round: list[dict[str, dict[str, Any]]], tokens: list[int]) -> None:
    mean_tokens = statistics.mean(tokens[1:])
    print("| path | median s/step | tokens/s | × own loop, per round | × own loop (median) | step-1 loss |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in names:
        seconds = statistics.median(r[name]["median_s"] for r in per_round)
        ratios = [r[name]["median_s"] / r[OWN]["median_s"] for r in per_round]
        print(
            f"| {name} | {seconds:.2f} | {mean_tokens / seconds:,.0f} | {' / '.join(f'{x:.2f}' for x in ratios)} | "
            f"{statistics.median(ratios):.2f}× | {per_round[0][name]['first_loss']:.4f} |"
        )


if __name__ == "__main__":
    main()
