"""What several subcommands share: the value checks, the judge flags, the seed, an input-file check."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tracegym.errors import UserError
from tracegym.judges.config import JudgeSettings
from tracegym.options import (  # noqa: F401  (re-exported for the command modules)
    add_options,
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    rate,
)


def existing_file(path: str | Path, flag: str) -> Path:
    """`path` as a Path, or a UserError naming `flag` when it is not an existing file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{flag} {path}: no such file; check the path")
    return path


def add_judge_arguments(parser: argparse.ArgumentParser, **overrides: Any) -> None:
    """The flags that choose and configure a judge (teacher), from `JudgeSettings`; shared by judge, rubrics,
    train, eval, audit. `overrides` passes `defaults=` / `unset_is_none=` through to `add_options`."""
    add_options(parser, JudgeSettings, **overrides)
