"""Command options declared once, as dataclass fields, and the argparse parser generated from them.

Each field carries its default and its help text (`field(default=..., metadata={"help": "..."})`), the convention
of transformers' `HfArgumentParser` and TRL's `TrlParser`; `add_options(parser, Options)` adds one flag per field
following their spellings:

- `--<field>` for every field; a field without a default is a required flag;
- a bool whose default is False is `--<field>` (turns it on); one whose default is True is `--no_<field>` (turns it
  off); an optional bool (default None: "as recorded elsewhere") takes both;
- `metadata["choices"]`, `metadata["type"]` (a checking parser such as `positive_int`), `metadata["metavar"]`,
  `metadata["group"]` (the help section), `metadata["cli"]` (False: a library setting with no flag) and
  `metadata["output"]` (`"file"` or `"dir"`: a path this command writes,
  checked up front by `check_output_paths`).

Why not `HfArgumentParser` itself: it lives in transformers, which the base install does not have, and `prepare`,
`split`, `judge --judge acts` and `audit --judge acts` must start without importing torch; this module is the same
idea in 150 lines of argparse, and it adds what the project's CLI needs on top (help sections, defaults shown in
the help, "unset" defaults for flags that a recipe file may also give, and the output-path check).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any

from tracegym.errors import UserError

# The prompt length cap (tokens) of training and evaluation when neither the flags nor the run say otherwise.
MAX_PROMPT_LENGTH = 512

OUTPUTS_KEY = "_output_paths"  # where a parsed Namespace keeps {flag dest: "file" | "dir"} for `check_output_paths`


# ---------------------------------------------------------------------------------------------------- value checks


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


def rate(text: str) -> float:
    value = _parse(float, text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a rate in [0, 1), e.g. 0.02")
    return value


def _parse(kind: type, text: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}") from None


# ---------------------------------------------------------------------------------------------------- the generator


def option(default: Any = dataclasses.MISSING, help: str = "", **metadata: Any) -> Any:
    """A dataclass field with its help text and CLI metadata: `option(8, "judge calls in flight", type=positive_int)`."""
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"help": help, **metadata})
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


def default_of(cls: type, name: str) -> Any:
    """The declared default of field `name` of dataclass `cls` (MISSING when it has none)."""
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def add_options(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    include: typing.Iterable[str] | None = None,
    exclude: typing.Iterable[str] = (),
    defaults: dict[str, Any] | None = None,
    metadata: dict[str, dict[str, Any]] | None = None,
    unset_is_none: bool = False,
    group: str | None = None,
) -> None:
    """One flag per field of dataclass `cls` (see the module doc).

    `include` / `exclude` choose the fields; `defaults` changes a field's default for this command only; `metadata`
    adds to a field's metadata (help text, a checking type, `output`) where the dataclass is declared without it (a
    library config that does not describe flags); `unset_is_none` makes every flag default to None, the declared
    default still shown, for a command that merges its flags over a recipe file; `group` titles a help section.
    """
    hints = typing.get_type_hints(cls)
    chosen = [
        f for f in dataclasses.fields(cls) if f.init and f.name not in set(exclude) and f.metadata.get("cli", True)
    ]
    if include is not None:
        by_name = {f.name: f for f in chosen}
        chosen = [by_name[name] for name in include]
    for f in chosen:
        meta = {**f.metadata, **(metadata or {}).get(f.name, {})}
        target = _section(parser, meta.get("group", group))
        declared = (defaults or {}).get(f.name, default_of(cls, f.name))
        _add_field(target, f.name, meta, hints[f.name], declared, unset_is_none)
        if meta.get("output"):
            mark_outputs(parser, **{f.name: meta["output"]})


def _section(parser: argparse.ArgumentParser, title: str | None) -> argparse._ActionsContainer:
    """The help section titled `title` (made on first use), or the parser itself for None."""
    if title is None:
        return parser
    existing = [group for group in parser._action_groups if group.title == title]
    return existing[0] if existing else parser.add_argument_group(title)


def mark_outputs(parser: argparse.ArgumentParser, **kinds: str) -> None:
    """Record flags (by dest) as output paths, `"file"` or `"dir"`, for `check_parsed_outputs`."""
    outputs = dict(parser.get_default(OUTPUTS_KEY) or {})
    outputs.update(kinds)
    parser.set_defaults(**{OUTPUTS_KEY: outputs})


def _add_field(
    target: argparse._ActionsContainer,
    name: str,
    meta: dict[str, Any],
    hint: Any,
    declared: Any,
    unset_is_none: bool,
) -> None:
    text = meta.get("help", "")
    required = declared is dataclasses.MISSING and not unset_is_none
    default = None if unset_is_none or declared is dataclasses.MISSING else declared
    base = _base_type(hint)
    if base is bool:
        _add_bool(target, name, text, declared, default)
        return
    kwargs: dict[str, Any] = {"dest": name, "default": default, "help": with_default(text, declared)}
    if required:
        kwargs["required"] = True
    if "choices" in meta:
        kwargs["choices"] = tuple(meta["choices"])
    if "metavar" in meta:
        kwargs["metavar"] = meta["metavar"]
    if "action" in meta:  # e.g. append: a list built one flag at a time
        kwargs["action"] = meta["action"]
    else:
        kwargs["type"] = meta.get("type", base if base in (int, float) else str)
        if base is list or "nargs" in meta:
            kwargs["nargs"] = meta.get("nargs", "+")
        if "const" in meta:
            kwargs["const"] = meta["const"]
    target.add_argument(f"--{name}", **kwargs)


def _add_bool(target: argparse._ActionsContainer, name: str, text: str, declared: Any, default: Any) -> None:
    """`--name` turns on a bool that is off by default, `--no_name` turns off one that is on; a bool whose default
    is None ("as recorded elsewhere") takes both."""
    if declared is not True:
        target.add_argument(f"--{name}", dest=name, action="store_true", default=default, help=text)
    if declared is True:
        target.add_argument(
            f"--no_{name}", dest=name, action="store_false", default=default, help=f"turn off: {text} (on by default)"
        )
    elif declared is None:
        target.add_argument(f"--no_{name}", dest=name, action="store_false", default=default, help=f"not --{name}")


def with_default(text: str, default: Any) -> str:
    """`text` with the default appended, unless it already says it (or there is no value to show)."""
    if default is dataclasses.MISSING or default is None or "(default" in text or default == []:
        return text
    shown = " ".join(default) if isinstance(default, list) else default
    return f"{text} (default {shown})" if text else f"(default {shown})"


def _base_type(hint: Any) -> Any:
    """`int` for `int`, `int | None` and `Optional[int]`; `list` for `list[str]`."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _base_type(members[0]) if len(members) == 1 else str
    if origin is list:
        return list
    return hint


def values_for(cls: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """An instance of `cls` from the parsed flags that match its fields (the rest of `cls`'s fields: defaults)."""
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    given = {name: value for name, value in vars(args).items() if name in names}
    return cls(**{**given, **overrides})


# ---------------------------------------------------------------------------------------------------- output paths


def check_output_paths(paths: dict[str, tuple[str | Path | None, str]]) -> None:
    """Each output path can be written as what it must be, before any work: {flag: (path, "file" | "dir")}.

    A directory where a file is wanted, a file where a directory is wanted, or a parent that is a file or is not
    writable is a UserError naming the flag. Nothing is created here.
    """
    for flag, (path, kind) in paths.items():
        if path not in (None, ""):
            _check_output_path(flag, Path(path), kind)


def check_parsed_outputs(args: argparse.Namespace) -> None:
    """`check_output_paths` over the output flags the parser recorded (`metadata["output"]`)."""
    outputs = getattr(args, OUTPUTS_KEY, None) or {}
    check_output_paths({f"--{name}": (getattr(args, name, None), kind) for name, kind in outputs.items()})


def _check_output_path(flag: str, path: Path, kind: str) -> None:
    if kind == "file" and path.is_dir():
        raise UserError(f"{flag} {path}: is a directory, but a file is wanted here; give a file path inside it")
    if kind == "dir" and path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path}: is a file, but a folder is wanted here; give a folder path")
    if path.exists():
        target = path if kind == "dir" else path.parent
        if not os.access(target, os.W_OK) or (kind == "file" and not os.access(path, os.W_OK)):
            raise UserError(f"{flag} {path}: not writable; choose a path you can write to or fix its permissions")
        return
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(
            f"{flag} {path}: cannot create it, because {ancestor} is a file, not a folder; choose another path"
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: cannot create it in {ancestor} (not writable); choose a path you can write to")
