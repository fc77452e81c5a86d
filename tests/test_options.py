"""`tracegym.options`: flags generated from a dataclass (HfArgumentParser's spellings) and the output-path check."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pytest

from tracegym.errors import UserError
from tracegym.options import add_options, check_output_paths, check_parsed_outputs, option, positive_int, values_for


@dataclass(kw_only=True)
class Example:
    in_path: str = option(help="where to read")
    out_path: str | None = option(None, "where to write", output="file")
    n: int = option(50, "how many", type=positive_int)
    fast: bool = option(False, "go fast")
    checks: bool = option(True, "run the checks")
    filled: bool | None = option(None, "fill in (default: as recorded)")
    mode: str = option("single", "how", choices=("single", "group"), group="judging")
    tags: list[str] = option(["a"], "tags")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="example")
    add_options(parser, Example)
    return parser


def test_flags_follow_hf_argument_parser_spellings_and_defaults():
    args = parser().parse_args(["--in_path", "x"])
    assert values_for(Example, args) == Example(in_path="x")
    args = parser().parse_args(["--in_path", "x", "--fast", "--no_checks", "--no_filled", "--tags", "b", "c"])
    assert (args.fast, args.checks, args.filled, args.tags) == (True, False, False, ["b", "c"])
    assert parser().parse_args(["--in_path", "x", "--filled"]).filled is True


def test_help_shows_defaults_and_sections():
    text = parser().format_help()
    assert "how many (default 50)" in text
    assert "--no_checks" in text and "--checks" not in text.replace("--no_checks", "")
    assert "judging:" in text and "(default single)" in text


def test_a_field_without_default_is_required_and_checks_apply():
    with pytest.raises(SystemExit):
        parser().parse_args([])
    with pytest.raises(SystemExit):
        parser().parse_args(["--in_path", "x", "--n", "0"])


def test_unset_is_none_leaves_every_flag_unset_but_shows_the_declared_default():
    p = argparse.ArgumentParser()
    add_options(p, Example, unset_is_none=True)
    args = p.parse_args([])
    assert args.n is None and args.checks is None and args.in_path is None
    assert "(default 50)" in p.format_help()


def test_output_paths_recorded_by_the_parser_are_checked(tmp_path):
    (tmp_path / "folder").mkdir()
    args = parser().parse_args(["--in_path", "x", "--out_path", str(tmp_path / "folder")])
    with pytest.raises(UserError, match="--out_path .*is a directory"):
        check_parsed_outputs(args)


@pytest.mark.parametrize(
    "relative, kind, message",
    [
        ("folder", "file", "is a directory"),
        ("a_file", "dir", "is a file"),
        ("a_file/below/out.jsonl", "file", "is a file, not a folder"),
        ("a_file/below", "dir", "is a file, not a folder"),
    ],
)
def test_unwritable_outputs_are_one_user_error_and_nothing_is_created(tmp_path, relative, kind, message):
    (tmp_path / "folder").mkdir()
    (tmp_path / "a_file").write_text("x")
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(UserError, match=message):
        check_output_paths({"--out": (tmp_path / relative, kind)})
    assert sorted(tmp_path.rglob("*")) == before


def test_writable_outputs_pass(tmp_path):
    (tmp_path / "a_file").write_text("x")
    check_output_paths(
        {
            "--a": (tmp_path / "new" / "deeper" / "out.jsonl", "file"),
            "--b": (tmp_path / "a_file", "file"),
            "--c": (tmp_path / "run", "dir"),
            "--d": (tmp_path, "dir"),
            "--e": (None, "file"),
        }
    )
    assert not (tmp_path / "new").exists()
