"""Placeholder-constrained decoding: a reply writes each `[n]` its prompt's acts have at most once, and no other.

The tiny students here are random, so they would rarely write a placeholder at all; each test first makes the
student favour placeholders heavily (a `sequence_bias` of +30 on every placeholder token, transformers' own
logits processor) and checks that without the constraint the replies do break the rule, so the checks with it
can fail.
"""

from __future__ import annotations

import collections
import json
import os
import re
from pathlib import Path

from cli_helpers import assert_user_error, run_cli
from factories import model_fixture, train_command

TESTS_DIR = Path(__file__).resolve().parent
ONE_THREAD = {"OMP_NUM_THREADS": "1"}
PLACEHOLDER_TEXT = re.compile(r"\[\d+\]")
BIAS = 30.0


def recording_reward(prompts, completions, **columns):
    """A user's TRL reward function that writes each (prompt, completion) pair to $RECORD_COMPLETIONS."""
    with open(os.environ["RECORD_COMPLETIONS"], "a") as record:
        for prompt, completion in zip(prompts, completions):
            record.write(json.dumps({"prompt": prompt, "completion": completion}) + "\n")
    return [0.0] * len(completions)


def rule_breaks(prompt: str, reply: str) -> list[str]:
    """The placeholders of `reply` that its prompt does not offer, or that it writes more than once."""
    counts = collections.Counter(PLACEHOLDER_TEXT.findall(reply))
    return [p for p, n in counts.items() if p not in PLACEHOLDER_TEXT.findall(prompt) or n > 1]


@model_fixture
def workspace(tmp_path_factory):
    """Act-conditioned samples of the bundled SGD sample with values to fill, and a tiny student with [1] … [8]."""
    from tracegym.samples import read_samples, write_jsonl

    root = tmp_path_factory.mktemp("decoding")
    prepared = run_cli("prepare", "--split", "train", "--include_acts", "--out_path", root / "all.jsonl")
    assert prepared.returncode == 0, prepared.stderr
    samples = [s for s in read_samples(root / "all.jsonl") if any(a.values for a in s.acts)][:8]
    write_jsonl(root / "train.jsonl", samples)
    built = run_cli(
        "student",
        "--train_jsonl",
        root / "train.jsonl",
        "--out_dir",
        root / "student",
        "--vocab_size",
        "300",
        "--hidden_size",
        "32",
        "--num_layers",
        "2",
        "--num_heads",
        "2",
        "--num_kv_heads",
        "1",
        "--placeholder_tokens",
        "8",
        env=ONE_THREAD,
    )
    assert built.returncode == 0, built.stderr
    return root


def placeholder_bias(tokenizer) -> list:
    """`sequence_bias` as GenerationConfig takes it from JSON or YAML: [[[token id], bias], …]."""
    from tracegym.decoding import placeholder_token_ids

    return [[[token_id], BIAS] for token_id in placeholder_token_ids(tokenizer)]


def test_the_constraint_masks_placeholders_the_prompt_lacks_or_the_reply_has_used():
    import torch

    from tracegym.decoding import PlaceholderConstraint

    one, two, three, word = 5, 6, 7, 9
    prompt = torch.tensor([[0, one, two, word], [0, 0, three, word]])
    reply = torch.tensor([[word, one], [word, word]])
    scores = torch.zeros(2, 10)
    masked = PlaceholderConstraint([one, two, three], prompt_length=4)(torch.cat([prompt, reply], dim=1), scores)
    allowed = torch.isfinite(masked)
    assert allowed[0].tolist() == [True] * 5 + [False, True, False] + [True] * 2  # [1] used, [3] not offered
    assert allowed[1].tolist() == [True] * 5 + [False, False, True] + [True] * 2  # only [3] offered
    assert torch.equal(scores, torch.zeros(2, 10)), "the input scores are left as they were"


def test_eval_generation_keeps_every_placeholder_offered_and_single(workspace):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tracegym.evaluation.generate import generate_replies, render_prompts
    from tracegym.framing import Framing
    from tracegym.samples import read_samples

    samples = read_samples(workspace / "train.jsonl")
    tokenizer = AutoTokenizer.from_pretrained(workspace / "student")
    model = AutoModelForCausalLM.from_pretrained(workspace / "student")
    model.generation_config.sequence_bias = placeholder_bias(tokenizer)
    prompts = render_prompts(tokenizer, samples, 256)

    def breaks(constrain: bool) -> list[str]:
        replies = generate_replies(
            model,
            tokenizer,
            samples,
            max_new_tokens=12,
            max_prompt_length=256,
            framing=Framing.named("acts").with_placeholders(True, constrained=constrain),
        )
        return [p for prompt, (reply,) in zip(prompts, replies) for p in rule_breaks(prompt, reply)]

    assert breaks(constrain=False), "the biased student must break the rule when nothing constrains it"
    assert breaks(constrain=True) == []


def test_grpo_samples_with_the_constraint_unless_it_is_turned_off(workspace, tmp_path):
    from transformers import AutoTokenizer

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        json.dumps(
            {
                "generation_kwargs": {
                    "sequence_bias": placeholder_bias(AutoTokenizer.from_pretrained(workspace / "student"))
                }
            }
        )
    )  # JSON is YAML

    def completions(*flags: str) -> list[dict]:
        record = tmp_path / f"completions{len(flags)}.jsonl"
        result = run_cli(
            *train_command(workspace, tmp_path / f"run{len(flags)}"),
            "--config",
            recipe,
            "--placeholders",
            "--max_steps",
            "1",
            "--num_generations",
            "4",
            "--per_device_train_batch_size",
            "8",
            "--gradient_accumulation_steps",
            "1",
            "--max_completion_length",
            "12",
            "--max_prompt_length",
            "256",
            "--report_to",
            "none",
            "--reward_funcs",
            "test_decoding:recording_reward",
            "--reward_weights",
            "1.0,1.0",
            *flags,
            env={
                **ONE_THREAD,
                "RECORD_COMPLETIONS": str(record),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])),
            },
        )
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in record.read_text().splitlines()]

    from tracegym.framing import Framing
    from tracegym.training.rundir import read_run

    unconstrained = completions("--no_constrain_placeholders")
    assert any(rule_breaks(row["prompt"], row["completion"]) for row in unconstrained)
    assert read_run(tmp_path / "run1").framing == Framing(acts=True, placeholders=True, constrained=False)
    constrained = completions()
    assert read_run(tmp_path / "run0").framing == Framing.named("acts"), "the run records how it sampled"
    assert len(constrained) == 8
    assert sum(len(PLACEHOLDER_TEXT.findall(row["completion"])) for row in constrained) > 0
    assert [row for row in constrained if rule_breaks(row["prompt"], row["completion"])] == []


def test_eval_of_a_placeholder_student_without_a_run_asks_whether_to_fill_the_placeholders(workspace, tmp_path):
    """A model dir has no run.json to say how the student was trained: eval must not silently judge raw `[n]`s."""
    student = workspace / "student"
    common = (
        "eval",
        "--eval_jsonl",
        workspace / "train.jsonl",
        "--base_model",
        student,
        "--trained_model_dir",
        student,
    )
    unsaid = run_cli(*common, "--n", "2", "--out_dir", tmp_path / "unsaid", env=ONE_THREAD)
    assert_user_error(unsaid, "writes [n] placeholders", "--placeholders", "--no_placeholders")
    assert not (tmp_path / "unsaid").exists()
    said = run_cli(*common, "--n", "2", "--placeholders", "--out_dir", tmp_path / "said", env=ONE_THREAD)
    assert said.returncode == 0, said.stderr[-3000:]
    assert (tmp_path / "said" / "results.json").is_file()
