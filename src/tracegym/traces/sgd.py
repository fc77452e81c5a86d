"""Reader for the Schema-Guided Dialogue dataset (Rastogi et al., 2020) laid out as a clone of its repository.

    root/<split>/schema.json          the services of the split
    root/<split>/dialogues_*.json     globbed, sorted, never counted: a copy may hold any subset of the files
    root/<split>/dialogues_*.json.gz  the same, gzip-compressed (the package's bundled train split is)

Every field is read into small typed records (frames, actions, slot spans, state, service call and results).
Files are read one at a time, so memory stays bounded by the largest file, not the split.
"""

from __future__ import annotations

import gc
import gzip
import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import IO, Any, TypedDict

from tracegym.errors import UserError
from tracegym.schema import IntentSchema, ServiceSchema, SlotSchema

SPLITS = ("train", "dev", "test")


def bundled_sgd_root() -> Path:
    """The small SGD subset shipped inside the package (CC BY-SA 4.0; see its README.md)."""
    return Path(str(resources.files("tracegym") / "data" / "sgd_sample"))


def bundled_sgd_heldout_root() -> Path:
    """The demo's held-out SGD dev and test dialogues shipped inside the package, gzip-compressed (400 dialogues,
    2,981 system turns; a superset of the sample's dev and test; CC BY-SA 4.0; see its README.md)."""
    return Path(str(resources.files("tracegym") / "data" / "sgd_heldout"))


def bundled_sgd_train_root() -> Path:
    """The larger SGD train split shipped inside the package, gzip-compressed (every fifth train file of SGD; CC
    BY-SA 4.0; see its README.md): the offline fluency model's corpus."""
    return Path(str(resources.files("tracegym") / "data" / "sgd_train"))


# --------------------------------------------------------------------------------------------- dialogue records
# Dialogues stay the dicts json.load made, typed as TypedDicts: converting ~1.5 million small objects into
# dataclasses would cost more than parsing the JSON. `iter_dialogues` checks each dialogue's shape on the way out.


class Action(TypedDict):
    act: str  # INFORM, REQUEST, CONFIRM, OFFER, NOTIFY_SUCCESS, NOTIFY_FAILURE, INFORM_COUNT, OFFER_INTENT, ...
    slot: str  # "" for acts without a slot
    values: list[str]  # as said in the utterance
    canonical_values: list[str]  # normalised ("11:30" for "half past 11 in the morning")


class SlotSpan(TypedDict):
    """Where a non-categorical slot value sits in the utterance (character offsets, end exclusive)."""

    slot: str
    start: int
    exclusive_end: int


class DialogueState(TypedDict):
    active_intent: str  # "NONE" before the user names one
    requested_slots: list[str]
    slot_values: dict[str, list[str]]


class ServiceCall(TypedDict):
    method: str  # the intent called
    parameters: dict[str, str]


class _FrameFields(TypedDict):
    service: str
    actions: list[Action]
    slots: list[SlotSpan]


class Frame(_FrameFields, total=False):
    state: DialogueState  # user frames
    service_call: ServiceCall  # system frames that queried the service on this turn
    service_results: list[dict[str, str]]


class Turn(TypedDict):
    speaker: str  # "USER" or "SYSTEM"
    utterance: str
    frames: list[Frame]


class Dialogue(TypedDict):
    dialogue_id: str
    services: list[str]
    turns: list[Turn]


# ------------------------------------------------------------------------------------------------------ reading


def split_dir(root: Path, split: str) -> Path:
    """`root/split`, or a UserError saying what is missing and how to fix it."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(
            f"--sgd_root {root}: no such folder; give the folder of an SGD clone (holding train/ dev/ test/)"
        )
    folder = root / split
    if not folder.is_dir():
        present = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise UserError(
            f"{folder}: no such split folder (found: {', '.join(present) or 'none'}); "
            f"choose --split from the splits present or point --sgd_root at an SGD clone"
        )
    return folder


def dialogue_files(root: Path, split: str) -> list[Path]:
    """The split's `dialogues_*.json` and gzip-compressed `dialogues_*.json.gz`, sorted by name; a UserError when
    there are none, or when one file is there both ways."""
    folder = split_dir(root, split)
    files = sorted([*folder.glob("dialogues_*.json"), *folder.glob("dialogues_*.json.gz")], key=lambda p: p.name)
    if not files:
        raise UserError(
            f"{folder}: empty split, no dialogues_*.json or dialogues_*.json.gz files; check --sgd_root and --split"
        )
    stems = [p.name.removesuffix(".gz") for p in files]
    twice = sorted({stem for stem in stems if stems.count(stem) > 1})
    if twice:
        raise UserError(
            f"{folder}: {twice[0]} is there both plain and as {twice[0]}.gz; keep one of the two, or its dialogues "
            "count twice"
        )
    return files


def read_schema(root: Path, split: str) -> dict[str, ServiceSchema]:
    """The split's services by name, from `<split>/schema.json`."""
    path = split_dir(root, split) / "schema.json"
    if not path.is_file():
        raise UserError(f"{path}: missing schema.json; an SGD split folder needs its schema.json beside the dialogues")
    data = load_json(path)
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of services, got {type(data).__name__}")
    services: dict[str, ServiceSchema] = {}
    for index, row in enumerate(data):
        try:
            service = _service_schema(row)
        except (KeyError, TypeError, AttributeError) as exc:
            raise UserError(
                f"{path}: service {index}: missing or malformed field {_field_of(exc)}; "
                "each service needs service_name, description, slots and intents as in SGD"
            ) from None
        services[service.name] = service
    return services


def train_service_names(root: Path) -> frozenset[str] | None:
    """Service names in `root/train/schema.json` (what "seen" means), or None when the root has no train split."""
    path = Path(root) / "train" / "schema.json"
    if not path.is_file():
        return None
    return frozenset(read_schema(root, "train"))


def iter_dialogues(root: Path, split: str) -> Iterator[tuple[Path, int, Dialogue]]:
    """(file, record index, dialogue) for every dialogue of the split, one file in memory at a time."""
    empty = True
    for path in dialogue_files(root, split):
        with _loaded_and_frozen(path) as data:
            if not isinstance(data, list):
                raise UserError(f"{path}: expected a JSON list of dialogues, got {type(data).__name__}")
            for index, dialogue in enumerate(data):
                problem = shape_problem(dialogue)
                if problem:
                    raise UserError(f"{path}: record {index}: {problem}; {DIALOGUE_SHAPE_HINT}")
                empty = False
                yield path, index, dialogue
    if empty:
        raise UserError(f"{split_dir(root, split)}: empty split, the dialogues_*.json files hold no dialogues")


def load_json(path: Path, freeze: bool = False) -> Any:
    """One JSON file, with the garbage collector paused (a big tree of fresh containers makes it rescan for
    nothing: about 5x slower on SGD); malformed or truncated JSON is a UserError with its line and column.
    With `freeze`, everything alive is moved out of the collector's reach (`gc.freeze`) before it is back on;
    the caller calls `gc.unfreeze()` when done."""
    try:
        with _opened(path) as handle, _gc_paused():
            data = json.load(handle)
            if freeze:
                gc.freeze()
            return data
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path}: malformed or truncated JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); "
            "restore the file from the SGD repository"
        ) from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; restore the file from the SGD repository") from None
    except (gzip.BadGzipFile, EOFError, zlib.error):
        raise UserError(f"{path}: not a complete gzip file; restore it, or decompress it with `gunzip`") from None


def _opened(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed when its name ends in .gz."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


@contextmanager
def _gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def _loaded_and_frozen(path: Path) -> Iterator[Any]:
    """A dialogues file, held out of the collector's scans while it is in use: the tree has no reference cycles
    (reference counting frees it either way), and each collection would otherwise walk its ~200,000 containers
    again. Frozen before the collector is back on, so no collection sees it."""
    data = load_json(path, freeze=True)
    try:
        yield data
    finally:
        del data
        gc.unfreeze()


def _field_of(exc: Exception) -> str:
    return repr(exc.args[0]) if isinstance(exc, KeyError) and exc.args else f"({exc})"


def _service_schema(row: dict[str, Any]) -> ServiceSchema:
    return ServiceSchema(
        name=row["service_name"],
        description=row["description"],
        slots=tuple(
            SlotSchema(
                name=slot["name"],
                description=slot["description"],
                is_categorical=bool(slot.get("is_categorical", False)),
                possible_values=tuple(slot.get("possible_values", ())),
            )
            for slot in row["slots"]
        ),
        intents=tuple(
            IntentSchema(
                name=intent["name"],
                description=intent["description"],
                is_transactional=bool(intent.get("is_transactional", False)),
                required_slots=tuple(intent.get("required_slots", ())),
                optional_slots=tuple(intent.get("optional_slots", {}).items()),
                result_slots=tuple(intent.get("result_slots", ())),
            )
            for intent in row["intents"]
        ),
    )


DIALOGUE_SHAPE_HINT = (
    "each dialogue needs dialogue_id, services and turns, each turn speaker, utterance and frames, each frame "
    "service and actions (act, slot, values, canonical_values), as in the SGD repository"
)
_DIALOGUE_KEYS = frozenset(("dialogue_id", "services", "turns"))
_TURN_KEYS = frozenset(("speaker", "utterance", "frames"))
_FRAME_KEYS = frozenset(("service", "actions"))
_ACTION_KEYS = frozenset(("act", "slot", "values", "canonical_values"))


def shape_problem(dialogue: Any) -> str | None:
    """What is missing or of the wrong kind in one dialogue, or None: the fields the compiler reads."""
    if not isinstance(dialogue, dict):
        return f"expected a JSON object, got {type(dialogue).__name__}"
    if not _DIALOGUE_KEYS <= dialogue.keys():
        return f"missing field(s) {', '.join(sorted(_DIALOGUE_KEYS - dialogue.keys()))}"
    turns = dialogue["turns"]
    if not isinstance(turns, list):
        return "field 'turns' is not a list"
    for turn_index, turn in enumerate(turns):
        if not isinstance(turn, dict) or not _TURN_KEYS <= turn.keys():
            return f"turn {turn_index}: missing field(s) {_missing(turn, _TURN_KEYS)}"
        frames = turn["frames"]
        if not isinstance(frames, list) or not frames:
            return f"turn {turn_index}: field 'frames' is not a non-empty list"
        for frame in frames:
            if not isinstance(frame, dict) or not _FRAME_KEYS <= frame.keys():
                return f"turn {turn_index}: a frame is missing field(s) {_missing(frame, _FRAME_KEYS)}"
            for action in frame["actions"]:
                if not isinstance(action, dict) or not _ACTION_KEYS <= action.keys():
                    return f"turn {turn_index}: an action is missing field(s) {_missing(action, _ACTION_KEYS)}"
    return None


def _missing(row: Any, keys: frozenset[str]) -> str:
    return ", ".join(sorted(keys - row.keys())) if isinstance(row, dict) else "(not a JSON object)"
