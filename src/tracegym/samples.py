"""The sample record (DESIGN.md §3) and its one serialisation: JSONL, written atomically.

>>> from tracegym import read_jsonl, write_jsonl
>>> rows = read_jsonl("dev.jsonl")          # list of dicts, like the seed's jsonl_utils
>>> samples = read_samples("dev.jsonl")     # list of Sample
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tracegym.errors import UserError


@dataclass
class Sample:
    """One single-step RL sample: the context of one assistant turn and its reference reply."""

    id: str
    dialogue_id: str
    turn_index: int
    prompt: str
    ground_truth: str
    rubric: str = ""
    task_description: str = ""
    messages: list[dict[str, str]] = field(default_factory=list)
    split: str = ""
    service: str | None = None
    unseen_service: bool = False
    acts: list[dict[str, Any]] = field(default_factory=list)
    service_call: dict[str, Any] | None = None
    service_results: list[dict[str, Any]] | None = None
    source: str = "sgd"
    metadata: dict[str, Any] = field(default_factory=dict)
    # Fields a step added later (`response`, `score`, `judge`, ...), kept in order on a round trip.
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-ready dict (shallow: nested lists and dicts are shared, not copied)."""
        row = {name: getattr(self, name) for name in FIELD_NAMES}
        row.update(self.extra)
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any], where: str = "record") -> Sample:
        missing = [name for name in REQUIRED_FIELDS if name not in row]
        if missing:
            raise UserError(
                f"{where}: missing field(s) {', '.join(missing)}; a sample needs at least "
                f"{', '.join(REQUIRED_FIELDS)} (make one with `tracegym prepare`)"
            )
        for name, kind in FIELD_TYPES.items():
            if name in row and row[name] is not None and not isinstance(row[name], kind):
                raise UserError(f"{where}: field {name!r} is {type(row[name]).__name__}, expected {_type_name(kind)}")
        known = {k: v for k, v in row.items() if k in FIELD_NAMES}
        extra = {k: v for k, v in row.items() if k not in FIELD_NAMES}
        return cls(**known, extra=extra)

    @property
    def response(self) -> str | None:
        return self.extra.get("response")


FIELD_NAMES = tuple(f.name for f in fields(Sample) if f.name != "extra")
REQUIRED_FIELDS = ("id", "dialogue_id", "turn_index", "prompt", "ground_truth")
FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "dialogue_id": str,
    "turn_index": int,
    "prompt": str,
    "ground_truth": str,
    "rubric": str,
    "task_description": str,
    "messages": list,
    "split": str,
    "service": str,
    "unseen_service": bool,
    "acts": list,
    "service_call": dict,
    "service_results": list,
    "source": str,
    "metadata": dict,
}


def _type_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__


def iter_jsonl(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSONL file; a bad line is a UserError naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; check the path")
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(
                    f"{path}: line {line_number}: malformed JSON ({exc.msg} at column {exc.colno}); "
                    "each line must be one JSON object"
                ) from None
            if not isinstance(row, dict):
                raise UserError(f"{path}: line {line_number}: expected a JSON object, got {type(row).__name__}")
            yield row


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All JSON objects of a JSONL file, as dicts (the seed's `read_jsonl`)."""
    return list(iter_jsonl(path))


def read_samples(path: str | os.PathLike, *, require_nonempty: bool = True) -> list[Sample]:
    """The samples of a JSONL file, each checked for the fields and types of the record."""
    samples = [Sample.from_dict(row, where=f"{path}: record {index}") for index, row in enumerate(iter_jsonl(path))]
    if require_nonempty and not samples:
        raise UserError(f"{path}: no samples in the file; make some with `tracegym prepare`")
    return samples


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict[str, Any] | Sample]) -> int:
    """Write rows as JSONL atomically (temporary file in the same folder, then rename); returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    count = 0
    try:
        with handle:
            for row in rows:
                record = row.to_dict() if isinstance(row, Sample) else row
                handle.write(json.dumps(record, ensure_ascii=False))
                handle.write("\n")
                count += 1
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return count


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` atomically: a temporary file in the same folder, then a rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            handle.write(text)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write one JSON document atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def split_by_dialogue(
    rows: Sequence[dict[str, Any]], eval_fraction: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, eval) with every dialogue wholly on one side; about `eval_fraction` of dialogues go to eval.

    Rows keep their file order on each side. A row without `dialogue_id` is its own dialogue.
    """
    if not 0.0 < eval_fraction < 1.0:
        raise UserError(f"--eval_fraction {eval_fraction}: must be strictly between 0 and 1 (e.g. 0.1)")
    dialogue_of = [str(row.get("dialogue_id") or row.get("id")) for row in rows]
    dialogues = sorted(set(dialogue_of))
    if len(dialogues) < 2:
        raise UserError("cannot split fewer than 2 dialogues into train and eval; give more samples")
    random.Random(seed).shuffle(dialogues)
    eval_count = min(len(dialogues) - 1, max(1, round(len(dialogues) * eval_fraction)))
    eval_dialogues = set(dialogues[:eval_count])
    train = [row for row, d in zip(rows, dialogue_of) if d not in eval_dialogues]
    held_out = [row for row, d in zip(rows, dialogue_of) if d in eval_dialogues]
    return train, held_out
