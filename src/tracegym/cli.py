"""`tracegym <command>`: one entry point; each subcommand lives in `tracegym.commands.<name>`.

Command modules are light (no torch, no SDK at import time), so `tracegym --help` and `prepare` start fast.
Each command's flags are generated from its options dataclass (`tracegym.options`); the output paths among them
are checked before the command runs. User errors (`UserError`) become one `error: …` line and exit 2; a budget cap
exits 3.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tracegym.errors import BudgetExceeded, UserError

COMMANDS = (
    "prepare",
    "split",
    "rubrics",
    "judge",
    "student",
    "sft",
    "train",
    "eval",
    "demo",
    "audit",
)


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one `error:` line (exit 2) instead of usage + message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> ArgumentParser:
    from tracegym import __version__

    parser = ArgumentParser(
        prog="tracegym",
        description="Traces in, a better small model out: prepare samples from dialogue traces, let a teacher "
        "judge replies, train a student with GRPO, and evaluate it honestly.",
    )
    parser.add_argument("--version", action="version", version=f"tracegym {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>", parser_class=ArgumentParser)
    for name in COMMANDS:
        module = importlib.import_module(f"tracegym.commands.{name}")
        doc = (module.__doc__ or "").strip()
        summary = command_summary(name, doc)
        sub = subparsers.add_parser(
            name,
            help=summary,
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def command_summary(name: str, doc: str) -> str:
    """The first line of a command module's docstring, without the `tracegym <name>`: that opens some of them."""
    first = doc.splitlines()[0] if doc else name
    first = first.removeprefix(f"`tracegym {name}`:").strip()
    return first[:1].upper() + first[1:]


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help(sys.stderr)
            return 2
        from tracegym.options import check_parsed_outputs

        check_parsed_outputs(args)  # every output path, once, before any work
        return int(args.run(args) or 0)
    except UserError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except BudgetExceeded as exc:
        print(f"stopped: {_one_line(str(exc))}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def configure_logging() -> None:
    """Warnings and above from tracegym and the libraries on stderr, with API keys redacted."""
    import logging

    from tracegym.logging_utils import install_redaction

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    install_redaction()


def _one_line(message: str) -> str:
    from tracegym.logging_utils import redact_keys

    return redact_keys(" ".join(message.split()))


if __name__ == "__main__":
    sys.exit(main())
