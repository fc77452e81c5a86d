"""Strict parsing of an LLM judge's answer, and the repair request sent when it cannot be used.

A verdict is JSON `{reasoning, criteria: [{item, verdict}], score}` (group mode: `{reasoning, scores: [{id,
score}]}`); anything else, or a score outside [0, 1], raises VerdictParseError, whose message goes back to the
model in one repair request.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from tracegym.judges.base import Verdict

CRITERION_VALUES = {"met": 1.0, "partly": 0.5, "not_met": 0.0}

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string"},
        "criteria": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "item": {"type": "string"},
                    "verdict": {"type": "string", "enum": list(CRITERION_VALUES)},
                },
                "required": ["item", "verdict"],
                "additionalProperties": False,
            },
        },
        "score": {"type": "number"},
    },
    "required": ["reasoning", "criteria", "score"],
    "additionalProperties": False,
}

GROUP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string"},
        "scores": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "score": {"type": "number"}},
                "required": ["id", "score"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["reasoning", "scores"],
    "additionalProperties": False,
}


class VerdictParseError(ValueError):
    """The judge's output is not a valid verdict; the message says why, for the repair request."""


def parse_json_object(text: str) -> dict[str, Any]:
    """The one JSON object `text` holds (a ```json fence around it is tolerated), or VerdictParseError."""
    stripped = (text or "").strip()
    fence = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", stripped, re.S)
    if fence:
        stripped = fence.group(1)
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise VerdictParseError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(value, dict):
        raise VerdictParseError(f"expected a JSON object, got {type(value).__name__}")
    return value


def unit_score(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise VerdictParseError(f"{where} must be a number from 0 to 1, got {json.dumps(value)}")
    if not 0.0 <= value <= 1.0:
        raise VerdictParseError(f"{where} must be from 0 to 1, got {value}")
    return float(value)


def parse_verdict(text: str) -> Verdict:
    """A single verdict `{reasoning, criteria, score}`, strictly."""
    data = parse_json_object(text)
    score = unit_score(data.get("score"), "score")
    reasoning = data.get("reasoning", "")
    if not isinstance(reasoning, str):
        raise VerdictParseError("reasoning must be a string")
    return Verdict(score=score, reasoning=reasoning, criteria=_parse_criteria(data.get("criteria", [])))


def parse_group_scores(text: str, ids: Sequence[str]) -> tuple[dict[str, float], str]:
    """The scores by candidate id of a group verdict (every id exactly once), and the reasoning."""
    data = parse_json_object(text)
    entries = data.get("scores")
    if not isinstance(entries, list):
        raise VerdictParseError("scores must be a list of {id, score}")
    scores: dict[str, float] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise VerdictParseError("each entry of scores must be an object with a string id and a score")
        if entry["id"] in scores:
            raise VerdictParseError(f"candidate {entry['id']} is scored twice")
        scores[entry["id"]] = unit_score(entry.get("score"), f"score of {entry['id']}")
    missing = [i for i in ids if i not in scores]
    unknown = [i for i in scores if i not in ids]
    if missing or unknown:
        raise VerdictParseError(
            f"scores must cover exactly the ids {', '.join(ids)} (missing {missing}, unknown {unknown})"
        )
    reasoning = data.get("reasoning", "")
    return scores, reasoning if isinstance(reasoning, str) else ""


def _parse_criteria(items: Any) -> dict[str, float]:
    if not isinstance(items, list):
        raise VerdictParseError("criteria must be a list of {item, verdict}")
    criteria: dict[str, float] = {}
    for entry in items:
        if not isinstance(entry, dict) or not isinstance(entry.get("item"), str):
            raise VerdictParseError("each criterion must be an object with a string item")
        verdict = entry.get("verdict", entry.get("score"))
        if isinstance(verdict, str):
            if verdict not in CRITERION_VALUES:
                raise VerdictParseError(
                    f"criterion verdict must be one of {', '.join(CRITERION_VALUES)}, got {verdict!r}"
                )
            value = CRITERION_VALUES[verdict]
        else:
            value = unit_score(verdict, f"criterion {entry['item']!r}")
        name = entry["item"]
        while name in criteria:
            name += " "
        criteria[name] = value
    return criteria


def repair_message(error: str) -> dict[str, str]:
    return {
        "role": "user",
        "content": f"Your answer could not be used: {error}. Answer again with only the JSON object in the "
        "required format, every score a number from 0 to 1.",
    }
