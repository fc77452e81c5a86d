"""A teacher model writes a rubric for each sample (Rubrics as Rewards, arXiv 2507.17746).

The rubric is grounded in what the sample holds: the reference reply, its dialogue acts, the service schema and
context the student was given, and the dialogue so far. It is 5–15 checkable items, each tagged essential,
important, optional or pitfall, parsed strictly (one repair request, then a failure that leaves the sample's
rubric, and its `rubric_writer`, as they were). Every sample says who wrote its rubric: the teacher's id
(`gemini:gemini-2.5-flash:rubric_writer_v1:<prompt digest>`) or "offline" (compiled from the acts). Written rubrics
are kept in a `rubrics` table of the SQLite cache file, keyed by everything the teacher saw, so a re-run asks only
for the missing ones. Failures are counted; past `max_failures` (a share of the samples) the run stops asking and
`check_failures` raises `TooManyRubricFailures` (exit 3): the rubrics written so far are in the cache.

    >>> samples = write_rubrics(samples, JudgeSettings(judge="gemini", cache="cache.sqlite"))
    >>> print(samples[0].rubric)
    - [essential] States that the restaurant is Sino.
    ...
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tracegym.errors import BudgetExceeded, UserError
from tracegym.judges.base import Usage
from tracegym.judges.llm import LLMJudge, Message, VerdictParseError, context_text, load_prompt, parse_json_object
from tracegym.samples import OFFLINE_RUBRIC, Sample
from tracegym.traces.render import sample_system_message

PROMPT_NAME = "rubric_writer_v1"
RUBRIC_TAGS = ("essential", "important", "optional", "pitfall")
MIN_ITEMS, MAX_ITEMS = 5, 15
MAX_SCHEMA_CHARS = 6000

RUBRIC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"tag": {"type": "string", "enum": list(RUBRIC_TAGS)}, "item": {"type": "string"}},
                "required": ["tag", "item"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["reasoning", "items"],
    "additionalProperties": False,
}

RUBRICS_TABLE = """
CREATE TABLE IF NOT EXISTS rubrics (
    key TEXT PRIMARY KEY,
    writer TEXT NOT NULL,
    rubric TEXT NOT NULL,
    created_at REAL NOT NULL
) WITHOUT ROWID
"""


@dataclass(frozen=True)
class RubricItem:
    tag: str
    text: str


def parse_rubric(text: str) -> list[RubricItem]:
    """The items of a rubric answer `{reasoning, items: [{tag, item}]}`: 5–15, known tags, no empty or repeated item."""
    data = parse_json_object(text)
    entries = data.get("items")
    if not isinstance(entries, list):
        raise VerdictParseError("items must be a list of {tag, item}")
    if not MIN_ITEMS <= len(entries) <= MAX_ITEMS:
        raise VerdictParseError(f"a rubric needs {MIN_ITEMS} to {MAX_ITEMS} items, got {len(entries)}")
    items: list[RubricItem] = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("tag") not in RUBRIC_TAGS:
            raise VerdictParseError(
                f"each item needs a tag among {', '.join(RUBRIC_TAGS)}, got {json.dumps(entry)[:80]}"
            )
        item_text = " ".join(str(entry.get("item") or "").split())
        if not item_text:
            raise VerdictParseError("an item has no text")
        if any(item_text == earlier.text for earlier in items):
            raise VerdictParseError(f"the item {item_text!r} appears twice")
        items.append(RubricItem(entry["tag"], item_text))
    if not any(item.tag == "essential" for item in items):
        raise VerdictParseError("a rubric needs at least one essential item")
    return items


def rubric_markdown(items: Sequence[RubricItem]) -> str:
    """The sample record's rubric form: `- [tag] item` a line."""
    return "\n".join(f"- [{item.tag}] {item.text}" for item in items)


def acts_text(sample: Sample) -> str:
    """The reference turn's acts, SGD style: `OFFER(restaurant_name=Sino)`."""
    lines = []
    for act in sample.acts:
        argument = f"{act.slot}={', '.join(act.values)}" if act.values else act.slot
        lines.append(f"{act.act}({argument})")
    return "\n".join(lines) or "(no acts recorded)"


def schema_text(sample: Sample) -> str:
    """What the student was told, bounded: for an SGD sample its system message rendered from the sample's typed
    fields (role, schema, service calls and results); for a chat trace the system message the log gave."""
    system = sample_system_message(sample)
    if system is None:
        system = next((m.get("content", "") for m in sample.messages if m.get("role") == "system"), "")
    text = system or f"Service: {sample.service or '(none)'}"
    return text if len(text) <= MAX_SCHEMA_CHARS else text[:MAX_SCHEMA_CHARS] + " …"


class RubricWriter:
    """Writes, caches and applies rubrics with a teacher LLM judge (its API, limits and retries)."""

    def __init__(self, teacher: LLMJudge, store: RubricStore | None = None) -> None:
        self.teacher = teacher
        self.store = store
        self.prompt = load_prompt(PROMPT_NAME)
        self.writer_id = f"{teacher.name}:{teacher.config.model}:{PROMPT_NAME}:{self.prompt.digest}"

    def messages_for(self, sample: Sample) -> list[Message]:
        fields = {
            "task": sample.task_description or "(not stated)",
            "schema": schema_text(sample),
            "context": context_text(sample),
            "reference": sample.ground_truth,
            "acts": acts_text(sample),
        }
        return [
            {"role": "system", "content": self.prompt.system.format()},
            {"role": "user", "content": self.prompt.user.format(**fields)},
        ]

    def key_for(self, sample: Sample) -> str:
        payload = {
            "writer": self.writer_id,
            "task": sample.task_description,
            "schema": schema_text(sample),
            "context": context_text(sample),
            "reference": sample.ground_truth,
            "acts": [act.to_dict() for act in sample.acts],
        }
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def teacher_label(self) -> str:
        """The teacher as a person names it: `gemini-2.5-flash (gemini)`."""
        return f"{self.teacher.config.model} ({self.teacher.name})"

    async def write(
        self,
        samples: Sequence[Sample],
        on_done: Callable[[], None] | None = None,
        max_failures: float = 1.0,
    ) -> RubricRun:
        """Samples with their written rubric; cached ones are not asked again, failures keep their old rubric.
        Once more than `max_failures` (a share of `samples`) have failed, the samples not yet asked are left as
        they were (`run.not_asked`)."""
        keys = [self.key_for(sample) for sample in samples]
        cached = self.store.get_many(keys) if self.store else {}
        run = RubricRun(samples=list(samples), teacher=self.teacher_label, max_failures=max_failures)
        for index, key in enumerate(keys):
            if key in cached:
                run.samples[index] = self._with_rubric(samples[index], cached[key])
                run.from_cache += 1
                if on_done:
                    on_done()
        # Our own slot per sample (the teacher's limit is per call), so that a stop is seen before the next ask.
        slots = asyncio.Semaphore(self.teacher.config.concurrency)

        async def write_one(index: int) -> None:
            async with slots:  # the outcome is counted before the slot is free, so the next sample sees it
                if run.past_limit:
                    run.not_asked += 1
                    return
                parsed, usage, error = await self.teacher.ask(
                    self.messages_for(samples[index]), RUBRIC_SCHEMA, parse_rubric
                )
                run.usage = run.usage + usage
                if parsed is None:
                    run.failures.append(f"{samples[index].id}: {error}")
                    run.kept_writers.add(samples[index].rubric_writer)
                else:
                    rubric = rubric_markdown(parsed)
                    if self.store:
                        self.store.put(keys[index], self.writer_id, rubric)
                    run.samples[index] = self._with_rubric(samples[index], rubric)
                    run.written += 1
            if on_done:
                on_done()

        await asyncio.gather(*(write_one(i) for i, key in enumerate(keys) if key not in cached))
        return run

    def _with_rubric(self, sample: Sample, rubric: str) -> Sample:
        return replace(sample, rubric=rubric, rubric_writer=self.writer_id)


@dataclass
class RubricRun:
    """What one `write` did."""

    samples: list[Sample]
    teacher: str  # `gemini-2.5-flash (gemini)`
    max_failures: float = 1.0  # the share of samples that may fail
    from_cache: int = 0
    written: int = 0
    not_asked: int = 0  # left as they were after the failures went past `max_failures`
    failures: list[str] = field(default_factory=list)
    kept_writers: set[str] = field(default_factory=set)  # the rubric_writer of the samples that failed
    usage: Usage = field(default_factory=Usage)

    @property
    def past_limit(self) -> bool:
        return len(self.failures) > self.max_failures * len(self.samples)

    def summary(self, stopped: bool = False) -> str:
        """`rubrics: 30 of 34 written by gemini-2.5-flash (gemini), 4 failed (12%; kept their offline rubric)`;
        `stopped`: the file is not written, so no sample kept anything."""
        text = f"rubrics: {self.written + self.from_cache} of {len(self.samples)} written by {self.teacher}"
        if self.from_cache:
            text += f" ({self.from_cache} from the cache)"
        if self.failures:
            share = f"{len(self.failures) / len(self.samples):.0%}"
            kept = "their offline rubric" if self.kept_writers == {OFFLINE_RUBRIC} else "the rubric they had"
            text += (
                f", {len(self.failures)} failed ({share})"
                if stopped
                else f", {len(self.failures)} failed ({share}; kept {kept})"
            )
        if self.not_asked:
            text += f", {self.not_asked} not asked"
        return text


class TooManyRubricFailures(BudgetExceeded):
    """More rubrics failed than `--max_rubric_failures` allows: a clean stop (exit 3); the rubrics written are in
    the cache, so the same command resumes."""


def check_failures(run: RubricRun, out_path: str, cache: str | None) -> None:
    """Raises `TooManyRubricFailures` when the run went past its failure limit; `out_path` is then not written."""
    if not run.past_limit:
        return
    written = run.written + run.from_cache
    resume = (
        f"the {written} rubrics written are saved in --cache {cache}; re-run the same command to resume"
        if cache and written
        else "re-run the same command"
    )
    raise TooManyRubricFailures(
        f"{run.summary(stopped=True)}: more than --max_rubric_failures {run.max_failures:g} of the samples failed, "
        f"so {out_path} was not written; {resume} once the teacher answers, or raise --max_rubric_failures to keep the "
        f"failed samples' rubric; first failure: {run.failures[0]}"
    )


class RubricStore:
    """Written rubrics by key, in a `rubrics` table of the verdict cache's SQLite file (its connection, WAL and
    busy timeout), so one `--cache` file serves judges and rubric writing, safe across processes."""

    def __init__(self, path: str | Path) -> None:
        from tracegym.judges.cache import VerdictCache

        self.cache = VerdictCache(path)
        connection = self.cache.connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(RUBRICS_TABLE)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        rows = self.cache.connection().execute(
            "SELECT key, rubric FROM rubrics WHERE key IN (SELECT value FROM json_each(?))", (json.dumps(list(keys)),)
        )
        return dict(rows)

    def put(self, key: str, writer: str, rubric: str) -> None:
        connection = self.cache.connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(
                "INSERT OR REPLACE INTO rubrics (key, writer, rubric, created_at) VALUES (?, ?, ?, ?)",
                (key, writer, rubric, time.time()),
            )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def count(self) -> int:
        return self.cache.connection().execute("SELECT count(*) FROM rubrics").fetchone()[0]

    def close(self) -> None:
        self.cache.close()


def teacher_from_settings(settings: Any) -> LLMJudge:
    """The LLM judge named by `settings.judge`, which must be able to write (gemini, openai, or a plugin that is
    an LLMJudge)."""
    from tracegym.judges import judge_class

    if not settings.judge or "+" in settings.judge:
        raise UserError(
            f"--teacher {settings.judge!r}: name one LLM judge that writes rubrics, such as gemini or openai"
        )
    teacher = judge_class(settings.judge).from_settings(settings)
    if not isinstance(teacher, LLMJudge):
        raise UserError(
            f"--teacher {settings.judge}: this judge cannot write text; use an LLM judge such as gemini or openai"
        )
    return teacher


def write_rubrics(samples: Sequence[Sample], settings: Any, progress: bool = True) -> list[Sample]:
    """`samples` with teacher-written rubrics (cached in `settings.cache` when set). Samples whose rubric could not
    be written keep the one they had, and say so in `rubric_writer`."""
    return run_rubric_writer(samples, settings, progress=progress).samples


def run_rubric_writer(
    samples: Sequence[Sample],
    settings: Any,
    progress: bool = True,
    max_failures: float = 1.0,
    teacher: LLMJudge | None = None,
) -> RubricRun:
    """One run of the teacher over `samples` (`teacher`, when given, is the one built from `settings`)."""
    writer = RubricWriter(
        teacher or teacher_from_settings(settings), RubricStore(settings.cache) if settings.cache else None
    )
    from tqdm import tqdm

    # disable=None: no bar when stderr is not a terminal, so the summary and errors are the only lines there.
    with tqdm(total=len(samples), desc="writing rubrics", unit="sample", disable=None if progress else True) as bar:
        try:
            return asyncio.run(writer.write(samples, on_done=lambda: bar.update(1), max_failures=max_failures))
        finally:
            if writer.store:
                writer.store.close()
