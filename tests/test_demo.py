"""`tracegym demo`: the whole offline loop through the CLI, on tiny budgets (the real budget is a benchmark)."""

from __future__ import annotations

import json

import pytest

from cli_helpers import run_cli
from tracegym.demo import BUNDLED_STUDENT, DemoConfig, DemoRun, prepare_stage

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("demo")
    args = (
        "demo",
        "--out_dir",
        out_dir,
        "--base",
        "scratch",
        "--sft_steps",
        "6",
        "--grpo_steps",
        "2",
        "--grpo_minutes",
        "1",
        "--eval_n",
        "6",
        "--train_dialogues",
        "60",
        "--focus_pool",
        "50",
        "--validation_prompts",
        "16",
    )
    first = run_cli(*args, env={"OMP_NUM_THREADS": "1"})
    second = run_cli(*args, env={"OMP_NUM_THREADS": "1"})
    return out_dir, first, second


def test_demo_prints_the_seed_lines_and_the_report(demo_run):
    out_dir, first, _ = demo_run
    assert first.returncode == 0, first.stderr[-3000:]
    lines = first.stdout.splitlines()
    assert lines[0].startswith("Base scores: {'mean': ")
    assert lines[1].startswith("Trained scores: {'mean': ")
    assert lines[2].startswith("Δ mean: ")
    assert "report: " in first.stdout
    assert (out_dir / "eval" / "report.md").is_file()


def test_demo_keeps_what_a_user_needs_to_rerun_eval(demo_run):
    out_dir, first, _ = demo_run
    record = json.loads((out_dir / "demo.json").read_text())
    train, dev, test = record["prepare_commands"]
    assert "--split train --max_dialogues 60 --include_acts --compact --seed 0" in train
    assert train.split("--sgd_root ")[1].split()[0].endswith("sgd_train")  # the bundled train split
    assert "--split dev --seen_in" in dev and "--split test --seen_in" in test
    assert dev.split("--sgd_root ")[1].split()[0].endswith("sgd_heldout")  # the bundled held-out split
    assert set(record["timings_s"]) == {"prepare", "student", "sft", "focus", "grpo", "eval"}
    train, validation, grpo = (
        [json.loads(line) for line in (out_dir / name).read_text().splitlines()]
        for name in ("train.jsonl", "validation.jsonl", "grpo.jsonl")
    )
    assert len(validation) >= 16 and not {r["dialogue_id"] for r in validation} & {r["dialogue_id"] for r in train}
    assert 8 <= len(grpo) <= 50 and {r["id"] for r in grpo} <= {r["id"] for r in train}  # the focus: drawn from train
    assert json.loads((out_dir / "trained" / "run.json").read_text())["validation"]["prompts"] == len(validation)
    assert (out_dir / "base" / "config.json").is_file()
    assert (out_dir / "trained" / "log.jsonl").is_file()
    log = [json.loads(line) for line in (out_dir / "trained" / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log if row["kind"] == "validation"] == [0, 2]  # before the first, after the last
    assert json.loads((out_dir / "trained" / "run.json").read_text())["validation"]["steps"] == [0, 2]
    assert "](validation_curve.png)" in (out_dir / "eval" / "report.md").read_text()
    held_out = [json.loads(line) for line in (out_dir / "eval.jsonl").read_text().splitlines()]
    assert {row["split"] for row in held_out} == {"dev", "test"}
    assert len(held_out) == 2981  # every turn of sgd_heldout; --eval_n picks what eval reads
    assert any(row["unseen_service"] for row in held_out)
    results = json.loads((out_dir / "eval" / "results.json").read_text())
    assert results["comparisons"]["judge"]["n"] == 6  # every figure of the eval, for the benchmark to read


def test_demo_decodes_with_the_placeholder_constraint_and_says_so(demo_run):
    out_dir, _, _ = demo_run
    results = json.loads((out_dir / "eval" / "results.json").read_text())
    assert results["config"]["framing"] == {"acts": True, "placeholders": True, "constrained": True, "compact": True}
    assert json.loads((out_dir / "trained" / "run.json").read_text())["framing"] == results["config"]["framing"]
    assert "constrain_placeholders: true" in (out_dir / "trained" / "config.yaml").read_text()
    assert "each [n] of its acts at most once and no other" in (out_dir / "eval" / "report.md").read_text()


def test_a_second_run_reuses_the_sft_base(demo_run):
    _, _, second = demo_run
    assert second.returncode == 0, second.stderr[-3000:]
    assert "reusing the student and SFT base" in second.stderr


def test_the_same_seed_gives_the_same_figures(tmp_path):
    """Stages stop on steps, not minutes: two from-scratch runs of one seed train the same students."""
    figures = []
    for run in ("a", "b"):
        out_dir = tmp_path / run
        args = ("demo", "--out_dir", out_dir, "--base", "scratch", "--sft_steps", "8", "--grpo_steps", "2")
        args += ("--eval_n", "6")
        args += ("--train_dialogues", "60", "--validation_prompts", "16")
        result = run_cli(*args, "--no_reuse_base", env={"OMP_NUM_THREADS": "1"})
        assert result.returncode == 0, result.stderr[-3000:]
        assert "safety cap" not in result.stderr
        results = json.loads((out_dir / "eval" / "results.json").read_text())
        judge = results["comparisons"]["judge"]
        figures.append((judge["base_mean"], judge["trained_mean"], judge["delta"]))
        replies = (out_dir / "eval" / "generations.jsonl").read_text()
        figures.append(replies)
    assert figures[0] == figures[2], "the same seed gave other judge figures"
    assert figures[1] == figures[3], "the same seed gave other replies"


def test_a_safety_cap_that_fires_is_named_in_the_report(tmp_path):
    args = ("demo", "--out_dir", tmp_path, "--base", "scratch", "--sft_steps", "4", "--grpo_steps", "30")
    args += ("--grpo_minutes", "0.0001")
    result = run_cli(*args, "--eval_n", "4", "--train_dialogues", "30", "--focus_pool", "20", "--validate_every", "0")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "GRPO stopped at its 0.0001-minute safety cap" in result.stderr
    assert "GRPO stopped at its 0.0001-minute safety cap" in (tmp_path / "eval" / "report.md").read_text()
    assert json.loads((tmp_path / "demo.json").read_text())["warnings"][0].startswith("warning: GRPO stopped")


def test_the_default_demo_starts_from_the_shipped_student_and_its_validation_slice(tmp_path):
    """--base bundled: no student or SFT stage; base/ is the package's student with its model card; the validation
    slice is the one its SFT held out, whatever --seed is."""
    args = ("demo", "--out_dir", tmp_path, "--seed", "1", "--grpo_steps", "2", "--eval_n", "6", "--focus_pool", "300")
    result = run_cli(*args, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "the bundled student: 1.72M parameters, 6,000 SFT steps" in result.stderr
    record = json.loads((tmp_path / "demo.json").read_text())
    assert set(record["timings_s"]) == {"prepare", "base", "focus", "grpo", "eval"}
    shipped = (BUNDLED_STUDENT / "model.safetensors").read_bytes()
    assert (tmp_path / "base" / "model.safetensors").read_bytes() == shipped
    assert "bench/build_student.py" in (tmp_path / "base" / "README.md").read_text()
    seed0 = tmp_path / "seed0"
    prepare_stage(DemoRun(config=DemoConfig(out_dir=str(seed0)), out_dir=seed0), lambda line: None)
    assert (tmp_path / "validation.jsonl").read_text() == (seed0 / "validation.jsonl").read_text()
    assert (tmp_path / "train.jsonl").read_text() == (seed0 / "train.jsonl").read_text()


def test_grpo_prompts_per_step_is_the_batch_trl_accumulates(tmp_path):
    from tracegym.demo import grpo_run_config
    from tracegym.training.config import GRPO_DEFAULTS

    for prompts in (3, 16):
        config = DemoConfig(out_dir=str(tmp_path), grpo_prompts_per_step=prompts)
        grpo = grpo_run_config(DemoRun(config=config, out_dir=tmp_path)).grpo
        completions = grpo["gradient_accumulation_steps"] * grpo.get("per_device_train_batch_size", 8)
        assert completions == prompts * GRPO_DEFAULTS["num_generations"]


def test_lora_anchors_and_reward_scaling_reach_grpo_and_eval_reads_the_adapter(tmp_path):
    """--use_lora: GRPO writes an adapter, which eval applies to the base; --focus_anchors 1: as many turns the SFT
    student answers perfectly join the focus turns in grpo.jsonl; --scale_rewards: the GRPOConfig TRL ran with."""
    args = ("demo", "--out_dir", tmp_path, "--grpo_steps", "2", "--eval_n", "4", "--focus_pool", "60")
    args += ("--validate_every", "0", "--use_lora", "--focus_anchors", "1", "--scale_rewards", "none")
    result = run_cli(*args, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "trained" / "adapter" / "adapter_config.json").is_file()
    assert not (tmp_path / "trained" / "model").exists()
    kept = int(result.stderr.split(" of 60 train turns drawn")[0].split()[-1])
    assert f"{kept} turns it answers perfectly join them" in result.stderr
    assert len((tmp_path / "grpo.jsonl").read_text().splitlines()) == 2 * kept
    assert json.loads((tmp_path / "eval" / "results.json").read_text())["n_prompts"] == 4
    assert "  scale_rewards: none\n" in (tmp_path / "trained" / "config.yaml").read_text()


def test_eval_uses_the_demos_caps_even_for_a_bare_model_dir(tmp_path):
    """bench/weight_probe.py evaluates model dirs with no run.json: the caps must come from the demo, not eval's
    defaults (64 reply tokens), or the base replies change too."""
    from tracegym.demo import eval_config

    config = DemoConfig(out_dir=str(tmp_path), base="scratch", eval_n=5, max_completion_length=33, max_prompt_length=99)
    evaluation = eval_config(DemoRun(config=config, out_dir=tmp_path), tmp_path / "model")
    assert (evaluation.max_new_tokens, evaluation.max_prompt_length) == (33, 99)
