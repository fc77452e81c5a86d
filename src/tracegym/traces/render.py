"""Text the student and the judge read: the system message (DESIGN.md §4), the seed's prompt form, the offline
rubric compiled from dialogue acts, and acts in the SGD NLG notation (`OFFER(restaurant_name=Sino)`).

Pure functions of the sample's typed fields (schema, intent, calls, acts, framing); callers cache what does not
change between turns (the schema text). Text goes one way: nothing in the project reads it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tracegym.placeholders import VALUE_ACTS
from tracegym.samples import Act, Call, Sample
from tracegym.schema import IntentSchema, ServiceSchema

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


def call_text(number: int, call: Call) -> str:
    """One service call and its shown results as compact `slot=value` lines, the results it does not show counted."""
    parameters = ", ".join(f"{slot}={value}" for slot, value in call.parameters.items())
    mark = " (this turn)" if call.this_turn else ""
    lines = [f"{number}. {call.service}.{call.method}({parameters}){mark} -> {_count(call.result_count, 'result')}"]
    for result in call.results:
        lines.append("   - " + "; ".join(f"{slot}={value}" for slot, value in result.items()))
    if call.result_count > len(call.results):
        lines.append(f"   … and {call.result_count - len(call.results)} more")
    return "\n".join(lines)


def calls_block(calls: Sequence[Call], call_texts: Sequence[str] | None = None) -> str:
    """The calls so far, numbered from 1; `call_texts` are their `call_text`s when the caller has them already."""
    if not calls:
        return "Service calls so far: none."
    if call_texts is None:
        call_texts = [call_text(number, call) for number, call in enumerate(calls, start=1)]
    return "Service calls so far (oldest first, this turn's last):\n" + "\n".join(call_texts)


def transaction_line(calls: Sequence[Call]) -> str:
    """Whether the last call of a transactional intent succeeded (the service returned a result), if any."""
    last = next((call for call in reversed(calls) if call.transactional), None)
    if last is None:
        return "Transaction status: no transaction attempted yet."
    outcome = (
        "succeeded (the service returned a result)" if last.result_count else "failed (the service returned no result)"
    )
    return f"Transaction status: the last {last.service}.{last.method} call {outcome}."


def acts_text(acts: Iterable[Act]) -> str:
    """`OFFER(restaurant_name=Sino [1]), REQ_MORE`: the SGD NLG notation of a turn's acts, each value numbered as
    `tracegym.placeholders` numbers them, so a student can write `[1]` for "Sino"."""
    parts = []
    number = 0
    for act in acts:
        numbered = act.act in VALUE_ACTS
        labelled = []
        for value in act.values:
            number += numbered
            labelled.append(f"{value} [{number}]" if numbered else value)
        values = "|".join(labelled)
        if act.slot and values:
            parts.append(f"{act.act}({act.slot}={values})")
        elif act.slot:
            parts.append(f"{act.act}({act.slot})")
        else:
            parts.append(act.act)
    return ", ".join(parts)


def system_message(
    header: str, calls: Sequence[Call], acts: Sequence[Act] | None, call_texts: Sequence[str] | None = None
) -> str:
    """The system message from the schema header (`header_text`), the calls so far and, in act-conditioned mode,
    the reference acts. `call_texts`: the calls' `call_text`s, when the caller keeps them from turn to turn."""
    parts = [header, calls_block(calls, call_texts), transaction_line(calls)]
    if acts is not None:
        parts.append(f"{ACTS_HEADER} {acts_text(acts)}")
    return "\n\n".join(parts)


def sample_system_message(sample: Sample) -> str | None:
    """The system message of an SGD sample, rendered again from its typed fields; None without a schema."""
    if sample.framing.compact:
        return compact_system_message(sample.service, sample.intent, sample.acts)
    if sample.schema is None:
        return None
    intent = sample.schema.intent(sample.intent) if sample.intent else None
    header = header_text(sample.schema, intent)
    return system_message(header, sample.calls, sample.acts if sample.framing.acts else None)


def compact_system_message(service: str, intent: str | None, acts: Sequence[Act]) -> str:
    """The compact framing's whole context: `Service: Restaurants_1, intent ReserveRestaurant` and the numbered acts.

    No schema, calls or date: everything a reply says is in its acts, so the prompt stays short and no budget cut
    can reach them."""
    task = f", intent {intent}" if intent else ""
    return f"Service: {service}{task}\n{ACTS_HEADER} {acts_text(acts)}"


def seed_prompt(history: Sequence[dict[str, str]]) -> str:
    """The seed's prompt form: `User: …\\nAssistant: …\\nUser: …` (user and assistant turns only)."""
    names = {"user": "User", "assistant": "Assistant"}
    return "\n".join(f"{names[m['role']]}: {m['content']}" for m in history if m["role"] in names)


# ------------------------------------------------------------------------------------------------- offline rubric


def rubric_from_acts(acts: Sequence[Act], service: ServiceSchema | None, intent: IntentSchema | None) -> str:
    """`- item` lines a judge can check, one per act, with a turn's OFFERs and CONFIRMs grouped in one line each."""
    items: list[str] = []
    offers = [a for a in acts if a.act == "OFFER"]
    confirms = [a for a in acts if a.act == "CONFIRM"]
    for act in acts:
        if act.act == "OFFER":
            if act is offers[0]:
                items.append("Offer " + _slot_value_list(offers))
        elif act.act == "CONFIRM":
            if act is confirms[0]:
                items.append("Confirm the details with the user: " + _slot_value_list(confirms))
        else:
            items.append(_rubric_item(act, service, intent))
    return "\n".join(f"- {item}" for item in items)


def _rubric_item(action: Act, service: ServiceSchema | None, intent: IntentSchema | None) -> str:
    act, slot, value = action.act, action.slot, _value(action)
    if act == "REQUEST":
        if action.values:
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


def _slot_value_list(acts: Sequence[Act]) -> str:
    return ", ".join(f"{_value(a)} ({_slot_words(a.slot)})" for a in acts)


def _slot_phrase(slot: str, service: ServiceSchema | None) -> str:
    schema = service.slot(slot) if service else None
    return f"the {_lower_first(schema.description)}" if schema else f"the {_slot_words(slot)}"


def _value(act: Act) -> str:
    return " or ".join(act.values or act.canonical_values)


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
