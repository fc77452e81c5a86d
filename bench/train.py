"""GRPO on CPU: steps per second for the demo student, and the share of a step spent in the reward.

    python bench/train.py [--steps 3] [--latency 0.2]

The demo student (`tracegym student` defaults: a Gemma-3 text model of about 1.7M parameters) trains on SGD dev
samples with the demo step: 8 prompts × 8 replies × ≤ 40 tokens (tracegym's GRPO defaults). Measured in one run:

1. steps/s with the act judge, full fine-tune and LoRA;
2. an LLM judge (the openai backend) against a local OpenAI-compatible server that answers after `--latency`
   seconds (tests/fake_servers.py), wrapped as tracegym's async `JudgeReward` (one batch per step, fanned out
   under --concurrency): share of step time spent in the reward;
3. the same judge as a sequential reward function (synchronous, one request at a time), the baseline.

Target: the async reward takes ≤ 15% of step time at 200 ms latency.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from fake_servers import FakeLLMServer  # noqa: E402
from tracegym.judges import JudgeSettings, score_sync  # noqa: E402
from tracegym.samples import write_jsonl  # noqa: E402
from tracegym.traces.compile import CompileOptions, compile_sgd  # noqa: E402
from tracegym.training import grpo  # noqa: E402
from tracegym.training.config import resolve  # noqa: E402
from tracegym.training.reward import completion_text, samples_from_columns  # noqa: E402
from tracegym.training.student import StudentConfig, build_student, texts_of_samples  # noqa: E402

SGD_ROOT = REPO_ROOT.parent / "shared" / "data" / "sgd"


def demo_workspace(root: Path, samples: int) -> tuple[Path, Path, int]:
    rows = [s.to_dict() for s in compile_sgd(SGD_ROOT, "dev", CompileOptions(max_samples=samples))]
    write_jsonl(root / "train.jsonl", rows)
    summary = build_student(texts_of_samples(rows), StudentConfig(out_dir=str(root / "student")))
    return root / "train.jsonl", root / "student", summary.parameters


class SequentialJudgeReward:
    """The baseline: a plain synchronous reward function that asks the judge about one reply at a time."""

    __name__ = "judge"

    def __init__(self, judge):
        self.judge = judge
        self.seconds: list[float] = []

    def __call__(self, prompts, completions, **columns):
        started = time.perf_counter()
        samples = samples_from_columns(prompts, columns)
        scores = [score_sync(self.judge, [s], [completion_text(c)])[0].score for s, c in zip(samples, completions)]
        self.seconds.append(time.perf_counter() - started)
        return scores


def step_seconds_callback(times: list[float]):
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            times.append(time.perf_counter() - self.started)

    return StepTimer()


def timed_run(train_jsonl, student, steps, *, use_lora, judge_settings, sequential=False) -> dict:
    """Train `steps` GRPO steps; returns seconds per step (the first step, warm-up, left out) and reward seconds."""
    with tempfile.TemporaryDirectory() as output_dir:
        flags = {
            "train_jsonl": str(train_jsonl),
            "model_name": str(student),
            "output_dir": output_dir,
            "use_lora": use_lora,
            "max_steps": steps + 1,
            "report_to": ["none"],
            "save_steps": 10_000,
            "learning_rate": 1e-4,
            **{k: v for k, v in vars(judge_settings).items() if v is not None},
        }
        config = resolve({}, flags)
        training = grpo.setup(config)
        if sequential:
            baseline = SequentialJudgeReward(training.judge_reward.judge)
            training.reward_funcs[0] = baseline
        trainer = grpo.make_trainer(training)
        step_times: list[float] = []
        trainer.add_callback(step_seconds_callback(step_times))
        trainer.train()
        reward_times = baseline.seconds if sequential else [s.seconds for s in training.judge_reward.history]
    step_times, reward_times = step_times[1:], reward_times[1:]
    step = sum(step_times) / len(step_times)
    reward = sum(reward_times) / len(reward_times)
    return {
        "seconds_per_step": step,
        "steps_per_second": 1 / step,
        "reward_seconds": reward,
        "reward_share": reward / step,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration (after one warm-up)")
    parser.add_argument("--latency", type=float, default=0.2, help="judge server latency in seconds")
    parser.add_argument("--concurrency", type=int, default=64, help="judge requests in flight (async reward)")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--only_acts", action="store_true", help="skip the LLM-judge runs (step rates only)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    with tempfile.TemporaryDirectory() as root:
        train_jsonl, student, parameters = demo_workspace(Path(root), args.samples)
        report({"student_parameters": parameters, "step": "8 prompts x 8 replies x <= 40 tokens"})
        if not args.only_acts:
            report_llm_judge_runs(train_jsonl, student, args)
        acts = JudgeSettings(judge="acts")
        report({"acts_full": timed_run(train_jsonl, student, args.steps, use_lora=False, judge_settings=acts)})
        report({"acts_lora": timed_run(train_jsonl, student, args.steps, use_lora=True, judge_settings=acts)})


def report_llm_judge_runs(train_jsonl: Path, student: Path, args: argparse.Namespace) -> None:
    """The async JudgeReward and the sequential baseline, against the same local judge server."""
    with FakeLLMServer(latency=args.latency) as server:
        llm = JudgeSettings(
            judge="openai",
            judge_model="fake-judge",
            base_url=server.openai_url,
            concurrency=args.concurrency,
            max_retries=0,
        )
        report({"llm_async_lora": timed_run(train_jsonl, student, args.steps, use_lora=True, judge_settings=llm)})
        report(
            {
                "llm_sequential_lora": timed_run(
                    train_jsonl, student, args.steps, use_lora=True, judge_settings=llm, sequential=True
                )
            }
        )


def report(figures: dict) -> None:
    """Print each configuration's figures as soon as they are measured (a long run may be cut short)."""
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
