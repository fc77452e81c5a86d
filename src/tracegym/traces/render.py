"""Text the student and the judge read: the system message (DESIGN.md §4), the seed's prompt form, the offline
rubric compiled from dialogue acts, and acts in the SGD NLG notation (`OFFER(restaurant_name=Sino)`).

Pure functions of their arguments; callers cache what does not change between turns (the schema text).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tracegym.placeholders import VALUE_ACTS
from tracegym.traces.sgd import Action, IntentSchema, ServiceCall, ServiceSchema

TODAY_LINE = "Today is Friday, 2019-03-01."  # SGD's relative dates ("today", "next Monday") count from that day
RESULTS_SHOWN_PER_CALL = 3

ACTS_HEADER = "Say this in your reply (dialogue acts):"  # act-conditioned mode (--include_acts)


def role_line(service: ServiceSchema, intent: IntentSchema | None) -> str:
    task = f"with this task: {_sentence(intent.description)}" if intent else "with their request."
    return f"You are the assistant of the service {service.name}: {_sentence(service.description)} You are helping the user {task}"


def schema_text(service: ServiceSchema) -> str:
    """The service's slots (description, possible values when categorical) and intents (required and optional
    slots with their defaults)."""
    lines = [f"Schema of {service.name}:", "Slots:"]
    for slot in service.slots:
        values = f" (possible values: {', '.join(slot.possible_values)})" if slot.is_categorical else ""
        lines.append(f"- {slot.name}: {slot.description}{values}")
    lines.append("Intents:")
    for intent in service.intents:
        required = ", ".join(intent.required_slots) or "none"
        optional = ", ".join(f"{slot}={default}" for slot, default in intent.optional_slots) or "none"
        kind = "transactional" if intent.is_transactional else "search"
        lines.append(
            f"- {intent.name} ({kind}): {intent.description}. Required slots: {required}. "
            f"Optional slots (default): {optional}."
        )
    return "\n".join(lines)


def header_text(service: ServiceSchema, intent: IntentSchema | None) -> str:
    """Role, date and schema: the part of the system message that depends only on (service, intent)."""
    return f"{role_line(service, intent)}\n{TODAY_LINE}\n\n{schema_text(service)}"


def call_text(number: int, service: str, call: ServiceCall, results: Sequence[dict[str, str]] | None) -> str:
    """One service call and its results as compact `slot=value` lines; results past the first few are counted.
    `mark_this_turn` adds the "(this turn)" mark to it."""
    parameters = ", ".join(f"{slot}={value}" for slot, value in call["parameters"].items())
    results = results or []
    lines = [f"{number}. {service}.{call['method']}({parameters}) -> {_count(len(results), 'result')}"]
    for result in results[:RESULTS_SHOWN_PER_CALL]:
        lines.append("   - " + "; ".join(f"{slot}={value}" for slot, value in result.items()))
    if len(results) > RESULTS_SHOWN_PER_CALL:
        lines.append(f"   … and {len(results) - RESULTS_SHOWN_PER_CALL} more")
    return "\n".join(lines)


def mark_this_turn(text: str) -> str:
    return text.replace(") -> ", ") (this turn) -> ", 1)


def calls_block(call_texts: Sequence[str]) -> str:
    if not call_texts:
        return "Service calls so far: none."
    return "Service calls so far (oldest first, this turn's last):\n" + "\n".join(call_texts)


def transaction_line(last_transaction: tuple[str, str, bool] | None) -> str:
    """`last_transaction` is (service, intent, succeeded) of the last transactional call, if any."""
    if last_transaction is None:
        return "Transaction status: no transaction attempted yet."
    service, intent, succeeded = last_transaction
    outcome = "succeeded (the service returned a result)" if succeeded else "failed (the service returned no result)"
    return f"Transaction status: the last {service}.{intent} call {outcome}."


def acts_text(actions: Iterable[Action]) -> str:
    """`OFFER(restaurant_name=Sino [1]), REQ_MORE`: the SGD NLG notation of a turn's acts, each value numbered as
    `tracegym.placeholders` numbers them, so a student can write `[1]` for "Sino"."""
    parts = []
    number = 0
    for action in actions:
        act, slot = action["act"], action["slot"]
        numbered = act in VALUE_ACTS
        labelled = []
        for value in action["values"]:
            number += numbered
            labelled.append(f"{value} [{number}]" if numbered else value)
        values = "|".join(labelled)
        if slot and values:
            parts.append(f"{act}({slot}={values})")
        elif slot:
            parts.append(f"{act}({slot})")
        else:
            parts.append(act)
    return ", ".join(parts)


def system_message(header: str, call_texts: Sequence[str], status: str, actions: Sequence[Action] | None) -> str:
    parts = [header, calls_block(call_texts), status]
    if actions is not None:
        parts.append(f"{ACTS_HEADER} {acts_text(actions)}")
    return "\n\n".join(parts)


def seed_prompt(history: Sequence[dict[str, str]]) -> str:
    """The seed's prompt form: `User: …\\nAssistant: …\\nUser: …` (user and assistant turns only)."""
    names = {"user": "User", "assistant": "Assistant"}
    return "\n".join(f"{names[m['role']]}: {m['content']}" for m in history if m["role"] in names)


# ------------------------------------------------------------------------------------------------- offline rubric


def rubric_from_acts(actions: Sequence[Action], service: ServiceSchema | None, intent: IntentSchema | None) -> str:
    """`- item` lines a judge can check, one per act, with a turn's OFFERs and CONFIRMs grouped in one line each."""
    items: list[str] = []
    offers = [a for a in actions if a["act"] == "OFFER"]
    confirms = [a for a in actions if a["act"] == "CONFIRM"]
    for action in actions:
        if action["act"] == "OFFER":
            if action is offers[0]:
                items.append("Offer " + _slot_value_list(offers))
        elif action["act"] == "CONFIRM":
            if action is confirms[0]:
                items.append("Confirm the details with the user: " + _slot_value_list(confirms))
        else:
            items.append(_rubric_item(action, service, intent))
    return "\n".join(f"- {item}" for item in items)


def _rubric_item(action: Action, service: ServiceSchema | None, intent: IntentSchema | None) -> str:
    act, slot, value = action["act"], action["slot"], _value(action)
    if act == "REQUEST":
        if action["values"]:
            return f"Ask whether the user wants {_slot_words(slot)} {value}"
        return f"Ask for {_slot_phrase(slot, service)}"
    if act == "INFORM":
        return f"Tell the user the {_slot_words(slot)} is {value}"
    if act == "INFORM_COUNT":
        return f"Say that {value} matching {'option was' if value == '1' else 'options were'} found"
    if act == "OFFER_INTENT":
        offered = service.intent(value) if service and value else None
        return f"Offer to {_lower_first(offered.description) if offered else _slot_words(value)}"
    if act in ("NOTIFY_SUCCESS", "NOTIFY_FAILURE"):
        outcome = "succeeded" if act == "NOTIFY_SUCCESS" else "failed"
        task = f"to {_lower_first(intent.description)} " if intent else ""
        return f"Tell the user the request {task}{outcome}"
    if act == "REQ_MORE":
        return "Ask whether the user needs anything else"
    if act == "GOODBYE":
        return "Say goodbye"
    slot_words = f" {_slot_words(slot)}" if slot else ""
    return f"{act.replace('_', ' ').capitalize()}{slot_words}{' ' + value if value else ''}"


def _slot_value_list(actions: Sequence[Action]) -> str:
    return ", ".join(f"{_value(a)} ({_slot_words(a['slot'])})" for a in actions)


def _slot_phrase(slot: str, service: ServiceSchema | None) -> str:
    schema = service.slot(slot) if service else None
    return f"the {_lower_first(schema.description)}" if schema else f"the {_slot_words(slot)}"


def _value(action: Action) -> str:
    return " or ".join(action["values"] or action["canonical_values"])


def _slot_words(slot: str) -> str:
    return slot.replace("_", " ")


def _lower_first(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].lower() + text[1:] if text[1:2].islower() or len(text) == 1 else text


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
