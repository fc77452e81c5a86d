"""The GPU loop in one command: the demo's recipe with a 32.5M-parameter student on one CUDA device, measured.

    python bench/gpu.py [--out_dir bench/out/gpu] [--sgd_root SGD] [--finetune full lora] [--smoke]
    bench/gpu.sh OUT_DIR            # the same on a GPU machine that lacks trl/datasets (docs/GPU.md)

It runs `tracegym demo`'s own stages (src/tracegym/demo.py: prepare, student, SFT, focus, GRPO, eval) with the
demo's data (the bundled train split, 22,939 turns less the validation slice) and framing (`compact`: the service,
the reference acts and the last user turn, [n] placeholders, constrained decoding), the offline act judge as reward
and as the eval judge, the demo's prompt and reply caps (128 and 40 tokens), and changes only the sizes (the
figures below were estimated for the demo before issue #13, on 753 train turns and 192-token prompts):

- student: Gemma-3 text, hidden 512, 8 layers, 8 heads (2 key/value), MLP 2048, tied embedding, the tokenizer
  trained on the traces as in the demo: 32.5M parameters with the bundled sample's 4,087-token vocabulary
  (more with --sgd_root's, at most 6,000), about 20× the demo's 1.5M;
- SFT: batch 32, 300 steps, lr 5e-4, bf16 autocast: 9,600 examples, under half a pass over the train turns (the
  demo's 1,500 × 16 are about one; the demo's lr 1e-3 is for a model 20× smaller);
- GRPO, once as a full fine-tune (lr 3e-5) and once with LoRA (r 16, all linear layers, lr 3e-4, the usual ×10),
  each 100 steps of 16 prompts × 8 replies in one micro-batch, bf16, no checkpoints: the demo's step is
  8 prompts × 8 replies in 8 micro-batches, which a GPU runs no faster than one batch of twice the prompts;
- eval: at most 1,000 held-out dev + test turns (a seeded shuffle of the bundled held-out split's 2,981 or of a
  full SGD's), greedy, batch 64, base vs each trained student, as the demo does.

Why these step counts: nothing here has run on a GPU yet (docs/GPU.md), so they are estimates, and each stage has
a minute cap (the demo's safety caps) that bounds the run even if the estimates are off by 2×. On one H200:
start-up (imports, CUDA) about 20 s; prepare and the student about 5 s each (CPU; the smoke run's 5 s and 1.5 s on
the 2-core machine, plus a bigger model to write); a 32.5M-model SFT step on 32 × ~230 tokens is launch-bound,
about 50-100 ms, so 300 steps take 15-30 s (cap 1.5 min); a GRPO step is mostly HF `generate` of 128 replies × 40
tokens (40 decoding steps of ~15-25 ms for 8 layers and the placeholder constraint), then a policy and a reference
forward and one backward, and the act judge on the CPU (0.05-0.09 s for 64 replies on the 2-core machine, so
about 0.1-0.2 s for 128): about 1-1.5 s, so 100 steps take 100-150 s, capped at 1.75 min each; eval is 2 × 9
batches of 64 prompts × 40 tokens, about 30-45 s each (two generations, the judge, the bootstrap CIs, the plots).
Total about 6.5 min expected, 7.2 at the caps (SFT 1.5 min, each GRPO run 1.75 min plus the step that passes it):
inside 8 minutes, so a rerun fits a 15-minute window. With --sgd_root (a full SGD) prepare, the tokenizer and
eval grow with the data, and the 8 minutes do not hold.

Written: OUT_DIR/gpu.json (below), and the demo's own files (train.jsonl, eval.jsonl, student/, base/,
trained-full/ and trained-lora/ run dirs, eval-full/ and eval-lora/ reports). The JSON holds the parameter count,
SFT tokens/s, GRPO steps/s and generation tokens/s, the reward's share of GRPO's time, peak GPU memory
(`torch.cuda.max_memory_allocated`, per stage and overall), each stage's wall time, the eval figures (the act
judge's Δ with its paired-bootstrap 95% CI, the share of replies it finds acceptable, score ≥ 0.7, sacrebleu's
corpus BLEU, the broken-text rate), the versions of torch, transformers, trl, peft and the GPU's name.

Without CUDA it refuses (exit 2, one `error:` line) unless given --smoke: every stage at toy size (a 0.4M student,
a few steps, four eval prompts) on the CPU, or on the GPU when there is one, writing the same keys
(tests/test_bench_gpu.py runs it, so the GPU path cannot rot unseen).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

PROCESS_STARTED = time.perf_counter()
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the GPU machine reaches no network; nothing here needs the hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tracegym import demo as demo_recipe  # noqa: E402
from tracegym.errors import UserError  # noqa: E402
from tracegym.samples import write_json  # noqa: E402

OUT = Path(__file__).resolve().parent / "out" / "gpu"
ACCEPTABLE_SCORE = 0.7  # the act judge's calibration target: ≥ 98% of SGD's own replies score at least this
FINETUNES = ("full", "lora")
NEEDED_PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "sacrebleu", "tokenizers")
# TRL's profiling names (trl.extras.profiling) of the two blocks the figures need.
GENERATE_BLOCK = "GRPOTrainer.transformers.generate"
REWARD_BLOCK = "GRPOTrainer._calculate_rewards"


@dataclass(frozen=True)
class Scale:
    """Every size the benchmark sets; the rest is the demo's recipe."""

    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    sft_steps: int
    sft_minutes: float
    sft_batch_size: int
    sft_learning_rate: float
    grpo_steps: int
    grpo_minutes: float
    grpo_prompts: int  # prompts a step; each gets `num_generations` replies, all in one micro-batch
    num_generations: int
    full_learning_rate: float
    lora_learning_rate: float
    max_completion_length: int
    train_dialogues: int | None  # None: every train dialogue, as the demo
    focus_pool: int  # train turns the SFT base answers before GRPO picks those it gets wrong (demo --focus_pool)
    validation_prompts: int  # the gaming alarm's slice of train turns (demo --validation_prompts)
    eval_n: int  # held-out turns, the first of a seeded shuffle (all of them when there are fewer)
    eval_batch_size: int


GPU = Scale(
    hidden_size=512,
    num_layers=8,
    num_heads=8,
    num_kv_heads=2,
    sft_steps=300,
    sft_minutes=1.5,
    sft_batch_size=32,
    sft_learning_rate=5e-4,
    grpo_steps=100,
    grpo_minutes=1.75,
    grpo_prompts=16,
    num_generations=8,
    full_learning_rate=3e-5,
    lora_learning_rate=3e-4,
    max_completion_length=40,
    train_dialogues=None,
    focus_pool=2000,
    validation_prompts=600,
    eval_n=1000,
    eval_batch_size=64,
)
SMOKE = Scale(
    hidden_size=64,
    num_layers=2,
    num_heads=2,
    num_kv_heads=1,
    sft_steps=4,
    sft_minutes=2.0,
    sft_batch_size=8,
    sft_learning_rate=1e-3,
    grpo_steps=2,
    grpo_minutes=2.0,
    grpo_prompts=2,
    num_generations=4,
    full_learning_rate=5e-5,
    lora_learning_rate=5e-4,
    max_completion_length=16,
    train_dialogues=30,
    focus_pool=20,
    validation_prompts=8,
    eval_n=4,
    eval_batch_size=4,
)


@dataclass
class Measures:
    """What the stages leave behind besides the demo's own record: GPU memory peaks and TRL's timed blocks."""

    peak_memory_bytes: dict[str, int | None]
    trl_seconds: dict[str, dict[str, float]]
    eval_results: dict[str, Any]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out_dir",
        default=str(OUT),
        help="where the run and gpu.json go (a new folder, or one an earlier run made: emptied first)",
    )
    parser.add_argument("--sgd_root", default=None, help="an SGD clone instead of the bundled sample")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--finetune", nargs="+", choices=FINETUNES, default=list(FINETUNES), help="GRPO runs: full, lora or both"
    )
    parser.add_argument("--smoke", action="store_true", help="every stage at toy size; runs without CUDA")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    check_packages()
    cuda = cuda_available()
    if not cuda and not args.smoke:
        raise UserError(
            "no CUDA device: bench/gpu.py measures the GPU loop on one CUDA GPU; run it on a CUDA machine "
            "(bench/gpu.sh OUT_DIR, see docs/GPU.md), or pass --smoke for every stage at toy size on the CPU"
        )
    scale = SMOKE if args.smoke else GPU
    demo = demo_recipe.DemoRun(config=demo_config(args, scale), out_dir=Path(args.out_dir))
    demo_recipe.check_sgd_roots(demo.config)
    fresh_out_dir(demo.out_dir)
    measures = Measures(peak_memory_bytes={}, trl_seconds={}, eval_results={})
    stages = [(name, measured(name, stage, measures)) for name, stage in stage_list(args.finetune, scale, cuda)]
    started = time.perf_counter()
    demo_recipe.run_stages(demo, stages, say)
    record = bench_record(args, scale, cuda, demo, measures, time.perf_counter() - started)
    path = demo.out_dir / "gpu.json"
    write_json(path, record)
    print(path)
    return 0


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def check_packages() -> None:
    """Every package the loop imports, before anything runs: on the GPU machine trl and datasets come as wheels."""
    from importlib.util import find_spec

    missing = [name for name in NEEDED_PACKAGES if find_spec(name) is None]
    if missing:
        raise UserError(
            f"missing Python packages: {', '.join(missing)}; on the GPU machine run bench/gpu.sh, which installs "
            "the wheels in .whl/ (docs/GPU.md says how to download them), elsewhere `pip install -e '.[all]'`"
        )


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def demo_config(args: argparse.Namespace, scale: Scale) -> demo_recipe.DemoConfig:
    return demo_recipe.DemoConfig(
        out_dir=args.out_dir,
        base="scratch",  # the GPU recipe trains its own, larger student
        sgd_root=args.sgd_root,
        seed=args.seed,
        train_dialogues=scale.train_dialogues,
        focus_pool=scale.focus_pool,
        validation_prompts=scale.validation_prompts,
        sft_steps=scale.sft_steps,
        sft_minutes=scale.sft_minutes,
        grpo_steps=scale.grpo_steps,
        grpo_minutes=scale.grpo_minutes,
        grpo_learning_rate=scale.full_learning_rate,
        eval_n=scale.eval_n,
        max_completion_length=scale.max_completion_length,
        reuse_base=False,
    )


def fresh_out_dir(out_dir: Path) -> None:
    """A benchmark starts from nothing: an earlier run's student or run dirs would change what is measured. Only a
    folder an earlier run of this benchmark made (its first file, train.jsonl, is there) is emptied."""
    import shutil

    if out_dir.is_file() or (out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "train.jsonl").is_file()):
        raise UserError(
            f"--out_dir {out_dir}: holds files this benchmark did not write, and it empties its folder first; "
            "give a new or empty folder"
        )
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)


# ---------------------------------------------------------------- stages


Stage = demo_recipe.Stage  # stage(demo, say), as the demo runs its own


def stage_list(finetunes: list[str], scale: Scale, cuda: bool) -> list[tuple[str, Stage]]:
    stages: list[tuple[str, Stage]] = [
        ("prepare", demo_recipe.prepare_stage),
        ("student", student_stage(scale)),
        ("sft", sft_stage(scale, bf16=cuda)),
        ("focus", demo_recipe.focus_stage),
    ]
    for finetune in dict.fromkeys(finetunes):
        stages.append((f"grpo_{finetune}", grpo_stage(finetune, scale, bf16=cuda)))
        stages.append((f"eval_{finetune}", eval_stage(finetune, scale)))
    return stages


def student_stage(scale: Scale) -> Stage:
    def stage(demo: demo_recipe.DemoRun, say: Callable[[str], None]) -> None:
        shape = replace(
            demo_recipe.student_config(demo),
            hidden_size=scale.hidden_size,
            num_layers=scale.num_layers,
            num_heads=scale.num_heads,
            num_kv_heads=scale.num_kv_heads,
        )
        demo_recipe.student_stage(demo, say, shape)

    return stage


def sft_stage(scale: Scale, bf16: bool) -> Stage:
    def stage(demo: demo_recipe.DemoRun, say: Callable[[str], None]) -> None:
        settings = replace(
            demo_recipe.sft_settings(demo),
            per_device_train_batch_size=scale.sft_batch_size,
            learning_rate=scale.sft_learning_rate,
            bf16=bf16,
            show_progress=False,  # a log file gets the stage lines, not a bar redrawn every step
        )
        demo_recipe.sft_stage(demo, say, settings)

    return stage


def grpo_keys(finetune: str, scale: Scale, bf16: bool) -> dict[str, Any]:
    """GRPOConfig keys over the demo's: the whole step in one micro-batch, bf16 on CUDA, no checkpoints."""
    return {
        "learning_rate": scale.lora_learning_rate if finetune == "lora" else scale.full_learning_rate,
        "num_generations": scale.num_generations,
        "per_device_train_batch_size": scale.grpo_prompts * scale.num_generations,
        "gradient_accumulation_steps": 1,
        "bf16": bf16,
        "save_strategy": "no",
    }


def grpo_stage(finetune: str, scale: Scale, bf16: bool) -> Stage:
    def stage(demo: demo_recipe.DemoRun, say: Callable[[str], None]) -> None:
        config = demo_recipe.grpo_run_config(
            demo,
            output_dir=demo.out_dir / f"trained-{finetune}",
            use_lora=finetune == "lora",
            grpo=grpo_keys(finetune, scale, bf16),
        )
        demo_recipe.grpo_stage(demo, say, config)

    return stage


def eval_stage(finetune: str, scale: Scale) -> Stage:
    def stage(demo: demo_recipe.DemoRun, say: Callable[[str], None]) -> None:
        config = replace(
            demo_recipe.eval_config(demo, demo.out_dir / f"trained-{finetune}"), batch_size=scale.eval_batch_size
        )
        demo_recipe.eval_stage(demo, say, config, demo.out_dir / f"eval-{finetune}")

    return stage


def measured(name: str, stage: Stage, measures: Measures) -> Stage:
    """The stage, with its GPU memory peak and TRL's timed blocks recorded, and its eval result kept."""

    def run(demo: demo_recipe.DemoRun, say: Callable[[str], None]) -> None:
        release_gpu_memory()
        with trl_block_seconds() as seconds:
            stage(demo, say)
        measures.peak_memory_bytes[name] = peak_gpu_memory()
        measures.trl_seconds[name] = dict(seconds)
        if name.startswith("eval_"):
            measures.eval_results[name.removeprefix("eval_")] = demo.result

    return run


def release_gpu_memory() -> None:
    """Free what the last stage left and restart the peak, so each stage's peak is its own."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_gpu_memory() -> int | None:
    import torch

    return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None


@contextmanager
def trl_block_seconds() -> Iterator[dict[str, float]]:
    """Seconds spent in each of TRL's profiled blocks (generation, reward functions, …), summed by name.

    TRL times these blocks itself (`trl.extras.profiling.ProfilingContext`) but reports the times only to wandb,
    MLflow or trackio, none of which runs offline; this catches each duration on its way there."""
    from trl.extras.profiling import ProfilingContext

    seconds: dict[str, float] = {}
    original = ProfilingContext._log_metrics

    def log_metrics(context: Any, duration: float) -> None:
        seconds[context.name] = seconds.get(context.name, 0.0) + duration
        original(context, duration)

    ProfilingContext._log_metrics = log_metrics
    try:
        yield seconds
    finally:
        ProfilingContext._log_metrics = original


# ---------------------------------------------------------------- figures


def bench_record(
    args: argparse.Namespace,
    scale: Scale,
    cuda: bool,
    demo: demo_recipe.DemoRun,
    measures: Measures,
    total_s: float,
) -> dict[str, Any]:
    peaks = [peak for peak in measures.peak_memory_bytes.values() if peak is not None]
    return {
        "bench": "gpu",
        "smoke": args.smoke,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": "cuda" if cuda else "cpu",
        "gpu_name": gpu_name(),
        "versions": versions(),
        "scale": asdict(scale),
        "sgd_root": args.sgd_root,
        "seed": args.seed,
        "student": student_figures(demo),
        "sft": sft_figures(demo),
        "grpo": {
            finetune: grpo_figures(demo.out_dir / f"trained-{finetune}", measures.trl_seconds[f"grpo_{finetune}"])
            for finetune in dict.fromkeys(args.finetune)
        },
        "eval": {finetune: eval_figures(result) for finetune, result in measures.eval_results.items()},
        "stage_seconds": dict(demo.timings),
        "total_seconds": round(total_s, 1),  # the stages
        "process_seconds": round(time.perf_counter() - PROCESS_STARTED, 1),  # and the imports and checks before them
        "peak_gpu_memory_bytes": {
            "overall": max(peaks) if peaks else None,
            "by_stage": measures.peak_memory_bytes,
        },
    }


def gpu_name() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    import torch

    found: dict[str, str | None] = {"python": platform.python_version(), "cuda": torch.version.cuda}
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "sacrebleu", "tracegym"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:  # tracegym itself runs from src/ on the GPU machine
            found[name] = None
    return found


def student_figures(demo: demo_recipe.DemoRun) -> dict[str, Any]:
    return {"parameters": demo.student.parameters, "vocab_size": demo.student.vocab_size}


def sft_figures(demo: demo_recipe.DemoRun) -> dict[str, Any]:
    result = demo.sft
    return {
        "steps": result.steps,
        "stopped_by": result.stopped_by,
        "tokens_per_second": round(result.tokens_per_second, 1),
        "first_loss": result.first_loss,
        "final_loss": result.final_loss,
    }


def grpo_figures(run_dir: Path, seconds: dict[str, float]) -> dict[str, Any]:
    """Steps/s over TRL's train runtime; generation tokens/s as the replies' tokens (to their end of turn) over
    the time in `generate`; the reward's share as the time in TRL's reward block over the train runtime."""
    from tracegym.training import rundir

    log = rundir.read_log(run_dir)
    steps = rundir.step_records(log)
    summary = next((record for record in log if record.get("kind") == "summary"), {})
    runtime = float(summary.get("train_runtime") or 0.0)
    replies_a_step = read_config_value(run_dir, "per_device_train_batch_size")
    generated = sum(record.get("completions/mean_length", 0.0) * replies_a_step for record in steps)
    generate_s = seconds.get(GENERATE_BLOCK, 0.0)
    reward_s = seconds.get(REWARD_BLOCK, 0.0)
    return {
        "steps": len(steps),
        "train_runtime_s": round(runtime, 2),
        "steps_per_second": ratio(len(steps), runtime),
        "replies_per_step": replies_a_step,
        "generated_tokens": round(generated),
        "generate_s": round(generate_s, 2),
        "generation_tokens_per_second": ratio(generated, generate_s),
        "reward_s": round(reward_s, 4),
        "reward_share_of_step": ratio(reward_s, runtime, digits=4),
        "final": rundir.final_figures(log),
        "trl_blocks_s": {name: round(value, 4) for name, value in sorted(seconds.items())},  # where a step's time went
    }


def read_config_value(run_dir: Path, key: str) -> Any:
    """A GRPOConfig value as the run resolved it (run.json's config)."""
    from tracegym.training import rundir

    return rundir.read_run(run_dir).config["grpo"][key]


def ratio(numerator: float, denominator: float, digits: int = 2) -> float | None:
    return round(numerator / denominator, digits) if denominator else None


def eval_figures(result: Any) -> dict[str, Any]:
    comparisons = result.comparisons
    judge, broken = comparisons["judge"], comparisons["broken_text_rate"]
    return {
        "n": judge.n,
        "judge": {
            "base": judge.base_mean,
            "trained": judge.trained_mean,
            "delta": judge.delta,
            "ci": [judge.ci.low, judge.ci.high],
        },
        "acceptable_share": {side: acceptable_share(result.items, side) for side in ("base", "trained")},
        "bleu": {side: corpus_bleu(result.items, side) for side in ("base", "trained")},
        "broken_text_rate": {
            "base": broken.base_mean,
            "trained": broken.trained_mean,
            "delta": broken.delta,
            "ci": [broken.ci.low, broken.ci.high],
        },
        "chrf": result.corpus_chrf,
        "win_tie_loss": asdict(result.win_rates),
        "judge_failures": result.judge_failures,
        "warnings": result.warnings,
    }


def acceptable_share(items: list[Any], side: str) -> float | None:
    """The share of the judge's scores (one a reply) at or above ACCEPTABLE_SCORE; failures left out."""
    scores = [score for item in items for score in getattr(item, side).scores if score is not None]
    return round(sum(score >= ACCEPTABLE_SCORE for score in scores) / len(scores), 4) if scores else None


def corpus_bleu(items: list[Any], side: str) -> float:
    """sacrebleu's corpus BLEU (0-100) of the replies, placeholders filled, against the reference replies."""
    from sacrebleu.metrics import BLEU

    replies = [reply for item in items for reply in getattr(item, side).replies]
    references = [item.sample.ground_truth for item in items for _ in getattr(item, side).replies]
    return round(BLEU().corpus_score(replies, [references]).score, 2)


if __name__ == "__main__":
    sys.exit(main())
