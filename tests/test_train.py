"""`tracegym train`: GRPO on a tiny student built locally (`tracegym student`), through the real CLI.

The act judge scores an untrained student's babble 0 everywhere, so the runs that must move weights add a reply-length
reward (`--reward_funcs test_train:reply_length_reward`), which is also how users mix their own rewards in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cli_helpers import REPO_ROOT, assert_user_error, run_cli
from factories import SMALL_STEP, build_tiny_student, free_port, model_fixture, sample_rows, train_command

TESTS_DIR = Path(__file__).resolve().parent
WITH_TESTS_ON_PATH = {"PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")]))}


def reply_length_reward(prompts, completions, **columns):
    """A user's own TRL reward function: longer replies (up to 60 characters) score higher."""
    return [min(len(completion), 60) / 60 for completion in completions]


@model_fixture
def workspace(tmp_path_factory):
    """Samples and a tiny student (`tracegym student`, a few thousand parameters)."""
    return build_tiny_student(tmp_path_factory.mktemp("train"), sample_rows())


def train_args(workspace: Path, output_dir: Path, *extra: str) -> list[object]:
    return train_command(workspace, output_dir, *SMALL_STEP, *extra)


def read_log(output_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (output_dir / "log.jsonl").read_text().splitlines()]


def test_help_lists_the_seed_flags():
    result = run_cli("train", "--help")
    assert result.returncode == 0, result.stderr
    for flag in (
        "--train_jsonl",
        "--model_name",
        "--use_lora",
        "--max_steps",
        "--learning_rate",
        "--num_generations",
        "--per_device_train_batch_size",
        "--gradient_accumulation_steps",
        "--max_prompt_length",
        "--max_completion_length",
        "--output_dir",
        "--config",
        "--reward_funcs",
        "--resume_from_checkpoint",
        "--judge",
        "--merge",
        "--use_vllm",
    ):
        assert flag in result.stdout, flag


@pytest.mark.slow
def test_lora_steps_move_the_adapter_only_then_resume_continues(workspace, tmp_path):
    import torch
    from peft import AutoPeftModelForCausalLM
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tracegym.training.rundir import read_judge_totals, read_run

    run_dir = tmp_path / "run"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("r: 4\nlora_alpha: 8\nmax_steps: 7\ntemperature: 1.2\n")  # LoraConfig and GRPOConfig keys
    first = run_cli(
        *train_args(
            workspace,
            run_dir,
            "--config",
            recipe,
            "--use_lora",
            "--max_steps",
            "2",
            "--save_steps",
            "1",
            "--merge",
            "--reward_funcs",
            "test_train:reply_length_reward",
            "--reward_weights",
            "1.0,1.0",
        ),
        env=WITH_TESTS_ON_PATH,
    )
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 2
    assert read_judge_totals(run_dir)["replies"] == 2 * 8, "the act judge scored every reply of 2 steps of 8"

    adapter = load_file(run_dir / "adapter" / "adapter_model.safetensors")
    lora_b = [tensor for name, tensor in adapter.items() if "lora_B" in name]
    assert lora_b and any(tensor.abs().sum() > 0 for tensor in lora_b), "LoRA B starts at zero and must have moved"

    base = AutoModelForCausalLM.from_pretrained(workspace / "student")
    tuned = AutoPeftModelForCausalLM.from_pretrained(run_dir / "adapter")
    tuned_base = {
        n.replace("base_model.model.", "").replace(".base_layer", ""): p
        for n, p in tuned.named_parameters()
        if "lora_" not in n
    }
    for name, parameter in base.named_parameters():
        assert torch.equal(parameter, tuned_base[name]), f"base weight {name} changed"

    tokenizer = AutoTokenizer.from_pretrained(run_dir / "adapter")
    inputs = tokenizer("<start_of_turn>user\nhello<end_of_turn>\n<start_of_turn>model\n", return_tensors="pt")
    generated = tuned.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert generated.shape[1] > inputs["input_ids"].shape[1]
    assert (run_dir / "merged" / "config.json").is_file()

    log = [r for r in read_log(run_dir) if r["kind"] == "step"]
    assert [r["step"] for r in log] == [1, 2]
    assert {
        "reward",
        "reward_std",
        "frac_reward_zero_std",
        "rewards/judge/mean",
        "judge/parts/acts",
        "judge/failures",
        "judge/cache_hits",
        "judge/cost_usd",
        "completions/mean_length",
    } <= set(log[0])
    import hashlib

    import yaml

    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["lora"]["r"] == 4 and resolved["grpo"]["temperature"] == 1.2, "recipe keys reach their owners"
    assert resolved["grpo"]["max_steps"] == 2, "a flag overrides the recipe"
    digest = (run_dir / "config.sha256").read_text().split()[0]

    assert hashlib.sha256((run_dir / "config.yaml").read_bytes()).hexdigest() == digest
    card = (run_dir / "README.md").read_text()
    assert "acts:" in card and digest in card
    record = read_run(run_dir)
    assert record.use_lora and record.config_sha256 == digest and f"`{record.judge_fingerprint}`" in card
    assert list((run_dir / "runs").rglob("events.out.tfevents.*")), "TensorBoard events in the run dir"

    resumed = run_cli(  # the same command, with the flag added and one more step
        *train_args(
            workspace,
            run_dir,
            "--config",
            recipe,
            "--use_lora",
            "--max_steps",
            "3",
            "--save_steps",
            "1",
            "--reward_funcs",
            "test_train:reply_length_reward",
            "--resume_from_checkpoint",
        ),
        env=WITH_TESTS_ON_PATH,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["steps"] == 3
    assert [r["step"] for r in read_log(run_dir) if r["kind"] == "step"] == [1, 2, 3]
    assert (run_dir / "checkpoint-3").is_dir()
    assert read_judge_totals(run_dir)["replies"] == 3 * 8, "each invocation's judge totals, summed"


@pytest.mark.slow
def test_two_processes_train_only_rank_zero_writes_and_a_constant_reward_is_warned_about(workspace, tmp_path):
    """A full fine-tune under `accelerate launch --num_processes 2 --cpu`, with the act judge alone: the untrained
    student's babble scores 0 in every group, so the run must say loudly that there was nothing to learn."""
    accelerate = shutil.which("accelerate")
    assert accelerate, "accelerate is installed with tracegym[train]"
    run_dir = tmp_path / "ddp"
    cache = tmp_path / "verdicts.sqlite"
    args = train_args(
        workspace,
        run_dir,
        "--max_steps",
        "2",
        "--per_device_train_batch_size",
        "4",
        "--cache",
        cache,
        "--report_to",
        "none",
    )
    result = subprocess.run(
        [
            accelerate,
            "launch",
            "--num_processes",
            "2",
            "--cpu",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "--main_process_port",
            str(free_port()),
            "-m",
            "tracegym",
            *map(str, args),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO_ROOT,
        env={**os.environ, "ACCELERATE_USE_CPU": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert [r["step"] for r in read_log(run_dir) if r["kind"] == "step"] == [1, 2], "one record per step: rank 0"
    assert result.stdout.count('"output_dir"') == 1, "only rank 0 prints the summary"
    assert (run_dir / "model" / "config.json").is_file(), "a full fine-tune writes model/"
    assert cache.is_file()
    assert result.stderr.count("nothing to learn") == 1, "rank 0 warns, once"
    assert "nothing to learn" in (run_dir / "README.md").read_text()
    assert any(r["kind"] == "warning" for r in read_log(run_dir))
    totals = [r for r in read_log(run_dir) if r["kind"] == "judge_totals"]
    assert len(totals) == 1 and totals[0]["replies"] > 0, "the judge's totals, written once by rank 0"


@pytest.mark.slow
def test_student_then_sft_then_train_through_the_cli(workspace, tmp_path):
    sft_dir = tmp_path / "sft"
    sft = run_cli(
        "sft",
        "--model_name",
        workspace / "student",
        "--train_jsonl",
        workspace / "train.jsonl",
        "--output_dir",
        sft_dir,
        "--max_steps",
        "2",
    )
    assert sft.returncode == 0, sft.stderr
    run_dir = tmp_path / "grpo"
    result = run_cli(
        "train",
        "--train_jsonl",
        workspace / "train.jsonl",
        "--model_name",
        sft_dir,
        "--output_dir",
        run_dir,
        "--use_lora",
        "--max_steps",
        "1",
        *SMALL_STEP,
    )
    assert result.returncode == 0, result.stderr
    assert (run_dir / "adapter" / "adapter_config.json").is_file()


def test_bad_inputs_are_one_line_errors_and_leave_no_run_dir(workspace, tmp_path):
    bad_samples = tmp_path / "bad.jsonl"
    bad_samples.write_text(json.dumps({"id": "x", "dialogue_id": "d", "turn_index": 0, "prompt": "hi"}) + "\n")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("learning_rate: 1.0e-5\nnot_a_trl_field: 3\n")
    cases = [
        (["--train_jsonl", bad_samples], "ground_truth"),
        (["--judge", "nosuchjudge"], "nosuchjudge"),
        (["--model_name", tmp_path / "no_model"], "no_model"),
        (["--config", recipe], "not_a_trl_field"),
        (["--num_generations", "0"], "--num_generations"),
        (["--max_steps", "-3"], "--max_steps"),
        (["--gradient_accumulation_steps", "8"], "8 samples, but one GRPO generation batch takes 16 prompts"),
    ]

    def run_case(index: int):
        override, fragment = cases[index]
        run_dir = tmp_path / f"run{index}"
        args = train_args(workspace, run_dir)
        for flag, value in zip(override[::2], override[1::2]):
            if flag in args:
                args[args.index(flag) + 1] = value
            else:
                args += [flag, value]
        return run_dir, fragment, run_cli(*args)

    with ThreadPoolExecutor(max_workers=3) as pool:  # each case is a fresh interpreter importing TRL: overlap them
        outcomes = list(pool.map(run_case, range(len(cases))))
    for run_dir, fragment, result in outcomes:
        assert_user_error(result, fragment)
        assert not run_dir.exists(), f"a bad input ({fragment}) left {run_dir} behind"


def test_judge_reward_scores_plain_and_conversational_replies_in_one_batch():
    import asyncio

    from tracegym.judges import JudgeSettings, build_judge
    from tracegym.training.reward import JudgeReward

    rows = sample_rows(2)
    reward = JudgeReward(build_judge(JudgeSettings(judge="acts")))
    good, bad = rows[0]["ground_truth"], "I like turtles."
    logged: dict[str, float] = {}
    columns = {"sample": [json.dumps(row) for row in rows], "log_metric": logged.__setitem__}
    plain = asyncio.run(reward(prompts=["p", "p"], completions=[good, bad], **columns))
    chat = asyncio.run(
        reward(
            prompts=[[{"role": "user", "content": "p"}]] * 2,
            completions=[[{"role": "assistant", "content": good}], [{"role": "assistant", "content": bad}]],
            **columns,
        )
    )
    assert plain == chat
    assert plain[0] > plain[1]
    assert len(reward.history) == 2 and reward.history[0].replies == 2, "one judge batch per call"
    assert logged["judge/replies"] == 2 and "judge/parts/acts" in logged and logged["judge/failures"] == 0


def test_truncated_replies_get_the_truncated_reward_unjudged_and_finished_ones_their_score():
    import asyncio

    from tracegym.judges import JudgeSettings, build_judge
    from tracegym.training.reward import JudgeReward

    rows = sample_rows(3)
    gold = [row["ground_truth"] for row in rows]
    columns = {"sample": [json.dumps(row) for row in rows]}
    judged = JudgeReward(build_judge(JudgeSettings(judge="acts")))
    scores = asyncio.run(judged(prompts=["p"] * 3, completions=gold, **columns))
    reward = JudgeReward(
        build_judge(JudgeSettings(judge="acts")), truncated_reward=0.0, stop_token_ids=frozenset({1, 106})
    )
    logged: dict[str, float] = {}
    ids = [[5, 7, 106], [5, 7, 9], [5, 1]]  # the second never reached an end of turn
    cut = asyncio.run(
        reward(prompts=["p"] * 3, completions=gold, completion_ids=ids, log_metric=logged.__setitem__, **columns)
    )
    assert scores[1] > 0 and cut == [scores[0], 0.0, scores[2]]
    assert reward.history[0].replies == 2 and logged["judge/truncated"] == 1, "the cut reply is never judged"
    # Without the setting every reply is judged, as TRL's own mask_truncated_completions expects.
    assert asyncio.run(judged(prompts=["p"] * 3, completions=gold, completion_ids=ids, **columns)) == scores


def setup_flags(workspace: Path, output_dir: Path, **changes) -> dict:
    """`train`'s flags as `resolve` takes them: SMALL_STEP's settings, no TensorBoard."""
    flags = {
        "train_jsonl": str(workspace / "train.jsonl"),
        "model_name": str(workspace / "student"),
        "output_dir": str(output_dir),
        "num_generations": 4,
        "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 1,
        "max_completion_length": 12,
        "max_prompt_length": 96,
        "report_to": ["none"],
    }
    return {**flags, **changes}


def test_the_run_writes_run_json_and_resuming_refuses_options_that_contradict_it(workspace, tmp_path):
    from tracegym.errors import UserError
    from tracegym.framing import Framing
    from tracegym.training.config import resolve
    from tracegym.training.grpo import setup, start_run_dir
    from tracegym.training.rundir import read_run

    run_dir = tmp_path / "run"
    first = setup(resolve({}, setup_flags(workspace, run_dir)))
    start_run_dir(first)  # what a run writes before training: config.yaml, config.sha256, run.json
    record = read_run(run_dir)
    assert record.judge_name == "acts" and record.judge_fingerprint == first.judge_reward.judge.fingerprint
    assert record.framing == Framing() and not record.use_lora, "these samples do not show the student its acts"
    assert (record.max_prompt_length, record.max_completion_length, record.seed) == (96, 12, 0)
    assert record.base_model == str(workspace / "student")
    assert record.config_sha256 == (run_dir / "config.sha256").read_text().split()[0]
    checkpoint = run_dir / "checkpoint-1"
    checkpoint.mkdir()
    (checkpoint / "trainer_state.json").write_text("{}")

    resumed = setup(resolve({}, setup_flags(workspace, run_dir, resume_from_checkpoint="last", max_steps=9)))
    assert resumed.resume_from == str(checkpoint), "more steps: the same run, resumed"
    for change, fragment in [({"use_lora": True}, "use_lora"), ({"max_prompt_length": 128}, "max_prompt_length")]:
        flags = setup_flags(workspace, run_dir, resume_from_checkpoint="last", **change)
        with pytest.raises(UserError, match=f"contradict the run in .*{fragment}"):
            setup(resolve({}, flags))
    # A run recorded as act-conditioned cannot be resumed as a plain one.
    stored = json.loads((run_dir / "run.json").read_text())
    stored["framing"] = Framing.named("acts").to_dict()
    (run_dir / "run.json").write_text(json.dumps(stored))
    with pytest.raises(UserError, match="framing: run acts, now end2end"):
        setup(resolve({}, setup_flags(workspace, run_dir, resume_from_checkpoint="last")))


def test_resuming_with_only_the_run_dir_reloads_the_run_settings(workspace, tmp_path):
    from tracegym.training.config import recipe_of_run, resolve
    from tracegym.training.grpo import setup, start_run_dir

    run_dir = tmp_path / "run"
    start_run_dir(setup(resolve({}, setup_flags(workspace, run_dir, max_steps=3, beta=0.07))))
    assert recipe_of_run(tmp_path / "no_run_here") == {}

    recipe = recipe_of_run(run_dir)
    assert "output_dir" not in recipe and "resume_from_checkpoint" not in recipe, "per invocation, not per run"
    resumed = resolve(recipe, {"output_dir": str(run_dir), "resume_from_checkpoint": "last", "max_steps": 5})
    assert resumed.options.train_jsonl == str(workspace / "train.jsonl"), "the data comes from the run"
    assert resumed.options.model_name == str(workspace / "student")
    assert (resumed.grpo["beta"], resumed.grpo["max_completion_length"], resumed.grpo["max_steps"]) == (0.07, 12, 5)
    assert resumed.options.max_prompt_length == 96
