"""Argument types and flag groups that several subcommands share."""

from __future__ import annotations

import argparse
from pathlib import Path

from tracegym.errors import UserError


def positive_int(text: str) -> int:
    value = _parse(int, text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive integer")
    return value


def non_negative_int(text: str) -> int:
    value = _parse(int, text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def positive_float(text: str) -> float:
    value = _parse(float, text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def non_negative_float(text: str) -> float:
    value = _parse(float, text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def fraction(text: str) -> float:
    value = _parse(float, text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} must be strictly between 0 and 1")
    return value


def _parse(kind: type, text: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}") from None


def existing_file(path: str | Path, flag: str) -> Path:
    """`path` as a Path, or a UserError naming `flag` when it is not an existing file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{flag} {path}: no such file; check the path")
    return path


def add_seed(parser: argparse.ArgumentParser, default: int = 0) -> None:
    parser.add_argument("--seed", type=int, default=default, help=f"random seed (default {default})")


def add_judge_arguments(parser: argparse.ArgumentParser, default_judge: str | None = "acts") -> None:
    """The flags that choose and configure a judge (teacher); shared by judge, rubrics, train, eval, audit."""
    group = parser.add_argument_group("judge (the teacher that scores replies)")
    group.add_argument(
        "--judge",
        default=default_judge,
        help="judge backend by name (acts, gemini, openai, hf, or a plugin), or a mixture such as gemini+acts "
        f"(default {default_judge})",
    )
    group.add_argument("--judge_weights", default=None, help="weights of a mixture, comma separated: 0.7,0.3")
    group.add_argument("--judge_model", default=None, help="the judge's model (default: the backend's own)")
    group.add_argument(
        "--judge_mode",
        choices=("single", "group"),
        default="single",
        help="single: one call per reply; group: one call scores all replies to one prompt together",
    )
    group.add_argument("--judge_prompt", default=None, help="a prompt template file with named fields")
    group.add_argument("--criteria", default=None, help="extra criteria appended to every rubric")
    group.add_argument("--base_url", default=None, help="OpenAI-compatible server URL (default $OPENAI_BASE_URL)")
    group.add_argument("--cache", default=None, help="SQLite verdict cache path (default: no cache)")
    group.add_argument("--concurrency", type=positive_int, default=8, help="judge calls in flight (default 8)")
    group.add_argument("--rpm", type=positive_int, default=None, help="judge requests per minute (default: no limit)")
    group.add_argument("--timeout", type=positive_float, default=60.0, help="seconds per judge request (default 60)")
    group.add_argument("--max_retries", type=non_negative_int, default=4, help="retries on 429/5xx/timeouts")
    group.add_argument("--max_judge_calls", type=positive_int, default=None, help="stop cleanly after N calls (exit 3)")
    group.add_argument(
        "--max_judge_cost_usd", type=positive_float, default=None, help="stop cleanly at this cost (exit 3)"
    )
