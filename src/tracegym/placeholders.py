"""Value placeholders, as template-based NLG does: the student writes `[1]`, the tool fills in the first value.

A student of a few million parameters trained for minutes cannot copy a restaurant name it has never seen. In
act-conditioned mode the prompt shows the reference acts with each value numbered (`OFFER(restaurant_name=Sino
[1])`, see `numbered_values`); the replies the student learns from are *delexicalised* (each value replaced by its
number in brackets) and the replies it writes are *lexicalised* again from the same acts before anyone judges or
reads them. The judge always scores the filled-in text, and the tool never invents a value: a number the acts do
not have stays as written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from tracegym.errors import UserError

PLACEHOLDER = re.compile(r"\[(\d{1,2})\]")
MAX_PLACEHOLDER = 99  # placeholders run from [1] to [99]
# A placeholder, or a broken half of one (`[2`, `1]`), still in a reply after `lexicalize`: nothing filled it.
UNFILLED_PLACEHOLDER = re.compile(r"\[\s*\d{1,2}\s*\]?|(?<![\d.\[])\d{1,2}\s*\]")
VALUE_ACTS = ("INFORM", "OFFER", "CONFIRM", "INFORM_COUNT")


def placeholder_text(number: int) -> str:
    """How the student writes the `number`th value: `[1]`, `[2]`, …"""
    return f"[{number}]"


class ActLike(Protocol):
    """What the numbering reads of a dialogue act (`tracegym.samples.Act`)."""

    @property
    def act(self) -> str: ...
    @property
    def values(self) -> Sequence[str]: ...
    @property
    def canonical_values(self) -> Sequence[str]: ...


def numbered_values(acts: Iterable[ActLike]) -> list[tuple[int, str, list[str]]]:
    """`(number, surface value, [surface, canonical…])` for each value of a value-carrying act, numbered from 1 in
    act order: the numbering the prompt shows and the placeholders use."""
    numbered: list[tuple[int, str, list[str]]] = []
    for act in acts:
        if act.act not in VALUE_ACTS:
            continue
        canonical = act.canonical_values
        for index, value in enumerate(act.values):
            forms = [value] + ([canonical[index]] if index < len(canonical) and canonical[index] != value else [])
            numbered.append((len(numbered) + 1, value, forms))
    return numbered


def delexicalize(reply: str, acts: Sequence[ActLike]) -> str:
    """`reply` with every act value it states (surface form, else canonical) replaced by `[number]`."""
    replacements = [(form, number) for number, _, forms in numbered_values(acts) for form in forms if form]
    # Longest first, so "San Jose del Monte" is not half-replaced by "San Jose".
    for form, number in sorted(replacements, key=lambda pair: len(pair[0]), reverse=True):
        pattern = re.compile(rf"(?<![\w\[]){re.escape(form)}(?![\w\]])", re.IGNORECASE)
        reply = pattern.sub(placeholder_text(number), reply)
    return reply


def lexicalize(reply: str, acts: Sequence[ActLike]) -> str:
    """`reply` with each `[number]` filled with that value of the acts; other numbers are left as written."""
    values = {number: value for number, value, _ in numbered_values(acts)}
    return PLACEHOLDER.sub(lambda match: values.get(int(match.group(1)), match.group(0)), reply)


def check_act_conditioned(samples: Iterable[Any], flag: str = "--placeholders") -> None:
    """A UserError unless every sample with acts shows the student its reference acts (`sample.framing.acts`,
    recorded by `tracegym prepare --include_acts`).

    Filling placeholders from acts the student never saw would hand it the answer.
    """
    for index, sample in enumerate(samples):
        if sample.acts and not sample.framing.acts:
            raise UserError(
                f"{flag}: sample {index} ({sample.id}) does not show the student its dialogue acts, so the tool "
                "cannot fill placeholders fairly; prepare the samples with `tracegym prepare --include_acts`"
            )
