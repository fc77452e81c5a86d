"""`tracegym eval` end to end on a tiny student built by `tracegym student`, a handful of prompts, the act judge."""

from __future__ import annotations

import json
import re
import shutil
import sys
from dataclasses import replace

import pytest

from cli_helpers import REPO_ROOT, assert_user_error, run_cli
from factories import model_fixture
from tracegym.framing import Framing
from tracegym.judges.acts import VERSION as ACTS_VERSION
from tracegym.samples import Sample, write_jsonl
from tracegym.training.rundir import RunRecord, write_run

SYSTEM = """You are the assistant of the service {service}: Find and reserve restaurants. You are helping the user with this task: Reserve a table.
Today is Friday, 2019-03-01.

Schema of {service}:
Slots:
- restaurant_name: Name of the restaurant
- city: City where the restaurant is located
- price_range: Price range (possible values: cheap, moderate, pricey)
Intents:
- ReserveRestaurant (transactional): Reserve a table. Required slots: restaurant_name, city. Optional slots (default): none.

Service calls so far (oldest first, this turn's last):
1. {service}.FindRestaurants(city={city}) -> 1 result
   - restaurant_name={name}; city={city}; price_range=moderate
Transaction status: no transaction attempted yet."""

SEED_LINE = {
    "Base": re.compile(r"^Base scores: \{'mean': [-\d.e]+, 'stdev': [\d.e]+, 'min': [-\d.e]+, 'max': [-\d.e]+\}$"),
    "Trained": re.compile(
        r"^Trained scores: \{'mean': [-\d.e]+, 'stdev': [\d.e]+, 'min': [-\d.e]+, 'max': [-\d.e]+\}$"
    ),
    "Δ": re.compile(r"^Δ mean: [+-]\d"),
}


def make_samples(count: int) -> list[Sample]:
    places = [("Sino", "San Jose"), ("Blue Moon", "Oakland"), ("Alto", "Palo Alto"), ("Nizza", "Fremont")]
    samples = []
    for index in range(count):
        name, city = places[index % len(places)]
        service = "Restaurants_2" if index % 2 else "Restaurants_1"
        samples.append(
            Sample(
                id=f"dlg{index}-turn3",
                dialogue_id=f"dlg{index}",
                turn_index=3,
                prompt=f"User: I want to eat in {city}.",
                ground_truth=f"How about {name} in {city}? It is moderately priced.",
                messages=[
                    {"role": "system", "content": SYSTEM.format(service=service, city=city, name=name)},
                    {"role": "user", "content": "Find me a restaurant please."},
                    {"role": "assistant", "content": "Which city?"},
                    {"role": "user", "content": f"I want to eat in {city}."},
                ],
                split="dev",
                service=service,
                unseen_service=index % 2 == 1,
                acts=[
                    {"act": "OFFER", "slot": "restaurant_name", "values": [name], "canonical_values": [name]},
                    {"act": "OFFER", "slot": "city", "values": [city], "canonical_values": [city]},
                    {"act": "INFORM", "slot": "price_range", "values": ["moderate"], "canonical_values": ["moderate"]},
                ],
            )
        )
    return samples


@model_fixture
def workspace(tmp_path_factory):
    """samples.jsonl, a tiny student (`tracegym student`), and a `train`-style run dir with a LoRA adapter."""
    root = tmp_path_factory.mktemp("eval_cli")
    write_jsonl(root / "samples.jsonl", make_samples(6))
    built = run_cli(
        "student",
        "--train_jsonl",
        root / "samples.jsonl",
        "--out_dir",
        root / "student",
        "--vocab_size",
        "400",
        "--hidden_size",
        "32",
        "--num_layers",
        "1",
        "--num_heads",
        "2",
        "--num_kv_heads",
        "1",
    )
    assert built.returncode == 0, built.stderr
    make_lora_run_dir(root / "student", root / "run")
    return root


def make_lora_run_dir(student_dir, run_dir) -> None:
    """What `tracegym train` leaves: adapter/ with the tokenizer, run.json naming the judge, log.jsonl."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(student_dir)
    # init_lora_weights=False: random A and B, so the trained student really differs from its base
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, lora).save_pretrained(run_dir / "adapter")
    AutoTokenizer.from_pretrained(student_dir).save_pretrained(run_dir / "adapter")
    write_run(run_dir, run_record(student_dir))
    steps = [
        {"kind": "step", "step": s, "reward": 0.2 + 0.01 * s, "completions/mean_length": 30 - s} for s in range(1, 6)
    ]
    # What the act judge spent in training, one record per invocation (a resumed run has two).
    totals = [
        {"kind": "judge_totals", "replies": replies, "calls": 0, "cost_usd": 0.0, "seconds": 1.0}
        for replies in (24, 16)
    ]
    (run_dir / "log.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in steps + [{"kind": "summary", "train_runtime": 1.0}] + totals)
    )


def run_record(student_dir, **changes) -> RunRecord:
    record = RunRecord(
        judge_name="acts",
        judge_fingerprint="acts:00ff00ff00ff00ff",
        framing=Framing(),
        max_prompt_length=512,
        max_completion_length=8,
        seed=0,
        data_seed=None,
        base_model=str(student_dir),
        use_lora=True,
        train_jsonl="train.jsonl",
        config_sha256="ab" * 32,
        tracegym_version="0.1.0",
    )
    return replace(record, **changes)


def eval_args(workspace, *extra: str) -> list[str]:
    return [
        "eval",
        "--eval_jsonl",
        str(workspace / "samples.jsonl"),
        "--base_model",
        str(workspace / "student"),
        "--trained_model_dir",
        str(workspace / "run"),
        "--batch_size",
        "4",
        *extra,
    ]


def test_eval_end_to_end_with_a_lora_run_dir(workspace):
    out_dir = workspace / "eval_out"
    result = run_cli(*eval_args(workspace, "--n", "5", "--judge", "acts", "--out_dir", str(out_dir)))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert SEED_LINE["Base"].match(lines[0]), lines[0]
    assert SEED_LINE["Trained"].match(lines[1]), lines[1]
    assert SEED_LINE["Δ"].match(lines[2]), lines[2]
    assert lines[3].startswith("Δ 95% CI (paired bootstrap, 10000 resamples, 5 prompts): [")
    assert lines[4].startswith("Win / tie / loss: ")
    assert "training judge: acts (acts:00ff00ff00ff00ff)" in result.stdout
    for signal in ("chrF", "slot error rate", "act-value recall", "hallucination rate", "reply length"):
        assert signal in result.stdout
    assert "seen services" in result.stdout and "act OFFER" in result.stdout

    generations = [json.loads(line) for line in (out_dir / "generations.jsonl").read_text().splitlines()]
    assert len(generations) == 5
    assert all(g["split"] == "dev" for g in generations)  # with the id, the key of a sample across splits
    assert all(len(g["base_replies"]) == 1 and len(g["trained_replies"]) == 1 for g in generations)
    assert all(0.0 <= g["base_scores"][0] <= 1.0 for g in generations)
    # The adapter was applied: the trained student does not answer exactly like its base.
    assert any(g["base_replies"] != g["trained_replies"] for g in generations)
    results = json.loads((out_dir / "results.json").read_text())
    assert results["judge"]["name"] == f"acts {ACTS_VERSION}" and results["judge"]["fingerprint"].startswith("acts:")
    assert results["training_judge"] == "acts (acts:00ff00ff00ff00ff)" and results["n_prompts"] == 5
    # Length caps not given: the ones the run trained with (its run.json), so eval sees what training saw.
    assert (results["config"]["max_prompt_length"], results["config"]["max_new_tokens"]) == (512, 8)
    assert (out_dir / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    report = (out_dir / "report.md").read_text()
    assert (
        f"Eval judge:** `acts {ACTS_VERSION}`" in report and "![Reward and reply length over training steps]" in report
    )
    cost = results["cost_per_point"]
    assert cost["training"]["spend"]["calls"] == 40 and cost["training"]["spend"]["seconds"] == 2.0
    spent = cost["evaluation"]["spend"]
    assert (spent["replies"], spent["calls"], spent["cost_usd"]) == (10, 10, 0.0) and spent["seconds"] > 0
    points = results["delta_mean"] / 0.01
    if points > 0:
        assert cost["evaluation"]["per_point"]["calls"] == pytest.approx(10 / points) and cost["note"] is None
    else:
        assert cost["evaluation"]["per_point"] is None and cost["note"] == "no gain, so no cost per point"
    assert "## Cost per point of gain" in report and "| training | `acts (acts:00ff00ff00ff00ff)` | 40 | 40 |" in report


def test_evaluate_in_process_with_a_full_model_dir_and_sampled_replies(workspace, tmp_path):
    from tracegym.evaluation import EvalConfig, evaluate, write_report

    shutil.copytree(workspace / "student", tmp_path / "trained" / "model")
    config = EvalConfig(
        eval_jsonl=str(workspace / "samples.jsonl"),
        base_model=str(workspace / "student"),
        trained_model_dir=str(tmp_path / "trained"),
        n=3,
        num_samples=2,
        temperature=1.0,
        max_new_tokens=6,
        max_prompt_length=512,
        bootstrap_resamples=200,
    )
    result = evaluate(config)
    assert len(result.items) == 3 and all(len(item.trained.replies) == 2 for item in result.items)
    # The same weights on both sides, sampled with the same seed: identical replies, Δ exactly 0.
    assert all(item.base.replies == item.trained.replies for item in result.items)
    assert result.judge_delta.delta == 0.0 and result.win_rates.tie == 1.0 and result.warnings == []
    paths = write_report(result, tmp_path / "out")
    assert "training_curves" not in paths
    assert "dlg" in paths["report"].read_text()  # all ties, yet the examples table still shows prompts


def test_missing_eval_file_is_one_line_and_leaves_nothing(workspace, tmp_path):
    result = run_cli(
        *eval_args(workspace, "--out_dir", str(tmp_path / "out")), "--eval_jsonl", str(tmp_path / "none.jsonl")
    )
    assert_user_error(result, "--eval_jsonl", "none.jsonl")
    assert not (tmp_path / "out").exists()


def test_bad_base_model_path_is_one_line_and_leaves_nothing(workspace, tmp_path):
    result = run_cli(
        *eval_args(workspace, "--out_dir", str(tmp_path / "out")), "--base_model", str(tmp_path / "no_model")
    )
    assert_user_error(result, "--base_model", "no_model")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("n", ["0", "-3"])
def test_n_must_be_positive(workspace, tmp_path, n):
    result = run_cli(*eval_args(workspace, "--out_dir", str(tmp_path / "out"), f"--n={n}"))
    assert_user_error(result, "--n")
    assert not (tmp_path / "out").exists()


def test_trained_dir_without_weights_is_one_line(workspace, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli(
        *eval_args(workspace, "--out_dir", str(tmp_path / "out")), "--trained_model_dir", str(tmp_path / "empty")
    )
    assert_user_error(result, "--trained_model_dir", "adapter_config.json")
    assert not (tmp_path / "out").exists()


def test_the_seed_script_takes_the_seed_flags(tmp_path):
    import subprocess

    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "eval.py"),
            "--eval_jsonl",
            str(tmp_path / "missing.jsonl"),
            "--base_model",
            "b",
            "--trained_model_dir",
            str(tmp_path),
            "--n",
            "50",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_user_error(result, "--eval_jsonl", "missing.jsonl")


@pytest.mark.slow
def test_a_run_dir_without_run_json_says_how_to_fix_it_and_its_adapter_folder_still_evaluates(workspace, tmp_path):
    """A run dir from before run.json: one error naming the file, and the way round it (the adapter itself)."""
    from tracegym.errors import UserError
    from tracegym.evaluation import EvalConfig, evaluate

    legacy = tmp_path / "legacy"
    shutil.copytree(workspace / "run" / "adapter", legacy / "adapter")
    (legacy / "config.yaml").write_text("judge:\n  judge: acts\n")
    config = EvalConfig(
        eval_jsonl=str(workspace / "samples.jsonl"),
        base_model=str(workspace / "student"),
        trained_model_dir=str(legacy),
        n=2,
        max_new_tokens=4,
        bootstrap_resamples=50,
    )
    with pytest.raises(UserError, match=r"no run\.json.*give the model folder itself"):
        evaluate(config)
    result = evaluate(replace(config, trained_model_dir=str(legacy / "adapter")))
    assert result.run_dir is None and result.training_judge is None and result.config.framing == Framing()
    assert (result.config.max_prompt_length, result.config.max_new_tokens) == (512, 4)


@pytest.mark.slow
def test_eval_takes_the_framing_from_run_json_unless_told(workspace, tmp_path):
    """A run recorded as act-conditioned makes eval fill placeholders, which these samples cannot (no acts shown)."""
    from tracegym.errors import UserError
    from tracegym.evaluation import EvalConfig, evaluate

    shutil.copytree(workspace / "run", tmp_path / "run")
    write_run(tmp_path / "run", run_record(workspace / "student", framing=Framing.named("acts")))
    config = EvalConfig(
        eval_jsonl=str(workspace / "samples.jsonl"),
        base_model=str(workspace / "student"),
        trained_model_dir=str(tmp_path / "run"),
        n=2,
        bootstrap_resamples=50,
    )
    with pytest.raises(UserError, match="--placeholders: sample 0"):
        evaluate(config)
    result = evaluate(replace(config, framing=Framing()))
    assert result.training_judge == "acts (acts:00ff00ff00ff00ff)" and result.config.max_new_tokens == 8
