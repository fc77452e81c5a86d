"""SFT throughput on CPU: our reply-only LM head vs full logits vs TRL's SFTTrainer (completion-only loss).

Same student (built here by `tracegym student` code on the bundled SGD sample, default size), same samples, same
batch size, same number of steps, same seed, one process, one after the other. Prints seconds per step and tokens
per second (non-padding tokens of the batches) for each, and the step-1 loss of the two own paths (they must agree).

    python bench/sft.py                      # 20 steps each, batch 16
    python bench/sft.py --steps 10 --threads 1
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--max_prompt_length", type=int, default=1024)
    parser.add_argument("--max_completion_length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--sgd_root", default=None, help="SGD clone (default: the bundled sample)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench_sft_"))
    samples_path, student_dir, parameters = build_data_and_student(work, args.sgd_root)
    print(
        f"student: {parameters:,} parameters; torch threads {torch.get_num_threads()}; "
        f"load average before: {os.getloadavg()[0]:.1f}"
    )

    results = {
        "ours (LM head at reply positions only)": run_own(samples_path, student_dir, args, "reply"),
        "ours, full logits (model(labels=...))": run_own(samples_path, student_dir, args, "full"),
        "TRL SFTTrainer (completion_only_loss)": run_trl(samples_path, student_dir, args, work),
    }
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    base = results["ours (LM head at reply positions only)"]["seconds_per_step"]
    for name, figures in results.items():
        ratio = figures["seconds_per_step"] / base
        print(
            f"{name:42s} {figures['seconds_per_step']:7.2f} s/step  {figures['tokens_per_second']:8.0f} tokens/s  "
            f"{ratio:5.2f}× the fast path's time  first loss {figures['first_loss']:.4f}"
        )
    print(json.dumps(results))


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


def sft_settings(samples_path: Path, student_dir: Path, args: argparse.Namespace, output_dir: Path):
    from tracegym.training.sft import SFTSettings

    return SFTSettings(
        model_name=str(student_dir),
        train_jsonl=str(samples_path),
        output_dir=str(output_dir),
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        max_prompt_length=args.max_prompt_length,
        max_completion_length=args.max_completion_length,
        logging_steps=1,
        show_progress=False,
    )


def run_own(samples_path: Path, student_dir: Path, args: argparse.Namespace, head: str) -> dict:
    import torch
    from transformers import set_seed

    from tracegym.samples import read_samples
    from tracegym.training import sft
    from tracegym.training.prompts import PromptStats

    settings = sft_settings(samples_path, student_dir, args, student_dir.parent / f"own_{head}")
    set_seed(settings.seed)
    tokenizer, model = sft.load_tokenizer(settings.model_name), sft.load_model(settings.model_name)
    examples = sft.tokenize_examples(read_samples(samples_path), tokenizer, settings, PromptStats())
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate)
    loss_fn = sft.reply_loss if head == "reply" else sft.full_logits_loss
    batches = sft.BatchPlan(examples, args.batch_size, settings.seed)
    log, _ = sft.train_loop(model, tokenizer, batches, optimizer, args.steps, settings, loss_fn=loss_fn)
    seconds = sum(r["seconds"] for r in log)
    return {
        "seconds_per_step": seconds / args.steps,
        "tokens_per_second": sum(r["tokens"] for r in log) / seconds,
        "first_loss": log[0]["loss"],
        "last_loss": log[-1]["loss"],
    }


def run_trl(samples_path: Path, student_dir: Path, args: argparse.Namespace, work: Path) -> dict:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from tracegym.samples import read_samples
    from tracegym.training.prompts import prompt_completion_rows

    tokenizer = AutoTokenizer.from_pretrained(student_dir)
    model = AutoModelForCausalLM.from_pretrained(student_dir)
    rows = prompt_completion_rows(read_samples(samples_path), tokenizer, args.max_prompt_length)
    dataset = Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])
    config = SFTConfig(
        output_dir=str(work / "trl"),
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=1e-3,
        lr_scheduler_type="cosine",
        warmup_steps=math.ceil(0.05 * args.steps),
        max_grad_norm=1.0,
        logging_steps=1,
        completion_only_loss=True,
        max_length=args.max_prompt_length + args.max_completion_length,
        # TRL turns activation checkpointing on by default; ours recomputes nothing, so neither does TRL here.
        gradient_checkpointing=False,
        report_to="none",
        save_strategy="no",
        seed=0,
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    timer = step_timer()
    trainer.add_callback(timer)
    trainer.train()
    seconds = sum(timer.seconds)
    steps = [entry for entry in trainer.state.log_history if "loss" in entry]
    losses = [float(entry["loss"]) for entry in steps]
    return {
        "seconds_per_step": seconds / args.steps,
        # TRL's own count of the non-padding tokens it trained on, as ours counts them.
        "tokens_per_second": float(steps[-1]["num_tokens"]) / seconds,
        "first_loss": losses[0],
        "last_loss": losses[-1],
    }


def step_timer():
    """A TRL/transformers callback that records the wall time of each optimizer step (step begin to step end)."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self._started = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self._started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.seconds.append(time.perf_counter() - self._started)

    return StepTimer()


if __name__ == "__main__":
    main()
