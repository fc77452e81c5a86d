"""Value placeholders, as template-based NLG does: the student writes `[restaurant_name]`, the tool fills it in.

A student of a few million parameters trained for minutes cannot copy a restaurant name it has never seen, so
in act-conditioned mode (the reference acts are in the prompt) the replies it learns from are *delexicalised*
(each act value replaced by `[slot]`) and the replies it writes are *lexicalised* again from the same acts
before anyone judges or reads them. The judge always scores the filled-in text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tracegym.errors import UserError

PLACEHOLDER = re.compile(r"\[([a-z][a-z0-9_]*)\]")
VALUE_ACTS = ("INFORM", "OFFER", "CONFIRM", "INFORM_COUNT")


def slot_values(acts: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Surface values of the value-carrying acts, by slot name (INFORM_COUNT's slot is `count`)."""
    values: dict[str, list[str]] = {}
    for act in acts:
        if act.get("act") not in VALUE_ACTS:
            continue
        for value in act.get("values") or []:
            if value and value not in values.setdefault(act.get("slot") or "count", []):
                values[act.get("slot") or "count"].append(value)
    return values


def delexicalize(reply: str, acts: Sequence[Mapping[str, Any]]) -> str:
    """`reply` with every act value it states (surface form, else canonical) replaced by `[slot]`."""
    replacements: list[tuple[str, str]] = []
    for act in acts:
        if act.get("act") not in VALUE_ACTS:
            continue
        slot = act.get("slot") or "count"
        for value in list(act.get("values") or []) + list(act.get("canonical_values") or []):
            if value:
                replacements.append((value, slot))
    # Longest first, so "San Jose del Monte" is not half-replaced by "San Jose".
    for value, slot in sorted(replacements, key=lambda pair: len(pair[0]), reverse=True):
        pattern = re.compile(rf"(?<![\w\[]){re.escape(value)}(?![\w\]])", re.IGNORECASE)
        reply = pattern.sub(f"[{slot}]", reply)
    return reply


def lexicalize(reply: str, acts: Sequence[Mapping[str, Any]]) -> str:
    """`reply` with each `[slot]` filled from the acts (the n-th mention takes the n-th value).

    A placeholder for a slot the acts do not carry is left as written: the tool never invents a value.
    """
    values = slot_values(acts)
    used: dict[str, int] = {}

    def fill(match: re.Match) -> str:
        slot = match.group(1)
        if slot not in values:
            return match.group(0)
        index = used.get(slot, 0)
        used[slot] = index + 1
        return values[slot][min(index, len(values[slot]) - 1)]

    return PLACEHOLDER.sub(fill, reply)


def check_act_conditioned(samples: Iterable[Any], flag: str = "--placeholders") -> None:
    """A UserError unless every sample shows the student its reference acts (prepared with --include_acts).

    Filling placeholders from acts the student never saw would hand it the answer.
    """
    from tracegym.traces.render import ACTS_HEADER

    for index, sample in enumerate(samples):
        system = next((m.get("content", "") for m in sample.messages if m.get("role") == "system"), "")
        if sample.acts and ACTS_HEADER not in system:
            raise UserError(
                f"{flag}: sample {index} ({sample.id}) does not show the student its dialogue acts, so the tool "
                "cannot fill placeholders fairly; prepare the samples with `tracegym prepare --include_acts`"
            )
