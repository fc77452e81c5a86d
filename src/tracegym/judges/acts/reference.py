"""The reference side of a sample, as the act judge reads it: the values its acts state, the slots the active
intent needs, and the values in front of the student (calls, results, the schema's possible values).

Everything comes from the sample's typed fields (`acts`, `schema`, `calls`, `service_call`, `service_results`);
nothing here reads the rendered system message.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracegym.judges.acts.lexicon import VALUE_ACTS
from tracegym.judges.values import normalise_text
from tracegym.samples import Sample


@dataclass(frozen=True)
class ValueItem:
    act: str
    slot: str
    canonical: str
    surfaces: tuple[str, ...]


def value_items(sample: Sample) -> list[ValueItem]:
    """The values the reference reply states: one item per (act, slot, value)."""
    items: list[ValueItem] = []
    seen: set[tuple[str, str]] = set()
    for act in sample.acts:
        if act.act not in VALUE_ACTS:
            continue
        canonicals = list(act.canonical_values)
        surfaces = list(act.values)
        for index, canonical in enumerate(canonicals or surfaces):
            surface = surfaces[index] if index < len(surfaces) else canonical
            key = (act.slot, normalise_text(canonical))
            if key in seen:
                continue
            seen.add(key)
            items.append(ValueItem(act.act, act.slot, str(canonical), (str(surface),)))
    return items


def reference_values(sample: Sample) -> list[str]:
    """Every value (canonical and surface) of every reference act, including REQUEST options."""
    found: list[str] = []
    for act in sample.acts:
        found.extend(str(v) for v in act.canonical_values)
        found.extend(str(v) for v in act.values)
    return found


def history_text(sample: Sample) -> str:
    return sample.prompt or "\n".join(m.get("content", "") for m in sample.messages if m.get("role") != "system")


def last_user_turn(sample: Sample) -> str:
    for message in reversed(sample.messages):
        if message.get("role") == "user":
            return message.get("content", "")
    lines = [line for line in (sample.prompt or "").splitlines() if line.startswith("User:")]
    return lines[-1][len("User:") :].strip() if lines else ""


def required_slots(sample: Sample) -> set[str]:
    """Required slots of the intent this turn's call names (of every intent of the service when the turn makes no
    call), less the slots that call fills: a reply may ask for any of them."""
    if sample.schema is None:
        return set()
    call = sample.service_call or {}
    method = call.get("method")
    intents = [sample.schema.intent(method)] if method else list(sample.schema.intents)
    found = {slot for intent in intents if intent is not None for slot in intent.required_slots}
    return found - set(call.get("parameters") or {})


def context_entities(sample: Sample) -> dict[str, set[str]]:
    """Named values of the service results and call, by slot: what a reply could copy from the context."""
    by_slot: dict[str, set[str]] = {}
    for result in sample.service_results or []:
        for slot, value in result.items():
            by_slot.setdefault(slot, set()).add(str(value))
    for slot, value in ((sample.service_call or {}).get("parameters") or {}).items():
        by_slot.setdefault(slot, set()).add(str(value))
    return by_slot


def shown_values(sample: Sample) -> dict[str, set[str]]:
    """Every value the student is shown, by slot: this turn's call and results, and every call so far with the
    results its system message shows. Intent defaults ("New alarm") are left out: they read as plain words."""
    by_slot = context_entities(sample)
    for call in sample.calls:
        shown = [*call.parameters.items(), *(pair for result in call.results for pair in result.items())]
        for slot, value in shown:
            value = value.strip()
            if value and value != "dontcare":
                by_slot.setdefault(slot, set()).add(value)
    return by_slot


def slot_candidates(sample: Sample) -> dict[str, set[str]]:
    """The values each slot could take that a reply might hedge between: shown values and the possible values of
    the schema's categorical slots."""
    by_slot = shown_values(sample)
    for slot in sample.schema.slots if sample.schema is not None else ():
        if slot.is_categorical:
            by_slot.setdefault(slot.name, set()).update(v.strip() for v in slot.possible_values if v.strip())
    return by_slot
