"""Running the real CLI in a subprocess, as a user does, and checking the error contract."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_SGD = REPO_ROOT.parent / "shared" / "data" / "sgd"
# "fast" or "slow": the tier of the test running now (tests/conftest.py sets it before the test's fixtures).
TIER_VARIABLE = "TRACEGYM_TEST_TIER"
MODEL_COMMANDS = frozenset({"student", "sft", "train", "eval", "demo"})


def run_cli(
    *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """`tracegym <args>` in a subprocess, as a user runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "tracegym", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    fail_a_model_run_in_the_fast_tier([str(arg) for arg in args], result.returncode)
    return result


def fail_a_model_run_in_the_fast_tier(args: list[str], returncode: int) -> None:
    """Fails the test when a command that builds, trains or runs a model succeeded in a test not marked slow."""
    ran_a_model = bool(args) and args[0] in MODEL_COMMANDS and "--help" not in args and returncode == 0
    if ran_a_model and os.environ.get(TIER_VARIABLE) == "fast":
        pytest.fail(
            f"`tracegym {args[0]}` made or ran a model in a test of the fast tier: mark the test "
            "@pytest.mark.slow, or build the model in a fixture made with factories.model_fixture",
            pytrace=False,
        )


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2 with exactly one `error: …` line on stderr that mentions each fragment; no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
