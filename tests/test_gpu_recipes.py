"""docs/GPU.md's recipes cannot drift from the CLI: every `tracegym train` command and YAML recipe in it is parsed
through what `tracegym train` runs (its parser, `commands.train.run_config_of`, TRL's GRPOConfig and PEFT's
LoraConfig), with no hub, no GPU and no training."""

from __future__ import annotations

import re
import shlex
from importlib.util import find_spec

import pytest

from cli_helpers import REPO_ROOT

GPU_DOC = REPO_ROOT / "docs" / "GPU.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
RECIPE_NAME = re.compile(r"^# (\S+\.yaml)\b")


def code_blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(GPU_DOC.read_text(encoding="utf-8")) if lang == language]


def recipes() -> dict[str, str]:
    """The YAML blocks, each by the file name its first line gives (`# recipe-x.yaml: …`)."""
    found = {}
    for body in code_blocks("yaml"):
        name = RECIPE_NAME.match(body)
        assert name, f"a YAML block in docs/GPU.md does not start with `# <file>.yaml: …`:\n{body}"
        found[name.group(1)] = body
    return found


def train_commands() -> list[list[str]]:
    """The arguments after `tracegym train` of each command in the bash blocks (continuation lines joined)."""
    commands = []
    for body in code_blocks("bash"):
        for line in body.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            for index in range(len(words) - 1):
                if words[index : index + 2] == ["tracegym", "train"]:
                    commands.append(words[index + 2 :])
    return commands


COMMANDS = train_commands()
RECIPES = recipes()


def test_the_doc_has_the_commands_and_recipes_this_test_reads():
    assert len(COMMANDS) >= 6, COMMANDS
    assert {"recipe-gemma2-2b.yaml", "recipe-gemma2-2b-vllm.yaml", "recipe-fsdp.yaml"} <= set(RECIPES)


def given_flags(argv: list[str]) -> dict[str, str | None]:
    """`--name value` and bare `--name` of a command line, by name."""
    flags: dict[str, str | None] = {}
    for index, word in enumerate(argv):
        if word.startswith("--"):
            following = argv[index + 1] if index + 1 < len(argv) else None
            flags[word[2:]] = following if following is not None and not following.startswith("--") else None
    return flags


def resolved_keys(config) -> set[str]:
    return {key for section in config.to_dict().values() if isinstance(section, dict) for key in section}


@pytest.mark.parametrize("argv", COMMANDS, ids=[str(given_flags(argv).get("output_dir")) for argv in COMMANDS])
def test_each_train_command_parses_into_trl_and_peft_configs(argv, tmp_path, monkeypatch):
    import yaml

    from tracegym.cli import build_parser
    from tracegym.commands import train
    from tracegym.training.grpo import build_grpo_config, build_lora_config

    monkeypatch.chdir(tmp_path)
    for name, body in RECIPES.items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    flags = given_flags(argv)
    if "config" in flags:
        assert flags["config"] in RECIPES, f"--config {flags['config']} is not one of docs/GPU.md's recipes"

    args = build_parser().parse_args(["train", *argv])  # an unknown flag is a UserError here
    config = train.run_config_of(args)  # an unknown recipe key, or a bad value, is a UserError here

    keys = resolved_keys(config)
    assert set(flags) - {"config"} <= keys, "a flag the resolved configuration lost"
    if "config" in flags:
        assert set(yaml.safe_load(RECIPES[flags["config"]])) <= keys, "a recipe key the configuration lost"
    grpo = dict(config.grpo)
    if grpo.get("deepspeed") and find_spec("deepspeed") is None:
        grpo.pop("deepspeed")  # TrainingArguments reads the DeepSpeed JSON only with deepspeed installed
    assert build_grpo_config(grpo).output_dir == flags.get("output_dir", grpo.get("output_dir"))
    if config.lora is not None:
        build_lora_config(config.lora)


def test_a_flag_the_cli_does_not_take_fails_this_check(tmp_path, monkeypatch):
    """The check above can fail: a recipe key no config declares is refused by the same path."""
    from tracegym.cli import build_parser
    from tracegym.commands import train
    from tracegym.errors import UserError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "stale.yaml").write_text(RECIPES["recipe-gemma2-2b.yaml"] + "gradient_checkpointing_typo: true\n")
    args = build_parser().parse_args(["train", "--config", "stale.yaml", "--output_dir", "runs/x"])
    with pytest.raises(UserError, match="gradient_checkpointing_typo"):
        train.run_config_of(args)
    with pytest.raises(UserError, match="--no_such_flag"):
        build_parser().parse_args(["train", "--no_such_flag", "1"])
