"""OpenAI-format chat logs → samples: one Sample per assistant turn, its context every message before it.

The file is JSONL, one record a line, or one JSON array of records:

    {"messages": [{"role": "system", "content": "…"}, {"role": "user", "content": "…"},
                  {"role": "assistant", "content": "…"}], "id": "optional", "metadata": {"optional": "…"}}

Content given as a list of parts (`[{"type": "text", "text": "…"}]`) is joined into one string. An assistant
turn with no user message before it has nothing to answer and gives no sample.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tracegym.errors import UserError
from tracegym.samples import Sample, iter_jsonl_lines
from tracegym.traces.render import seed_prompt

RECORD_HINT = 'each record needs "messages": a list of {"role": "...", "content": "..."} objects'


def read_chat_traces(path: str | Path, *, split: str = "train", context_turns: int | None = None) -> list[Sample]:
    """The samples of a chat-log file. `context_turns` keeps the last N user/assistant messages of each
    context (system messages always stay)."""
    path = Path(path)
    samples: list[Sample] = []
    for where, record_index, record in _records(path):
        dialogue_id, messages, metadata = _checked_record(record, where, record_index)
        samples.extend(_samples_of(dialogue_id, messages, metadata, split, context_turns))
    return samples


def _records(path: Path) -> Iterator[tuple[str, int, Any]]:
    """(where, record index, record) for a JSONL file (read by `samples.iter_jsonl_lines`) or a JSON array file."""
    if not path.is_file():
        raise UserError(f"--traces {path}: no such file; check the path")
    if _first_character(path) == "[":
        yield from _array_records(path)
        return
    for index, (line_number, record) in enumerate(iter_jsonl_lines(path)):
        yield f"{path}: line {line_number} (record {index})", index, record


def _first_character(path: Path) -> str:
    """The first character of the file that is not white space ("" for an empty file)."""
    with path.open("rb") as handle:
        while chunk := handle.read(4096):
            stripped = chunk.lstrip()
            if stripped:
                return chr(stripped[0])
    return ""


def _array_records(path: Path) -> Iterator[tuple[str, int, Any]]:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; save the chat log as UTF-8 JSONL") from None
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path}: malformed or truncated JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); "
            "give a JSON array of records or one JSON record per line"
        ) from None
    for index, record in enumerate(records):
        yield f"{path}: record {index}", index, record


def _checked_record(record: Any, where: str, index: int) -> tuple[str, list[dict[str, str]], dict[str, Any]]:
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise UserError(f"{where}: no list of messages; {RECORD_HINT}")
    messages = []
    for position, message in enumerate(record["messages"]):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            content = _joined_text_parts(content)
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) or not isinstance(content, str):
            raise UserError(f"{where}: message {position} is not a role/content object; {RECORD_HINT}")
        messages.append({"role": message["role"], "content": content})
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise UserError(f'{where}: "metadata" is {type(metadata).__name__}; give a JSON object or leave it out')
    dialogue_id = record.get("id")
    return (str(dialogue_id) if dialogue_id is not None else f"chat-{index}"), messages, metadata


def _joined_text_parts(parts: list[Any]) -> str | None:
    texts = [part.get("text") for part in parts if isinstance(part, dict) and part.get("type") == "text"]
    return "".join(texts) if all(isinstance(text, str) for text in texts) else None


def _samples_of(
    dialogue_id: str,
    messages: list[dict[str, str]],
    metadata: dict[str, Any],
    split: str,
    context_turns: int | None,
) -> Iterator[Sample]:
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        context = messages[:index]
        if not any(m["role"] == "user" for m in context):
            continue
        if context_turns is not None:
            context = _last_turns(context, context_turns)
        dialogue = [m for m in context if m["role"] in ("user", "assistant")]
        yield Sample(
            id=f"{dialogue_id}-turn{index}",
            dialogue_id=dialogue_id,
            turn_index=index,
            prompt=seed_prompt(dialogue),
            ground_truth=message["content"],
            rubric="",
            task_description="",
            messages=context,
            split=split,
            service=None,
            unseen_service=False,
            acts=[],
            service_call=None,
            service_results=None,
            source="chat",
            metadata=metadata,
            schema=None,  # a chat log has no schema, calls or acts to frame the student with
            intent=None,
            calls=[],
        )


def _last_turns(context: list[dict[str, str]], keep: int) -> list[dict[str, str]]:
    """System messages, then the last `keep` other messages, in their order."""
    others = [position for position, m in enumerate(context) if m["role"] != "system"]
    kept = set(others[-keep:])
    return [m for position, m in enumerate(context) if m["role"] == "system" or position in kept]
