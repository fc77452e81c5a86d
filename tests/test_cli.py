"""The command line as a whole: every subcommand has --help, usage errors are one line, start-up is light."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from cli_helpers import assert_user_error, run_cli
from tracegym.cli import COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"tracegym {command}" in result.stdout
    assert "not built yet" not in result.stdout


def test_no_command_prints_help_and_exits_2():
    result = run_cli()
    assert result.returncode == 2
    assert "prepare" in result.stderr


def test_unknown_command_is_one_error_line():
    assert_user_error(run_cli("frobnicate"), "frobnicate")


def test_unknown_flag_is_one_error_line():
    assert_user_error(
        run_cli("split", "--in_path", "a", "--train_out", "b", "--eval_out", "c", "--no_such_flag"), "--no_such_flag"
    )


@pytest.mark.parametrize("command", ["prepare", "split", "judge", "audit"])
def test_light_commands_do_not_import_torch_or_sdks(command):
    probe = (
        "import sys, runpy\n"
        f"sys.argv = ['tracegym', {command!r}, '--help']\n"
        "try:\n"
        "    runpy.run_module('tracegym', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'google.genai', 'openai') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    marker = [line for line in result.stdout.splitlines() if line.startswith("HEAVY=")][-1]
    assert marker == "HEAVY=", f"{command} imported {marker}"


# ---------------------------------------------------------------------------------------------------- options


def subparser(command: str):
    import argparse

    from tracegym.cli import build_parser

    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[command]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_flag_of_every_command_is_listed_with_its_default(command):
    import argparse

    parser = subparser(command)
    text = parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        for flag in action.option_strings:
            assert flag in text, (command, flag)
            assert "--no-" not in flag, f"{command} {flag}: one spelling, --no_<field>"
        shown = action.default not in (None, False, True, [], argparse.SUPPRESS) and not action.required
        if shown and not action.dest.startswith("_"):
            assert "(default" in (action.help or ""), (command, action.dest, action.help)


def test_judge_flags_default_to_the_judge_settings_and_the_llm_judge_takes_them_from_there():
    from tracegym.judges import JudgeSettings
    from tracegym.judges.llm import LLMJudgeConfig
    from tracegym.judges.retry import RetryPolicy

    args = subparser("judge").parse_args(["--in_path", "a", "--out_path", "b"])
    assert JudgeSettings.from_args(args) == JudgeSettings()
    config = LLMJudgeConfig(model="m")
    settings = JudgeSettings()
    assert (config.mode, config.concurrency, config.timeout) == (
        settings.judge_mode,
        settings.concurrency,
        settings.timeout,
    )
    assert RetryPolicy().max_retries == settings.max_retries
    audit = subparser("audit").parse_args([])
    assert audit.judge is None and audit.concurrency == settings.concurrency


def test_command_defaults_are_the_stage_configs_defaults():
    from dataclasses import fields

    from tracegym.demo import DemoConfig
    from tracegym.evaluation.eval import DEFAULT_MAX_PROMPT_LENGTH, EvalConfig
    from tracegym.options import MAX_PROMPT_LENGTH, values_for
    from tracegym.training.config import TrainOptions
    from tracegym.training.sft import SFTSettings
    from tracegym.training.student import StudentConfig

    demo = subparser("demo").parse_args([])
    assert values_for(DemoConfig, demo) == DemoConfig()
    assert {f.name for f in fields(DemoConfig)} <= set(vars(demo))
    student = subparser("student").parse_args(["--out_dir", "s"])
    assert values_for(StudentConfig, student) == StudentConfig(out_dir="s")
    sft = subparser("sft").parse_args(["--model_name", "m", "--train_jsonl", "t", "--output_dir", "o"])
    assert values_for(SFTSettings, sft) == SFTSettings(model_name="m", train_jsonl="t", output_dir="o")
    eval_args = subparser("eval").parse_args(["--eval_jsonl", "e", "--base_model", "b", "--trained_model_dir", "t"])
    assert values_for(EvalConfig, eval_args, judge=EvalConfig("e", "b", "t").judge) == EvalConfig("e", "b", "t")
    assert TrainOptions().max_prompt_length == DEFAULT_MAX_PROMPT_LENGTH == MAX_PROMPT_LENGTH


def test_train_flags_left_out_are_unset_so_the_recipe_and_the_declared_defaults_apply():
    from tracegym.training.config import GRPO_DEFAULTS

    parser = subparser("train")
    args = parser.parse_args(["--placeholders", "--no_constrain_placeholders"])
    assert args.max_steps is None and args.judge is None and args.concurrency is None
    assert args.placeholders is True and args.constrain_placeholders is False
    assert f"(default {GRPO_DEFAULTS['max_steps']})" in parser.format_help()


def test_the_demo_builds_its_stage_configs_without_the_command_line(tmp_path, monkeypatch):
    import ast
    import inspect

    import tracegym.demo as demo_module
    import tracegym.training.grpo as grpo
    from tracegym.demo import DemoConfig, DemoRun, grpo_stage
    from tracegym.judges import JudgeSettings
    from tracegym.training.config import GRPO_DEFAULTS

    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(ast.parse(inspect.getsource(demo_module)))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert not [name for name in imported if name.startswith(("tracegym.cli", "tracegym.commands"))]

    seen = []
    monkeypatch.setattr(grpo, "run", lambda config, validator_factory=None: seen.append((config, validator_factory)))
    config = DemoConfig(out_dir=str(tmp_path), constrain_placeholders=False)
    grpo_stage(DemoRun(config=config, out_dir=tmp_path), lambda line: None)
    ((run, validator_factory),) = seen
    assert validator_factory is not None and run.options.validate_every == config.validate_every > 0
    assert run.judge == JudgeSettings(judge="acts")
    assert run.grpo["max_steps"] == config.grpo_steps and run.grpo["beta"] == config.beta
    assert run.grpo["num_generations"] == GRPO_DEFAULTS["num_generations"]
    assert run.options.framing == replace(config.student_framing, compact=False)  # compact: the samples say so
    assert (run.options.placeholders, run.options.constrain_placeholders) == (True, False)
