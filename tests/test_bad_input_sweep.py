"""Every subcommand against bad input, through the real CLI: wrong paths, malformed JSON and JSONL, wrong field
types, empty files, unknown enum values, negative or zero counts, and output paths that cannot be written.

Each case must end with exit 2 and exactly one `error:` line on stderr (no traceback), and leave nothing new in
its folder: no output file, no run directory, no temporary file. Commands that train or generate must reject the
input before loading a model, so every case takes a second or two.

The cases call `tracegym.cli.main` in-process; a few (SUBPROCESS_CASES) also run as a user runs them, in a fresh
`python -m tracegym`, for the exit code and for stray output from the libraries a command loads.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from cli_helpers import assert_user_error, run_cli
from factories import sample_rows
from tracegym.cli import main
from tracegym.samples import write_jsonl

# Placeholders in a case's arguments, replaced by files that `make_inputs` writes into the case's folder.
MISSING = "{dir}/no_such_file.jsonl"
OUT = "{dir}/out/result.jsonl"  # under a folder that does not exist yet: a command must not create it either
OUT_DIR = "{dir}/out_dir"


def make_inputs(folder: Path) -> None:
    rows = sample_rows(4)
    write_jsonl(folder / "good.jsonl", rows)
    write_jsonl(folder / "replies.jsonl", [{**row, "response": "Sino is nice."} for row in rows])
    (folder / "empty.jsonl").write_text("")
    (folder / "blank_lines.jsonl").write_text("\n\n  \n")
    (folder / "malformed.jsonl").write_text(json.dumps(rows[0]) + '\n{"id": "broken\n')
    (folder / "array.jsonl").write_text(json.dumps(rows) + "\n")  # one JSON array, not one record a line
    (folder / "not_objects.jsonl").write_text("1\n2\n")
    write_jsonl(folder / "wrong_types.jsonl", [{**rows[0], "turn_index": "one", "acts": "INFORM"}])
    write_jsonl(folder / "no_ground_truth.jsonl", [{k: v for k, v in rows[0].items() if k != "ground_truth"}])
    write_jsonl(folder / "messages_not_list.jsonl", [{**rows[0], "messages": "User: hi"}])
    write_jsonl(folder / "response_int.jsonl", [{**rows[0], "response": 7}])
    (folder / "chat_malformed.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}\n')
    write_jsonl(folder / "chat_wrong_type.jsonl", [{"messages": "hello"}])
    write_jsonl(folder / "chat_bad_role.jsonl", [{"messages": [{"role": "wizard", "content": "hi"}]}])
    (folder / "recipe_malformed.yaml").write_text("learning_rate: [1e-5\n")
    (folder / "recipe_unknown_key.yaml").write_text("not_a_grpo_field: 3\n")
    (folder / "recipe_not_mapping.yaml").write_text("- 1\n- 2\n")
    (folder / "empty_dir").mkdir()
    sgd = folder / "sgd_malformed" / "train"
    sgd.mkdir(parents=True)
    (sgd / "schema.json").write_text("[")
    (sgd / "dialogues_001.json").write_text("[{")
    model = folder / "not_a_model"
    model.mkdir()
    (model / "config.json").write_text("{not json")
    (folder / "a_file").write_text("not a folder\n")
    (folder / "a_folder").mkdir()


def case(command: str, *args: str, fragments: tuple[str, ...] = (), id: str, marks=()):
    return pytest.param(command, list(args), fragments, id=f"{command}-{id}", marks=marks)


CASES = [
    # prepare
    case(
        "prepare",
        "--sgd_root",
        "{dir}/no_such_dir",
        "--out_path",
        OUT,
        fragments=("no_such_dir",),
        id="missing-sgd-root",
    ),
    case(
        "prepare",
        "--sgd_root",
        "{dir}/empty_dir",
        "--out_path",
        OUT,
        fragments=("empty_dir",),
        id="sgd-root-without-splits",
    ),
    case("prepare", "--sgd_root", "{dir}/sgd_malformed", "--out_path", OUT, id="sgd-malformed-json"),
    case(
        "prepare",
        "--traces",
        MISSING,
        "--format",
        "chat",
        "--out_path",
        OUT,
        fragments=("no_such_file",),
        id="missing-traces",
    ),
    case(
        "prepare",
        "--traces",
        "{dir}/chat_malformed.jsonl",
        "--format",
        "chat",
        "--out_path",
        OUT,
        id="traces-malformed",
    ),
    case("prepare", "--traces", "{dir}/empty.jsonl", "--format", "chat", "--out_path", OUT, id="traces-empty"),
    case(
        "prepare",
        "--traces",
        "{dir}/chat_wrong_type.jsonl",
        "--format",
        "chat",
        "--out_path",
        OUT,
        id="traces-messages-not-list",
    ),
    case(
        "prepare",
        "--traces",
        "{dir}/chat_bad_role.jsonl",
        "--format",
        "chat",
        "--out_path",
        OUT,
        id="traces-unknown-role",
    ),
    case("prepare", "--split", "holdout", "--out_path", OUT, fragments=("--split",), id="unknown-split"),
    case(
        "prepare",
        "--traces",
        "{dir}/good.jsonl",
        "--format",
        "csv",
        "--out_path",
        OUT,
        fragments=("--format",),
        id="unknown-format",
    ),
    case("prepare", "--max_samples", "0", "--out_path", OUT, fragments=("--max_samples",), id="zero-max-samples"),
    case(
        "prepare",
        "--max_dialogues",
        "-2",
        "--out_path",
        OUT,
        fragments=("--max_dialogues",),
        id="negative-max-dialogues",
    ),
    case("prepare", "--context_turns", "0", "--out_path", OUT, fragments=("--context_turns",), id="zero-context-turns"),
    case(
        "prepare",
        "--services",
        "NoSuchService_9",
        "--out_path",
        OUT,
        fragments=("NoSuchService_9",),
        id="unknown-service",
    ),
    case(
        "prepare",
        "--with_rubric",
        "--teacher",
        "acts",
        "--out_path",
        OUT,
        fragments=("--teacher acts",),
        id="rubric-teacher-cannot-write",
    ),
    case("prepare", "--with_rubric", "--teacher", "gemni", "--out_path", OUT, fragments=("gemni",), id="teacher-typo"),
    case(
        "prepare",
        "--with_rubric",
        "--max_rubric_failures",
        "1.5",
        "--out_path",
        OUT,
        fragments=("--max_rubric_failures",),
        id="rubric-failures-not-a-share",
    ),
    # split
    case(
        "split",
        "--in_path",
        MISSING,
        "--train_out",
        OUT,
        "--eval_out",
        "{dir}/out/eval.jsonl",
        fragments=("no_such_file",),
        id="missing-input",
    ),
    case(
        "split",
        "--in_path",
        "{dir}/malformed.jsonl",
        "--train_out",
        OUT,
        "--eval_out",
        "{dir}/out/eval.jsonl",
        fragments=("line 2",),
        id="malformed-jsonl",
    ),
    case(
        "split",
        "--in_path",
        "{dir}/empty.jsonl",
        "--train_out",
        OUT,
        "--eval_out",
        "{dir}/out/eval.jsonl",
        id="empty-file",
    ),
    case(
        "split",
        "--in_path",
        "{dir}/array.jsonl",
        "--train_out",
        OUT,
        "--eval_out",
        "{dir}/out/eval.jsonl",
        id="json-array-not-jsonl",
    ),
    case(
        "split",
        "--in_path",
        "{dir}/wrong_types.jsonl",
        "--train_out",
        OUT,
        "--eval_out",
        "{dir}/out/eval.jsonl",
        id="wrong-field-types",
    ),
    case(
        "split",
        "--in_path",
        "{dir}/good.jsonl",
        "--train_out",
        OUT,
        "--eval_out",
        "{dir}/out/eval.jsonl",
        "--eval_fraction",
        "0",
        fragments=("--eval_fraction",),
        id="zero-fraction",
    ),
    case(
        "split",
        "--in_path",
        "{dir}/good.jsonl",
        "--train_out",
        OUT,
        "--eval_out",
        "{dir}/out/eval.jsonl",
        "--eval_fraction",
        "1.5",
        fragments=("--eval_fraction",),
        id="fraction-above-one",
    ),
    # rubrics
    case(
        "rubrics",
        "--in_path",
        MISSING,
        "--out_path",
        OUT,
        "--teacher",
        "openai",
        fragments=("no_such_file",),
        id="missing-input",
    ),
    case(
        "rubrics", "--in_path", "{dir}/malformed.jsonl", "--out_path", OUT, "--teacher", "openai", id="malformed-jsonl"
    ),
    case("rubrics", "--in_path", "{dir}/empty.jsonl", "--out_path", OUT, "--teacher", "openai", id="empty-file"),
    case(
        "rubrics",
        "--in_path",
        "{dir}/good.jsonl",
        "--out_path",
        OUT,
        "--teacher",
        "nosuchteacher",
        fragments=("nosuchteacher",),
        id="unknown-teacher",
    ),
    case("rubrics", "--in_path", "{dir}/good.jsonl", "--out_path", OUT, fragments=("--teacher",), id="no-teacher"),
    case(
        "rubrics",
        "--in_path",
        "{dir}/good.jsonl",
        "--out_path",
        OUT,
        "--teacher",
        "openai",
        "--concurrency",
        "0",
        fragments=("--concurrency",),
        id="zero-concurrency",
    ),
    # judge
    case("judge", "--in_path", MISSING, "--out_path", OUT, fragments=("no_such_file",), id="missing-input"),
    case("judge", "--in_path", "{dir}/malformed.jsonl", "--out_path", OUT, fragments=("line 2",), id="malformed-jsonl"),
    case(
        "judge", "--in_path", "{dir}/blank_lines.jsonl", "--out_path", OUT, fragments=("no samples",), id="blank-file"
    ),
    case("judge", "--in_path", "{dir}/not_objects.jsonl", "--out_path", OUT, id="records-not-objects"),
    case(
        "judge",
        "--in_path",
        "{dir}/response_int.jsonl",
        "--out_path",
        OUT,
        fragments=("`response` is int",),
        id="response-not-string",
    ),
    case(
        "judge", "--in_path", "{dir}/good.jsonl", "--out_path", OUT, fragments=("`response`",), id="no-response-field"
    ),
    case(
        "judge",
        "--in_path",
        "{dir}/replies.jsonl",
        "--out_path",
        OUT,
        "--judge",
        "gpt7",
        fragments=("gpt7",),
        id="unknown-judge",
    ),
    case(
        "judge",
        "--in_path",
        "{dir}/replies.jsonl",
        "--out_path",
        OUT,
        "--judge_mode",
        "pairwise",
        fragments=("--judge_mode",),
        id="unknown-judge-mode",
    ),
    case(
        "judge",
        "--in_path",
        "{dir}/replies.jsonl",
        "--out_path",
        OUT,
        "--max_judge_calls",
        "0",
        fragments=("--max_judge_calls",),
        id="zero-call-cap",
    ),
    case(
        "judge",
        "--in_path",
        "{dir}/replies.jsonl",
        "--out_path",
        OUT,
        "--timeout",
        "-1",
        fragments=("--timeout",),
        id="negative-timeout",
    ),
    case(
        "judge",
        "--in_path",
        "{dir}/replies.jsonl",
        "--out_path",
        OUT,
        "--judge",
        "openai",
        "--base_url",
        "http://127.0.0.1:9/v1",
        id="openai-without-model",
    ),
    case(
        "judge",
        "--in_path",
        "{dir}/replies.jsonl",
        "--out_path",
        OUT,
        "--judge",
        "acts",
        "--cache",
        "{dir}/good.jsonl",
        fragments=("--cache",),
        id="cache-not-sqlite",
    ),
    # student
    case("student", "--train_jsonl", MISSING, "--out_dir", OUT_DIR, fragments=("no_such_file",), id="missing-input"),
    case("student", "--train_jsonl", "{dir}/malformed.jsonl", "--out_dir", OUT_DIR, id="malformed-jsonl"),
    case("student", "--train_jsonl", "{dir}/empty.jsonl", "--out_dir", OUT_DIR, id="empty-file"),
    case(
        "student",
        "--train_jsonl",
        "{dir}/good.jsonl",
        "--out_dir",
        OUT_DIR,
        "--vocab_size",
        "0",
        fragments=("--vocab_size",),
        id="zero-vocab",
    ),
    case(
        "student",
        "--train_jsonl",
        "{dir}/good.jsonl",
        "--out_dir",
        OUT_DIR,
        "--num_layers",
        "-1",
        fragments=("--num_layers",),
        id="negative-layers",
    ),
    case(
        "student",
        "--train_jsonl",
        "{dir}/good.jsonl",
        "--out_dir",
        OUT_DIR,
        "--num_heads",
        "3",
        "--hidden_size",
        "32",
        id="heads-do-not-divide-width",
    ),
    case(
        "student",
        "--sgd_root",
        "{dir}/no_such_dir",
        "--out_dir",
        OUT_DIR,
        fragments=("no_such_dir",),
        id="missing-sgd-root",
    ),
    # sft
    case(
        "sft",
        "--model_name",
        "{dir}/no_such_model",
        "--train_jsonl",
        "{dir}/good.jsonl",
        "--output_dir",
        OUT_DIR,
        fragments=("no_such_model",),
        id="missing-model",
    ),
    case(
        "sft",
        "--model_name",
        "{dir}/not_a_model",
        "--train_jsonl",
        MISSING,
        "--output_dir",
        OUT_DIR,
        fragments=("no_such_file",),
        id="missing-input",
    ),
    case(
        "sft",
        "--model_name",
        "{dir}/not_a_model",
        "--train_jsonl",
        "{dir}/malformed.jsonl",
        "--output_dir",
        OUT_DIR,
        id="malformed-jsonl",
    ),
    case(
        "sft",
        "--model_name",
        "{dir}/not_a_model",
        "--train_jsonl",
        "{dir}/empty.jsonl",
        "--output_dir",
        OUT_DIR,
        id="empty-file",
    ),
    case(
        "sft",
        "--model_name",
        "{dir}/not_a_model",
        "--train_jsonl",
        "{dir}/good.jsonl",
        "--output_dir",
        OUT_DIR,
        id="model-config-malformed",
    ),
    case(
        "sft",
        "--model_name",
        "{dir}/not_a_model",
        "--train_jsonl",
        "{dir}/good.jsonl",
        "--output_dir",
        OUT_DIR,
        "--max_steps",
        "0",
        fragments=("--max_steps",),
        id="zero-steps",
    ),
    case(
        "sft",
        "--model_name",
        "{dir}/not_a_model",
        "--train_jsonl",
        "{dir}/good.jsonl",
        "--output_dir",
        OUT_DIR,
        "--learning_rate",
        "-1",
        fragments=("--learning_rate",),
        id="negative-learning-rate",
    ),
    # train (an unknown --judge or --reward_funcs with a real model: tests/test_train.py)
    case(
        "train",
        "--train_jsonl",
        MISSING,
        "--model_name",
        "{dir}/not_a_model",
        "--output_dir",
        OUT_DIR,
        fragments=("no_such_file",),
        id="missing-input",
    ),
    case(
        "train",
        "--train_jsonl",
        "{dir}/malformed.jsonl",
        "--model_name",
        "{dir}/not_a_model",
        "--output_dir",
        OUT_DIR,
        id="malformed-jsonl",
    ),
    case(
        "train",
        "--train_jsonl",
        "{dir}/empty.jsonl",
        "--model_name",
        "{dir}/not_a_model",
        "--output_dir",
        OUT_DIR,
        id="empty-file",
    ),
    case(
        "train",
        "--train_jsonl",
        "{dir}/no_ground_truth.jsonl",
        "--model_name",
        "{dir}/not_a_model",
        "--output_dir",
        OUT_DIR,
        fragments=("ground_truth",),
        id="missing-field",
    ),
    case(
        "train",
        "--train_jsonl",
        "{dir}/messages_not_list.jsonl",
        "--model_name",
        "{dir}/not_a_model",
        "--output_dir",
        OUT_DIR,
        fragments=("messages",),
        id="wrong-field-type",
    ),
    case(
        "train",
        "--train_jsonl",
        "{dir}/good.jsonl",
        "--model_name",
        "{dir}/no_such_model",
        "--output_dir",
        OUT_DIR,
        fragments=("no_such_model",),
        id="missing-model",
    ),
    case(
        "train",
        "--train_jsonl",
        "{dir}/good.jsonl",
        "--model_name",
        "{dir}/not_a_model",
        "--output_dir",
        OUT_DIR,
        "--num_generations",
        "0",
        fragments=("--num_generations",),
        id="zero-generations",
    ),
    case(
        "train",
        "--train_jsonl",
        "{dir}/good.jsonl",
        "--model_name",
        "{dir}/not_a_model",
        "--output_dir",
        OUT_DIR,
        "--max_steps",
        "-3",
        fragments=("--max_steps",),
        id="negative-steps",
    ),
    case(
        "train",
        "--config",
        "{dir}/recipe_malformed.yaml",
        "--train_jsonl",
        "{dir}/good.jsonl",
        "--model_name",
        "{dir}/not_a_model",
        "--output_dir",
        OUT_DIR,
        fragments=("recipe_malformed.yaml",),
        id="recipe-malformed-yaml",
    ),
    case(
        "train",
        "--config",
        "{dir}/recipe_unknown_key.yaml",
        "--train_jsonl",
        "{dir}/good.jsonl",
        "--model_name",
        "{dir}/not_a_model",
        "--output_dir",
        OUT_DIR,
        fragments=("not_a_grpo_field",),
        id="recipe-unknown-key",
    ),
    case(
        "train",
        "--config",
        "{dir}/recipe_not_mapping.yaml",
        "--train_jsonl",
        "{dir}/good.jsonl",
        "--model_name",
        "{dir}/not_a_model",
        "--output_dir",
        OUT_DIR,
        id="recipe-not-a-mapping",
    ),
    case(
        "train",
        "--config",
        MISSING,
        "--train_jsonl",
        "{dir}/good.jsonl",
        "--model_name",
        "{dir}/not_a_model",
        "--output_dir",
        OUT_DIR,
        fragments=("no_such_file",),
        id="missing-recipe",
    ),
    case(
        "train",
        "--train_jsonl",
        "{dir}/good.jsonl",
        "--model_name",
        "{dir}/not_a_model",
        "--output_dir",
        OUT_DIR,
        "--resume_from_checkpoint",
        "last",
        fragments=("--resume_from_checkpoint",),
        id="resume-without-checkpoint",
    ),
    # eval
    case(
        "eval",
        "--eval_jsonl",
        MISSING,
        "--base_model",
        "{dir}/not_a_model",
        "--trained_model_dir",
        "{dir}/not_a_model",
        "--out_dir",
        OUT_DIR,
        fragments=("no_such_file",),
        id="missing-input",
    ),
    case(
        "eval",
        "--eval_jsonl",
        "{dir}/malformed.jsonl",
        "--base_model",
        "{dir}/not_a_model",
        "--trained_model_dir",
        "{dir}/not_a_model",
        "--out_dir",
        OUT_DIR,
        id="malformed-jsonl",
    ),
    case(
        "eval",
        "--eval_jsonl",
        "{dir}/empty.jsonl",
        "--base_model",
        "{dir}/not_a_model",
        "--trained_model_dir",
        "{dir}/not_a_model",
        "--out_dir",
        OUT_DIR,
        id="empty-file",
    ),
    case(
        "eval",
        "--eval_jsonl",
        "{dir}/wrong_types.jsonl",
        "--base_model",
        "{dir}/not_a_model",
        "--trained_model_dir",
        "{dir}/not_a_model",
        "--out_dir",
        OUT_DIR,
        id="wrong-field-types",
    ),
    case(
        "eval",
        "--eval_jsonl",
        "{dir}/good.jsonl",
        "--base_model",
        "{dir}/no_such_model",
        "--trained_model_dir",
        "{dir}/not_a_model",
        "--out_dir",
        OUT_DIR,
        fragments=("no_such_model",),
        id="missing-base-model",
    ),
    case(
        "eval",
        "--eval_jsonl",
        "{dir}/good.jsonl",
        "--base_model",
        "{dir}/not_a_model",
        "--trained_model_dir",
        "{dir}/no_such_run",
        "--out_dir",
        OUT_DIR,
        fragments=("no_such_run",),
        id="missing-run-dir",
    ),
    case(
        "eval",
        "--eval_jsonl",
        "{dir}/good.jsonl",
        "--base_model",
        "{dir}/not_a_model",
        "--trained_model_dir",
        "{dir}/not_a_model",
        "--out_dir",
        OUT_DIR,
        "--n",
        "0",
        fragments=("--n",),
        id="zero-n",
    ),
    case(
        "eval",
        "--eval_jsonl",
        "{dir}/good.jsonl",
        "--base_model",
        "{dir}/not_a_model",
        "--trained_model_dir",
        "{dir}/not_a_model",
        "--out_dir",
        OUT_DIR,
        "--temperature",
        "-0.5",
        fragments=("--temperature",),
        id="negative-temperature",
    ),
    case(
        "eval",
        "--eval_jsonl",
        "{dir}/good.jsonl",
        "--base_model",
        "{dir}/not_a_model",
        "--trained_model_dir",
        "{dir}/not_a_model",
        "--out_dir",
        OUT_DIR,
        "--judge",
        "gpt7",
        fragments=("gpt7",),
        id="unknown-judge",
    ),
    # demo
    case(
        "demo",
        "--out_dir",
        OUT_DIR,
        "--base",
        "scratch",
        "--sgd_root",
        "{dir}/no_such_dir",
        fragments=("no_such_dir",),
        id="missing-sgd-root",
    ),
    case(
        "demo",
        "--out_dir",
        OUT_DIR,
        "--train_dialogues",
        "30",
        fragments=("--base bundled", "without --train_dialogues", "--base scratch"),
        id="bundled-base-other-settings",
    ),
    case("demo", "--out_dir", OUT_DIR, "--framing", "telepathy", fragments=("--framing",), id="unknown-framing"),
    case("demo", "--out_dir", OUT_DIR, "--grpo_steps", "0", fragments=("--grpo_steps",), id="zero-steps"),
    case("demo", "--out_dir", OUT_DIR, "--sft_minutes", "-1", fragments=("--sft_minutes",), id="negative-minutes"),
    case("demo", "--out_dir", OUT_DIR, "--eval_n", "0", fragments=("--eval_n",), id="zero-eval-n"),
    # audit
    case(
        "audit",
        "--judge",
        "acts",
        "--in_path",
        MISSING,
        "--out_path",
        OUT,
        fragments=("no_such_file",),
        id="missing-input",
    ),
    case(
        "audit",
        "--judge",
        "acts",
        "--in_path",
        "{dir}/malformed.jsonl",
        "--out_path",
        OUT,
        fragments=("line 2",),
        id="malformed-jsonl",
    ),
    case("audit", "--judge", "acts", "--in_path", "{dir}/empty.jsonl", "--out_path", OUT, id="empty-file"),
    case("audit", "--judge", "acts", "--in_path", "{dir}/wrong_types.jsonl", "--out_path", OUT, id="wrong-field-types"),
    case("audit", "--judge", "gpt7", "--out_path", OUT, fragments=("gpt7",), id="unknown-judge"),
    case("audit", "--out_path", OUT, fragments=("--judge",), id="no-judge"),
    case("audit", "--judge", "acts", "--n", "0", "--out_path", OUT, fragments=("--n",), id="zero-n"),
    case(
        "audit",
        "--judge",
        "acts",
        "--fail_above",
        "1.5",
        "--out_path",
        OUT,
        fragments=("--fail_above",),
        id="rate-above-one",
    ),
    case(
        "audit",
        "--judge",
        "acts",
        "--retest_n",
        "-1",
        "--out_path",
        OUT,
        fragments=("--retest_n",),
        id="negative-retest",
    ),
]


# Output paths that cannot be written, for every command that writes: a folder where a file is wanted, a file
# where a folder is wanted, a parent that is a file. Each must fail before any work (no model is loaded).
IS_DIR = "{dir}/a_folder"
IS_FILE = "{dir}/a_file"
UNDER_FILE = "{dir}/a_file/sub/out.jsonl"
FILE_OUTPUTS = {
    "prepare": ("prepare", "--out_path"),
    "split-train": ("split", "--in_path", "{dir}/good.jsonl", "--eval_out", "{dir}/e.jsonl", "--train_out"),
    "split-eval": ("split", "--in_path", "{dir}/good.jsonl", "--train_out", "{dir}/t.jsonl", "--eval_out"),
    "rubrics": ("rubrics", "--in_path", "{dir}/good.jsonl", "--teacher", "openai", "--out_path"),
    "judge": ("judge", "--in_path", "{dir}/replies.jsonl", "--out_path"),
    "judge-cache": ("judge", "--in_path", "{dir}/replies.jsonl", "--out_path", OUT, "--cache"),
    "audit": ("audit", "--judge", "acts", "--n", "1", "--out_path"),
    "prepare-cache": ("prepare", "--with_rubric", "--teacher", "openai", "--out_path", OUT, "--cache"),
}
DIR_OUTPUTS = {
    "student": ("student", "--train_jsonl", "{dir}/good.jsonl", "--out_dir"),
    "sft": ("sft", "--model_name", "{dir}/not_a_model", "--train_jsonl", "{dir}/good.jsonl", "--output_dir"),
    "train": ("train", "--model_name", "{dir}/not_a_model", "--train_jsonl", "{dir}/good.jsonl", "--output_dir"),
    "eval": (
        "eval",
        "--eval_jsonl",
        "{dir}/good.jsonl",
        "--base_model",
        "{dir}/not_a_model",
        "--trained_model_dir",
        "{dir}/not_a_model",
        "--out_dir",
    ),
    "demo": ("demo", "--out_dir"),
}
for name, (command, *args) in FILE_OUTPUTS.items():
    flag = args[-1]
    CASES.append(
        case(command, *args, IS_DIR, fragments=(flag, "is a directory"), id="out-is-a-folder" + name[len(command) :])
    )
    CASES.append(
        case(command, *args, UNDER_FILE, fragments=(flag, "is a file"), id="out-under-a-file" + name[len(command) :])
    )
for name, (command, *args) in DIR_OUTPUTS.items():
    flag = args[-1]
    CASES.append(
        case(command, *args, IS_FILE, fragments=(flag, "is a file"), id="out-is-a-file" + name[len(command) :])
    )
    CASES.append(
        case(command, *args, UNDER_FILE, fragments=(flag, "is a file"), id="out-under-a-file" + name[len(command) :])
    )

# Run again in a subprocess: the exit code and stderr exactly as a user sees them (libraries' own output included).
SUBPROCESS_CASES = {
    "prepare-missing-sgd-root",
    "judge-malformed-jsonl",
    "train-missing-model",
    "eval-zero-n",
    "demo-unknown-framing",
    "student-out-is-a-file",
    "judge-out-is-a-folder",
}


def files_under(folder: Path) -> set[Path]:
    return {path.relative_to(folder) for path in folder.rglob("*")}


def run_in_process(capsys, monkeypatch, folder: Path, argv: list[str]) -> subprocess.CompletedProcess:
    """`tracegym.cli.main(argv)` run here, its exit code and captured output shaped like a subprocess's."""
    monkeypatch.chdir(folder)
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["tracegym", *argv], code, out, err)


@pytest.mark.parametrize("command, args, fragments", CASES)
def test_bad_input_is_exit_2_with_one_error_line_and_leaves_nothing_behind(
    tmp_path, capsys, monkeypatch, command, args, fragments
):
    make_inputs(tmp_path)
    before = files_under(tmp_path)

    result = run_in_process(capsys, monkeypatch, tmp_path, [command, *(arg.format(dir=tmp_path) for arg in args)])

    assert_user_error(result, *fragments)
    assert files_under(tmp_path) == before, f"left behind: {sorted(map(str, files_under(tmp_path) - before))}"


@pytest.mark.parametrize("command, args, fragments", [c for c in CASES if c.id in SUBPROCESS_CASES])
def test_bad_input_in_a_fresh_process_is_exit_2_and_one_line(tmp_path, command, args, fragments):
    make_inputs(tmp_path)
    before = files_under(tmp_path)

    result = run_cli(command, *(arg.format(dir=tmp_path) for arg in args), cwd=tmp_path, timeout=120)

    assert_user_error(result, *fragments)
    assert files_under(tmp_path) == before, f"left behind: {sorted(map(str, files_under(tmp_path) - before))}"


def test_every_subprocess_case_exists():
    assert SUBPROCESS_CASES <= {c.id for c in CASES}


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.parametrize("command, args", [(c, a) for c, *a in [*FILE_OUTPUTS.values(), *DIR_OUTPUTS.values()]])
def test_an_output_in_a_read_only_folder_is_exit_2_before_any_work(tmp_path, capsys, monkeypatch, command, args):
    make_inputs(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        argv = [command, *(arg.format(dir=tmp_path) for arg in args), str(locked / "out" / "x.jsonl")]
        result = run_in_process(capsys, monkeypatch, tmp_path, argv)
        assert_user_error(result, args[-1], "not writable")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)
