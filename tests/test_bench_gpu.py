"""bench/gpu.py, the one-command GPU benchmark: its refusal without CUDA, and every stage at toy size (--smoke).

No GPU here: the smoke run is what keeps the GPU path from rotting unseen; the figures themselves come from a run
on a GPU machine (docs/GPU.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cli_helpers import REPO_ROOT, assert_user_error
from factories import model_fixture

BENCH = REPO_ROOT / "bench" / "gpu.py"
# No device for torch even where the suite runs on a GPU machine: the refusal is what is tested.
NO_CUDA = {"CUDA_VISIBLE_DEVICES": ""}
STAGES = {"prepare", "student", "sft", "focus", "grpo_full", "eval_full", "grpo_lora", "eval_lora"}


def run_bench(*args: object, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCH), *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), **(env or {})},
        timeout=900,
    )


def test_without_cuda_it_refuses_and_says_how_to_fix(tmp_path):
    result = run_bench("--out_dir", tmp_path / "out", env=NO_CUDA)
    assert_user_error(result, "no CUDA device", "CUDA machine", "--smoke")
    assert not (tmp_path / "out").exists()


def test_it_never_empties_a_folder_it_did_not_make(tmp_path):
    keep = tmp_path / "mine" / "notes.txt"
    keep.parent.mkdir()
    keep.write_text("mine")
    result = run_bench("--smoke", "--out_dir", keep.parent, env=NO_CUDA)
    assert_user_error(result, "--out_dir", "new or empty folder")
    assert keep.read_text() == "mine"


@model_fixture
def smoke(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("gpu-smoke")
    result = run_bench("--smoke", "--out_dir", out_dir, env={**NO_CUDA, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return out_dir, result, json.loads((out_dir / "gpu.json").read_text())


@pytest.mark.slow
def test_smoke_runs_every_stage_and_writes_the_figures(smoke):
    out_dir, result, record = smoke
    assert result.stdout.strip() == str(out_dir / "gpu.json")
    assert record["smoke"] is True and record["device"] == "cpu" and record["gpu_name"] is None
    assert set(record["stage_seconds"]) == STAGES
    assert all(seconds > 0 for seconds in record["stage_seconds"].values())
    assert record["total_seconds"] >= sum(record["stage_seconds"].values()) - 1
    assert set(record["peak_gpu_memory_bytes"]["by_stage"]) == STAGES  # None each: no GPU here
    assert record["student"]["parameters"] > 100_000 and record["student"]["vocab_size"] > 300
    assert record["sft"]["steps"] == record["scale"]["sft_steps"] and record["sft"]["tokens_per_second"] > 0
    for name in ("torch", "transformers", "trl", "peft"):
        assert record["versions"][name]


@pytest.mark.slow
def test_smoke_measures_both_grpo_runs_and_their_evals(smoke):
    out_dir, _, record = smoke
    assert set(record["grpo"]) == set(record["eval"]) == {"full", "lora"}
    for finetune, grpo in record["grpo"].items():
        assert grpo["steps"] == record["scale"]["grpo_steps"]
        assert grpo["steps_per_second"] > 0 and grpo["generation_tokens_per_second"] > 0
        assert grpo["generated_tokens"] > 0 and grpo["generate_s"] > 0
        assert 0 < grpo["reward_share_of_step"] < 1  # TRL's reward block was timed, and is part of the step
        assert grpo["trl_blocks_s"]["GRPOTrainer._calculate_rewards"] == grpo["reward_s"]
        weights = "adapter" if finetune == "lora" else "model"
        assert (out_dir / f"trained-{finetune}" / weights).is_dir()
    for figures in record["eval"].values():
        assert figures["n"] == record["scale"]["eval_n"]
        low, high = figures["judge"]["ci"]
        assert low <= figures["judge"]["delta"] <= high
        for side in ("base", "trained"):
            assert 0 <= figures["acceptable_share"][side] <= 1
            assert 0 <= figures["bleu"][side] <= 100
            assert 0 <= figures["broken_text_rate"][side] <= 1


WRAPPER = REPO_ROOT / "bench" / "gpu.sh"


def test_the_wrapper_wants_an_output_folder():
    result = subprocess.run(["bash", str(WRAPPER)], capture_output=True, text=True, timeout=60)
    assert_user_error(result, "usage: bench/gpu.sh OUT_DIR")


def test_the_wrapper_says_where_the_wheels_come_from(tmp_path):
    """A checkout without .whl/ (the wrapper finds the repository from its own place)."""
    (tmp_path / "bench").mkdir()
    wrapper = tmp_path / "bench" / "gpu.sh"
    wrapper.write_text(WRAPPER.read_text())
    result = subprocess.run(["bash", str(wrapper), tmp_path / "out"], capture_output=True, text=True, timeout=60)
    assert_user_error(result, "no wheels in", "docs/GPU.md")
    assert not (tmp_path / "out").exists()
