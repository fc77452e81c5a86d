"""`tracegym prepare`: not built yet."""

from __future__ import annotations

import argparse

from tracegym.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise UserError("`tracegym prepare` is not built yet; see the project's open issues")
