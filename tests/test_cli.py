"""The command line as a whole: every subcommand has --help, usage errors are one line, start-up is light."""

from __future__ import annotations

import subprocess
import sys

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
