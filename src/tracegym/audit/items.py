"""Choosing the audit's prompts: samples whose reference carries checkable values, with wrong values to swap in.

Everything comes from the sample's typed fields (acts, schema, calls, results), never its rendered text.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from tracegym.errors import UserError
from tracegym.samples import Sample

CHECKABLE_ACTS = ("INFORM", "OFFER", "CONFIRM")


@dataclass(frozen=True)
class AuditItem:
    """What one attack reply is built from: the sample, its checkable (slot, value) pairs, and wrong values."""

    sample: Sample
    checkable: tuple[tuple[str, str], ...]
    wrong_values: dict[str, tuple[str, ...]]  # reference value -> other entities' values of the same slot
    context_values: tuple[tuple[str, str], ...]  # every (slot, value) the student is shown: calls, results, defaults

    def wrong(self, value: str, index: int = 0) -> str:
        options = self.wrong_values[value]
        return options[index % len(options)]


def checkable_values(sample: Sample) -> tuple[tuple[str, str], ...]:
    """The reference's (slot, value) pairs a reply can be checked on: INFORM / OFFER / CONFIRM values."""
    return tuple(dict.fromkeys((slot, value) for slot, value, _ in checkable_acts(sample)))


def checkable_acts(sample: Sample) -> list[tuple[str, str, str]]:
    """(slot, value, canonical value) of the reference's INFORM / OFFER / CONFIRM acts."""
    triples: list[tuple[str, str, str]] = []
    for act in sample.acts:
        if act.act not in CHECKABLE_ACTS:
            continue
        for index, value in enumerate(act.values):
            if value.strip():
                canonical_value = act.canonical_values[index] if index < len(act.canonical_values) else value
                triples.append((act.slot, value, canonical_value))
    return triples


def value_pattern(value: str) -> re.Pattern[str]:
    """Matches `value` as a whole token sequence, case-insensitively ("2" does not match inside "12:00")."""
    return re.compile(rf"(?<!\w){re.escape(value.strip())}(?!\w)", re.IGNORECASE)


def overlaps(a: str, b: str) -> bool:
    """Whether two values are the same or one holds the other ("Sino" and "Sino Restaurant")."""
    return bool(value_pattern(a).search(b) or value_pattern(b).search(a))


def values_by_slot(samples: Sequence[Sample]) -> dict[str, list[tuple[str, str]]]:
    """(value, canonical value) pairs each slot takes across the samples' acts and results, first-seen order."""
    seen: dict[str, dict[tuple[str, str], None]] = defaultdict(dict)
    for sample in samples:
        for slot, value, canonical in checkable_acts(sample):
            seen[slot][(value, canonical)] = None
        for slot, value in result_values(sample):
            seen[slot][(value, value)] = None
    return {slot: list(values) for slot, values in seen.items()}


def result_values(sample: Sample) -> tuple[tuple[str, str], ...]:
    """Every (slot, value) of the turn's service results; SGD gives them in canonical form."""
    pairs: list[tuple[str, str]] = []
    for result in sample.service_results or []:
        if isinstance(result, dict):
            pairs.extend((str(slot), str(value)) for slot, value in result.items() if str(value).strip())
    return tuple(dict.fromkeys(pairs))


def context_values(sample: Sample) -> tuple[tuple[str, str], ...]:
    """Every (slot, value) in front of the student, in the order its system message shows them: the schema's
    intent defaults, every call's parameters and shown results; then this turn's service results."""
    shown: list[tuple[str, str]] = []
    if sample.schema is not None:
        shown += [pair for intent in sample.schema.intents for pair in intent.optional_slots]
    for call in sample.calls:
        shown += call.parameters.items()
        shown += [pair for result in call.results for pair in result.items()]
    shown = [(slot, value.strip()) for slot, value in shown]
    shown = [(slot, value) for slot, value in shown if value not in ("", "dontcare")]
    return tuple(dict.fromkeys([*shown, *result_values(sample)]))


def wrong_values_for(
    slot: str,
    taken: Sequence[str],
    sample: Sample,
    pool: dict[str, list[tuple[str, str]]],
    rng: random.Random,
) -> tuple[str, ...]:
    """Two other values of `slot`: values the context shows (other entities, earlier calls) first, then other
    samples' values.

    None may overlap a value or canonical value in `taken` (the reference's own), so "19:15" never stands in
    for "7:15 pm".
    """
    in_context = [(v, v) for s, v in context_values(sample) if s == slot]
    elsewhere = list(pool.get(slot, []))
    rng.shuffle(elsewhere)
    chosen: list[str] = []
    blocked = list(taken)
    for value, canonical in [*in_context, *elsewhere]:
        if any(overlaps(candidate, other) for candidate in (value, canonical) for other in blocked):
            continue
        chosen.append(value)
        blocked.extend([value, canonical])
        if len(chosen) == 2:
            break
    return tuple(chosen)


def audit_item(sample: Sample, pool: dict[str, list[tuple[str, str]]], rng: random.Random) -> AuditItem | None:
    """An AuditItem for `sample`, or None when its reference has nothing checkable to swap: every checkable
    value must appear in the reference text and have two wrong values of the same slot."""
    acts = checkable_acts(sample)
    if not acts:
        return None
    if not all(value_pattern(value).search(sample.ground_truth) for _, value, _ in acts):
        return None
    taken = [text for _, value, canonical in acts for text in (value, canonical)]
    checkable = checkable_values(sample)
    wrong = {value: wrong_values_for(slot, taken, sample, pool, rng) for slot, value in checkable}
    if any(len(options) < 2 for options in wrong.values()):
        return None
    return AuditItem(sample, checkable, wrong, context_values(sample))


def select_audit_items(samples: Sequence[Sample], n: int, seed: int) -> list[AuditItem]:
    """`n` prompts whose reference carries checkable content, chosen at random (by `seed`) among those that do."""
    rng = random.Random(seed)
    pool = values_by_slot(samples)
    order = list(samples)
    rng.shuffle(order)
    items: list[AuditItem] = []
    for sample in order:
        item = audit_item(sample, pool, rng)
        if item is not None:
            items.append(item)
            if len(items) == n:
                return items
    raise UserError(
        f"only {len(items)} of {len(samples)} samples carry checkable content (INFORM/OFFER/CONFIRM values found "
        f"in the reference, with other values of the same slot to swap in); the audit needs {n}: give more SGD "
        "samples with --in_path or lower --n"
    )
