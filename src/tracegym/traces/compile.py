"""SGD dialogues → samples: one Sample per SYSTEM turn (DESIGN.md §3–§4).

    >>> from tracegym.traces.compile import CompileOptions, compile_sgd
    >>> from tracegym.traces.sgd import bundled_sgd_root
    >>> samples = list(compile_sgd(bundled_sgd_root(), "dev", CompileOptions(max_dialogues=5)))

The active service of a system turn is the service of its frame that carries actions (in SGD every system turn
has exactly one frame; should a turn have several, the first frame with actions wins, else the first frame). Its
active intent is the one the user's latest frame for that service names, else the last intent the user named for
it, else the method of the call this turn made.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from tracegym.errors import UserError
from tracegym.framing import Framing
from tracegym.samples import OFFLINE_RUBRIC, Act, Call, Sample
from tracegym.schema import IntentSchema, ServiceSchema
from tracegym.traces import render
from tracegym.traces.sgd import (
    DIALOGUE_SHAPE_HINT,
    Dialogue,
    Frame,
    iter_dialogues,
    read_schema,
    train_service_names,
)


@dataclass(frozen=True)
class CompileOptions:
    """How `compile_sgd` (and the chat reader) turn traces into samples."""

    context_turns: int | None = None  # keep only the last N user/assistant turns of history (None: all)
    max_dialogues: int | None = None  # keep N dialogues, a seeded choice, in file order (None: all)
    max_samples: int | None = None  # stop after N samples
    services: frozenset[str] | None = None  # keep only samples whose active service is one of these
    seed: int = 0  # picks the dialogues kept by max_dialogues
    include_acts: bool = False  # act-conditioned mode: the reference acts appear in the system message
    compact: bool = False  # with include_acts: the system message is the service and the acts, the last user turn
    seen_services: frozenset[str] | None = None  # the services a student trains on (default: the root's train split)
    split_name: str | None = None  # the `split` field written (default: the split read)

    def __post_init__(self) -> None:
        for name in ("context_turns", "max_dialogues", "max_samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UserError(f"--{name} {value}: must be 1 or more (or leave it out for no limit)")
        if self.compact and not self.include_acts:
            raise UserError("--compact frames a reply by its acts: give --include_acts with it")

    @property
    def kept_turns(self) -> int | None:
        """How many turns of history a prompt keeps: --context_turns, else all, or the last user turn when compact."""
        return self.context_turns or (1 if self.compact else None)


def compile_sgd(root: str | Path, split: str, options: CompileOptions = CompileOptions()) -> Iterator[Sample]:
    """The samples of one split of an SGD clone at `root`, streamed file by file, in file order."""
    root = Path(root)
    schema = read_schema(root, split)
    _check_services(options.services, schema, root / split / "schema.json")
    seen = options.seen_services if options.seen_services is not None else train_service_names(root)
    compiler = _DialogueCompiler(schema, seen, options, options.split_name or split)
    located: Iterable[tuple[Path, int, Dialogue]] = iter_dialogues(root, split)
    if options.max_dialogues is not None:
        located = _seeded_choice(located, options.max_dialogues, options.seed)
    samples = (sample for path, index, d in located for sample in compiler.samples(d, f"{path}: record {index}"))
    return _limited(samples, options.max_samples)


def samples_by_turn(root: str | Path) -> dict[tuple[str, str], Sample]:
    """Every dev and test turn by (split, id): SGD's dialogue ids repeat across splits, so an id alone is ambiguous."""
    return {(split, sample.id): sample for split in ("dev", "test") for sample in compile_sgd(root, split)}


def _check_services(wanted: frozenset[str] | None, schema: dict[str, ServiceSchema], where: Path) -> None:
    if wanted is not None and not wanted & schema.keys():
        raise UserError(
            f"--services {','.join(sorted(wanted))}: none of these is in {where}; "
            f"choose from {', '.join(sorted(schema))}"
        )


def _seeded_choice(
    located: Iterable[tuple[Path, int, Dialogue]], count: int, seed: int
) -> Iterator[tuple[Path, int, Dialogue]]:
    """`count` dialogues picked by a seeded hash of their id (independent of file order), yielded in file order."""
    kept: list[tuple[bytes, int, tuple[Path, int, Dialogue]]] = []  # max-heap on the hash, via negated bytes
    for position, item in enumerate(located):
        key = hashlib.blake2b(f"{seed}:{item[2]['dialogue_id']}".encode(), digest_size=8).digest()
        entry = (bytes(255 - b for b in key), position, item)
        if len(kept) < count:
            heapq.heappush(kept, entry)
        elif entry[0] > kept[0][0]:
            heapq.heapreplace(kept, entry)
    for _, _, item in sorted(kept, key=lambda entry: entry[1]):
        yield item


def _limited(samples: Iterator[Sample], limit: int | None) -> Iterator[Sample]:
    for count, sample in enumerate(samples):
        if limit is not None and count >= limit:
            return
        yield sample


def active_frame(frames: Sequence[Frame]) -> Frame:
    """The frame a system turn speaks for: the first with actions, else the first."""
    return next((frame for frame in frames if frame["actions"]), frames[0])


@dataclass
class _DialogueCompiler:
    """Compiles dialogues of one split; caches the rendered schema header per (service, intent)."""

    schema: dict[str, ServiceSchema]
    seen_services: frozenset[str] | None
    options: CompileOptions
    split: str
    _headers: dict[tuple[str, str | None], str] = field(default_factory=dict)

    @property
    def framing(self) -> Framing:
        return Framing(acts=self.options.include_acts, compact=self.options.compact)

    def samples(self, dialogue: Dialogue, where: str) -> Iterator[Sample]:
        try:
            yield from self._samples(dialogue, where)
        except (KeyError, TypeError, AttributeError) as exc:
            raise UserError(f"{where}: malformed field {exc}; {DIALOGUE_SHAPE_HINT}") from None

    def _samples(self, dialogue: Dialogue, where: str) -> Iterator[Sample]:
        dialogue_id = str(dialogue["dialogue_id"])
        history: list[dict[str, str]] = []
        prompt_lines: list[str] = []  # the seed-form lines of `history`, kept in step with it
        earlier_calls: list[Call] = []  # calls of past turns
        earlier_texts: list[str] = []  # their text in the system message, rendered once
        intent_of_service: dict[str, str] = {}
        wanted = self.options.services
        for turn_index, turn in enumerate(dialogue["turns"]):
            utterance = turn["utterance"]
            if turn["speaker"] != "SYSTEM":
                for frame in turn["frames"]:
                    intent = frame.get("state", {}).get("active_intent", "NONE")
                    if intent != "NONE":
                        intent_of_service[frame["service"]] = intent
                history.append({"role": "user", "content": utterance})
                prompt_lines.append("User: " + utterance)
                continue
            frame = active_frame(turn["frames"])
            service = self.schema.get(frame["service"])
            if service is None:
                raise UserError(
                    f"{where}: turn {turn_index} uses service {frame['service']!r}, absent from the split's "
                    "schema.json; use the schema.json that came with the dialogues"
                )
            this_turn = [self._call(called) for called in turn["frames"] if called.get("service_call") is not None]
            numbers = range(len(earlier_calls) + 1, len(earlier_calls) + len(this_turn) + 1)
            this_turn_texts = [render.call_text(number, call) for number, call in zip(numbers, this_turn)]
            if wanted is None or frame["service"] in wanted:
                call = frame.get("service_call")
                intent_name = intent_of_service.get(frame["service"]) or (call["method"] if call else None)
                yield self._sample(
                    dialogue_id,
                    turn_index,
                    utterance,
                    frame,
                    service,
                    intent_name,
                    history,
                    prompt_lines,
                    earlier_calls + this_turn,
                    earlier_texts + this_turn_texts,
                )
            for number, call in zip(numbers, this_turn):
                earlier_calls.append(replace(call, this_turn=False))
                earlier_texts.append(render.call_text(number, earlier_calls[-1]))
            history.append({"role": "assistant", "content": utterance})
            prompt_lines.append("Assistant: " + utterance)

    def _call(self, frame: Frame) -> Call:
        """This turn's call of `frame`, as the system message shows it."""
        call = frame["service_call"]
        results = frame.get("service_results") or []
        called_service = self.schema.get(frame["service"])
        called_intent = called_service.intent(call["method"]) if called_service else None
        return Call(
            service=frame["service"],
            method=call["method"],
            parameters=call["parameters"],
            results=tuple(results[: render.RESULTS_SHOWN_PER_CALL]),
            result_count=len(results),
            this_turn=True,
            transactional=called_intent is not None and called_intent.is_transactional,
        )

    def _sample(
        self,
        dialogue_id: str,
        turn_index: int,
        reply: str,
        frame: Frame,
        service: ServiceSchema,
        intent_name: str | None,
        history: list[dict[str, str]],
        prompt_lines: list[str],
        calls: list[Call],
        call_texts: list[str],
    ) -> Sample:
        intent = service.intent(intent_name) if intent_name else None
        keep = self.options.kept_turns
        context = history if keep is None else history[-keep:]
        acts = [Act(a["act"], a["slot"], tuple(a["values"]), tuple(a["canonical_values"])) for a in frame["actions"]]
        framing = self.framing
        if framing.compact:
            system = render.compact_system_message(service.name, intent_name, acts)
        else:
            header = self._header(service, intent)
            system = render.system_message(header, calls, acts if framing.acts else None, call_texts)
        return Sample(
            id=f"{dialogue_id}-turn{turn_index}",
            dialogue_id=dialogue_id,
            turn_index=turn_index,
            prompt="\n".join(prompt_lines if keep is None else prompt_lines[-keep:]),
            ground_truth=reply,
            rubric=render.rubric_from_acts(acts, service, intent),
            rubric_writer=OFFLINE_RUBRIC,
            task_description=intent.description if intent else "",
            messages=[{"role": "system", "content": system}, *context],
            split=self.split,
            service=frame["service"],
            unseen_service=self.seen_services is not None and frame["service"] not in self.seen_services,
            acts=acts,
            service_call=frame.get("service_call"),
            service_results=frame.get("service_results"),
            source="sgd",
            metadata={},
            schema=service,
            intent=intent_name,
            calls=calls,
            framing=framing,
        )

    def _header(self, service: ServiceSchema, intent: IntentSchema | None) -> str:
        key = (service.name, intent.name if intent else None)
        header = self._headers.get(key)
        if header is None:
            header = self._headers[key] = render.header_text(service, intent)
        return header
