"""The sample record (DESIGN.md §3) and its one serialisation: JSONL, written atomically, read by one reader.

The record carries what judges, metrics and the placeholder filler need as typed fields (`Act`, `Call`, the
service's `ServiceSchema`, the active intent, the `Framing`), so nothing reads back the text the project rendered.
Files from a `prepare` that predates these fields fail with one error asking to re-run `tracegym prepare`;
hand-made records (a few fields) load, the typed fields empty.

>>> from tracegym import read_jsonl, write_jsonl
>>> rows = read_jsonl("dev.jsonl")          # list of dicts, like the seed's jsonl_utils
>>> samples = read_samples("dev.jsonl")     # list of Sample
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, Any

from tracegym.errors import UserError
from tracegym.framing import Framing
from tracegym.schema import ServiceSchema


@dataclass(frozen=True)
class Act:
    """One dialogue act of a reference turn, as SGD writes it: `OFFER(restaurant_name=Sino)`."""

    act: str  # INFORM, REQUEST, CONFIRM, OFFER, NOTIFY_SUCCESS, INFORM_COUNT, OFFER_INTENT, REQ_MORE, GOODBYE, ...
    slot: str = ""  # "" for acts without a slot
    values: tuple[str, ...] = ()  # as said in the reference reply
    canonical_values: tuple[str, ...] = ()  # normalised ("11:30" for "half past 11 in the morning")

    def to_dict(self) -> dict[str, Any]:
        return {
            "act": self.act,
            "slot": self.slot,
            "values": list(self.values),
            "canonical_values": list(self.canonical_values),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "act") -> Act:
        """An act from `{act, slot, values, canonical_values}`; slot, values and canonical values may be left out."""
        if not isinstance(data, Mapping) or not isinstance(data.get("act"), str):
            raise UserError(f"{where}: {ACT_HINT}")
        values, canonical = data.get("values") or [], data.get("canonical_values") or []
        if not isinstance(values, list) or not isinstance(canonical, list):
            raise UserError(f"{where}: values and canonical_values must be lists; {ACT_HINT}")
        return cls(
            act=data["act"],
            slot=str(data.get("slot") or ""),
            values=tuple(str(v) for v in values),
            canonical_values=tuple(str(v) for v in canonical),
        )


ACT_HINT = 'each act is an object such as {"act": "OFFER", "slot": "city", "values": ["San Jose"], "canonical_values": ["San Jose"]}'


@dataclass(frozen=True)
class Call:
    """A service call the student is shown in its system message, with the results it is shown (DESIGN.md §4)."""

    service: str
    method: str  # the intent called
    parameters: dict[str, str] = field(default_factory=dict)
    results: tuple[dict[str, str], ...] = ()  # the first few results, as the system message shows them
    result_count: int = 0  # how many results the service returned
    this_turn: bool = False  # made on the sample's own turn
    transactional: bool = False  # the intent called is transactional (a booking, a payment), per its schema

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "method": self.method,
            "parameters": self.parameters,
            "results": list(self.results),
            "result_count": self.result_count,
            "this_turn": self.this_turn,
            "transactional": self.transactional,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "call") -> Call:
        try:
            results = data.get("results") or []
            return cls(
                service=str(data["service"]),
                method=str(data["method"]),
                parameters=_strings(data.get("parameters") or {}),
                results=tuple(_strings(result) for result in results),
                result_count=int(data.get("result_count", len(results))),
                this_turn=bool(data.get("this_turn", False)),
                transactional=bool(data.get("transactional", False)),
            )
        except (KeyError, TypeError, AttributeError, ValueError):
            raise UserError(
                f"{where}: a call needs service, method, parameters {{slot: value}}, results [{{slot: value}}], "
                "result_count, this_turn and transactional (make one with `tracegym prepare`)"
            ) from None


def _strings(pairs: Mapping[Any, Any]) -> dict[str, str]:
    """`{slot: value}` as strings; a None value (a slot `datasets` filled in for another record) is left out."""
    return {str(key): str(value) for key, value in pairs.items() if value is not None}


@dataclass
class Sample:
    """One single-step RL sample: the context of one assistant turn and its reference reply.

    Beside the text the student reads (`messages`), the record carries what that text was rendered from, typed,
    for judges, metrics and the placeholder filler: the acts, the active service's schema and intent, the calls
    and results shown, and how the student was framed. Acts, calls, schema and framing given as dicts (as JSON
    has them) are turned into their records.
    """

    id: str
    dialogue_id: str
    turn_index: int
    prompt: str
    ground_truth: str
    rubric: str = ""
    # Who wrote `rubric`: "offline" (compiled from the acts), a teacher's id "backend:model:prompt:digest", or ""
    # (no rubric, or a file written before this field).
    rubric_writer: str = ""
    task_description: str = ""
    messages: list[dict[str, str]] = field(default_factory=list)
    split: str = ""
    service: str | None = None
    unseen_service: bool = False
    acts: list[Act] = field(default_factory=list)
    service_call: dict[str, Any] | None = None
    service_results: list[dict[str, Any]] | None = None
    source: str = "sgd"
    metadata: dict[str, Any] = field(default_factory=dict)
    schema: ServiceSchema | None = None  # the active service's schema (None for chat traces)
    intent: str | None = None  # the active intent's name
    calls: list[Call] = field(default_factory=list)  # every call so far, this turn's last
    framing: Framing = field(default_factory=Framing)
    # Fields a step added later (`response`, `score`, `judge`, ...), kept in order on a round trip.
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        typed = _typed_context(vars(self), f"sample {self.id}")
        for name, value in typed.items():
            setattr(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-ready dict (shallow: messages, results and metadata are shared, not copied)."""
        row = {name: getattr(self, name) for name in FIELD_NAMES}
        row["acts"] = [act.to_dict() for act in self.acts]
        row["schema"] = self.schema.to_dict() if self.schema is not None else None
        row["calls"] = [call.to_dict() for call in self.calls]
        row["framing"] = self.framing.to_dict()
        row.update(self.extra)
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any], where: str = "record", schemas: SchemaCache | None = None) -> Sample:
        """The sample of a JSON record, its fields checked. `schemas` lets the samples of one file share one record per
        service schema instead of each building its own."""
        missing = [name for name in REQUIRED_FIELDS if name not in row]
        if missing:
            raise UserError(
                f"{where}: missing field(s) {', '.join(missing)}; a sample needs at least "
                f"{', '.join(REQUIRED_FIELDS)} (make one with `tracegym prepare`)"
            )
        if _written_before_typed_context(row):
            raise UserError(
                f"{where}: written by an older `tracegym prepare`, without the schema, calls and framing fields "
                "that judges and metrics now read; re-run `tracegym prepare` to rewrite the file"
            )
        for name, kind in FIELD_TYPES.items():
            if name in row and row[name] is not None and not isinstance(row[name], kind):
                raise UserError(f"{where}: field {name!r} is {type(row[name]).__name__}, expected {_type_name(kind)}")
        known = {k: v for k, v in row.items() if k in FIELD_NAMES}
        if known.get("rubric_writer") is None and "rubric_writer" in known:
            known["rubric_writer"] = ""  # files of a teacher run before the field wrote null for a kept rubric
        known.update(_typed_context(known, where, schemas))
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
    "rubric_writer": str,
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
    "schema": dict,
    "intent": str,
    "calls": list,
    "framing": dict,
}
# The schemas met so far while reading one file, by service name: (its JSON, its record), so samples share them.
SchemaCache = dict[str, list[tuple[Mapping[str, Any], ServiceSchema]]]
TYPED_CONTEXT_FIELDS = ("schema", "intent", "calls", "framing")
# Every field `tracegym prepare` wrote before the typed context fields existed.
EARLIER_FIELDS = tuple(name for name in FIELD_NAMES if name not in (*TYPED_CONTEXT_FIELDS, "rubric_writer"))
# `rubric_writer` of a rubric compiled from the reference acts (traces/render.py), not written by a teacher.
OFFLINE_RUBRIC = "offline"


def _written_before_typed_context(row: dict[str, Any]) -> bool:
    """An SGD record from a `prepare` that wrote every earlier field and none of the typed context: its schema and
    framing are only in its text. Hand-made records (a few fields, or no service) are not one."""
    return (
        row.get("source") == "sgd"
        and row.get("service") is not None
        and all(name in row for name in EARLIER_FIELDS)
        and not any(name in row for name in TYPED_CONTEXT_FIELDS)
    )


def _typed_context(row: Mapping[str, Any], where: str, schemas: SchemaCache | None = None) -> dict[str, Any]:
    """The acts, calls, schema and framing of `row` that are still JSON (dicts, None), as records."""
    typed: dict[str, Any] = {}
    acts, calls = row.get("acts"), row.get("calls")
    if acts is None or any(not isinstance(act, Act) for act in acts):
        typed["acts"] = [
            act if isinstance(act, Act) else Act.from_dict(act, f"{where}: act {index}")
            for index, act in enumerate(acts or [])
        ]
    if calls is None or any(not isinstance(call, Call) for call in calls):
        typed["calls"] = [
            call if isinstance(call, Call) else Call.from_dict(call, f"{where}: call {index}")
            for index, call in enumerate(calls or [])
        ]
    if isinstance(row.get("schema"), Mapping):
        typed["schema"] = _schema_of(row["schema"], f"{where}: schema", schemas)
    if not isinstance(row.get("framing"), Framing):
        typed["framing"] = Framing.from_dict(row.get("framing"), f"{where}: framing")
    return typed


def _schema_of(data: Mapping[str, Any], where: str, schemas: SchemaCache | None) -> ServiceSchema:
    if schemas is None:
        return ServiceSchema.from_dict(data, where)
    seen = schemas.setdefault(str(data.get("name")), [])
    for seen_data, schema in seen:
        if seen_data == data:
            return schema
    schema = ServiceSchema.from_dict(data, where)
    seen.append((data, schema))
    return schema


def _type_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__


def iter_jsonl(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSONL file; a bad line is a UserError naming file and line."""
    for _, row in iter_jsonl_lines(path):
        yield row


def iter_jsonl_lines(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, JSON object) for each non-blank line of a JSONL file: the one JSONL reader of the project.

    A missing file, text that is not UTF-8, a malformed line or a line that is not an object is a UserError
    naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; check the path")
    with path.open(encoding="utf-8") as handle:
        line_number = 0
        try:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                yield line_number, _json_object(line, path, line_number)
        except UnicodeDecodeError:
            raise UserError(f"{path}: line {line_number + 1}: not UTF-8 text; save the file as UTF-8") from None


def _json_object(line: str, path: Path, line_number: int) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path}: line {line_number} column {exc.colno}: malformed JSON ({exc.msg}); "
            "each line must be one JSON object"
        ) from None
    if not isinstance(row, dict):
        raise UserError(f"{path}: line {line_number}: expected a JSON object, got {type(row).__name__}")
    return row


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All JSON objects of a JSONL file, as dicts (the seed's `read_jsonl`)."""
    return list(iter_jsonl(path))


def read_samples(path: str | os.PathLike, *, require_nonempty: bool = True) -> list[Sample]:
    """The samples of a JSONL file, each checked for the fields and types of the record."""
    schemas: SchemaCache = {}
    samples = [
        Sample.from_dict(row, where=f"{path}: record {index}", schemas=schemas)
        for index, row in enumerate(iter_jsonl(path))
    ]
    if require_nonempty and not samples:
        raise UserError(f"{path}: no samples in the file; make some with `tracegym prepare`")
    return samples


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict[str, Any] | Sample]) -> int:
    """Write rows as JSONL atomically (temporary file in the same folder, then rename); returns the count."""
    count = 0
    with atomic_file(path) as handle:
        for row in rows:
            record = row.to_dict() if isinstance(row, Sample) else row
            handle.write(json.dumps(record, ensure_ascii=False))
            handle.write("\n")
            count += 1
    return count


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` atomically: a temporary file in the same folder, then a rename over `path`."""
    with atomic_file(path) as handle:
        handle.write(text)


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "w") -> Iterator[IO[Any]]:
    """A handle on a temporary file beside `path` that becomes `path` when the block ends without an error, with
    the permissions a plain `open` would give it (the temporary file is private); nothing is left on an error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    encoding = None if "b" in mode else "utf-8"
    handle = tempfile.NamedTemporaryFile(
        mode, encoding=encoding, dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            yield handle
        os.chmod(handle.name, 0o666 & ~_umask())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
