"""What every LLM judge shares: the judge messages, the spotlighted candidate, strict verdict parsing with one
repair retry, the concurrency and rate limits, retries, and group mode. Backends (gemini.py, openai.py) add only
`complete(messages, schema) -> Completion`, one request to their API.

Messages are built from versioned prompt files in `prompts/` (`judge_v1.txt`, `group_v1.txt`): a `### system`
part, fixed, that holds the rules and the output format, and a `### user` part, a template with named fields
({task}, {context}, {reference}, {rubric}, {criteria}, {candidate}) that `--judge_prompt FILE` may replace.

The candidate is untrusted: it is fenced between `<<<CANDIDATE id TOKEN>>>` and `<<<END id TOKEN>>>` with a random
TOKEN drawn per call, and `<<<` / `>>>` inside it are defused, so it cannot close its own fence.

A verdict is JSON `{reasoning, criteria: [{item, verdict}], score}` (group mode: `{reasoning, scores: [{id,
score}]}`); anything else, or a score outside [0, 1], gets one repair request (the bad output sent back with the
error) and then becomes a failure (`score=None`), never a 0.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import re
import secrets
import string
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from tracegym.errors import UserError
from tracegym.judges.base import Usage, Verdict, fingerprint_of
from tracegym.judges.guard import GUARD_VERSION, screen
from tracegym.judges.retry import RetryPolicy, call_with_retries, classify
from tracegym.samples import Sample
from tracegym.settings import redact

PROMPTS_DIR = Path(__file__).parent / "prompts"
TEMPLATE_FIELDS = ("task", "context", "reference", "rubric", "criteria", "candidate")
CRITERION_VALUES = {"met": 1.0, "partly": 0.5, "not_met": 0.0}
NO_RUBRIC = "(no rubric: judge against the reference reply)"
MAX_CONTEXT_CHARS = 6000

Message = dict[str, str]
T = TypeVar("T")

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


# ---------------------------------------------------------------------------------------------------- prompts


@dataclass(frozen=True)
class PromptFile:
    """A versioned prompt: `name` is the file stem (`judge_v1`), the version the fingerprint carries."""

    name: str
    system: str
    user: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.system}\0{self.user}".encode()).hexdigest()[:16]


def load_prompt(name: str) -> PromptFile:
    """The prompt `prompts/<name>.txt`, split into its `### system` and `### user` parts."""
    text = (PROMPTS_DIR / f"{name}.txt").read_text(encoding="utf-8")
    match = re.fullmatch(r"### system\n(.*?)\n### user\n(.*)", text, re.S)
    if not match:
        raise ValueError(f"prompt file {name}.txt needs a '### system' and a '### user' part")
    return PromptFile(name=name, system=match.group(1).strip(), user=match.group(2).strip())


def read_custom_template(path: str | Path) -> str:
    """The user template of `--judge_prompt FILE`, checked: only the known named fields, braces balanced."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--judge_prompt {path}: no such file; give a text file with fields like {{candidate}}")
    text = path.read_text(encoding="utf-8")
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise UserError(f"--judge_prompt {path}: {exc}; write {{{{ and }}}} for literal braces") from None
    for name in names:
        if name not in TEMPLATE_FIELDS:
            raise UserError(
                f"--judge_prompt {path}: unknown field {{{name}}}; the fields are "
                f"{', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)} (write {{{{ and }}}} for literal braces)"
            )
    if "candidate" not in names:
        raise UserError(
            f"--judge_prompt {path}: the template has no {{candidate}} field, so the judge would never see the reply"
        )
    return text


def new_boundary() -> str:
    """A random token that fences candidates in one call; the candidate cannot have seen it."""
    return secrets.token_hex(8)


def defuse(text: str) -> str:
    """`text` with the fence markers `<<<` and `>>>` made inert, so a candidate cannot open or close a fence."""
    return text.replace("<<<", "‹‹‹").replace(">>>", "›››")


def fenced(candidate_id: str, text: str, boundary: str) -> str:
    body = defuse(text).replace(boundary, "[token]")
    return f"<<<CANDIDATE {candidate_id} {boundary}>>>\n{body}\n<<<END {candidate_id} {boundary}>>>"


def rubric_text(sample: Sample, criteria: str | None) -> str:
    """The sample's rubric with the user's extra criteria appended, or a note to judge by the reference."""
    lines = [sample.rubric.strip()] if sample.rubric and sample.rubric.strip() else []
    lines += [f"- {line.strip().lstrip('- ')}" for line in (criteria or "").splitlines() if line.strip()]
    return "\n".join(lines) or NO_RUBRIC


def context_text(sample: Sample) -> str:
    """The dialogue so far, the oldest part cut first when it is very long."""
    context = sample.prompt or "\n".join(
        f"{m['role']}: {m['content']}" for m in sample.messages if m.get("role") != "system"
    )
    if len(context) > MAX_CONTEXT_CHARS:
        context = "…" + context[-MAX_CONTEXT_CHARS:]
    return context


def template_fields(sample: Sample, criteria: str | None, candidate_block: str) -> dict[str, str]:
    return {
        "task": sample.task_description or "(not stated)",
        "context": context_text(sample),
        "reference": sample.ground_truth,
        "rubric": rubric_text(sample, criteria),
        "criteria": (criteria or "").strip() or "(none)",
        "candidate": candidate_block,
    }


# ---------------------------------------------------------------------------------------------------- parsing


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


def repair_message(error: str) -> Message:
    return {
        "role": "user",
        "content": f"Your answer could not be used: {error}. Answer again with only the JSON object in the "
        "required format, every score a number from 0 to 1.",
    }


# ---------------------------------------------------------------------------------------------------- limits


class LoopLocal(Generic[T]):
    """One object per running event loop: SDK clients and semaphores must not cross `asyncio.run` calls.

    `close`, when given, is awaited while the object's loop shuts down (asyncio.run finalises async generators
    before it closes the loop), so an HTTP client never tries to close its sockets on a closed loop.
    """

    def __init__(self, factory: Callable[[], T], close: Callable[[T], Awaitable[Any]] | None = None) -> None:
        self._factory = factory
        self._close = close
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()
        self._closers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    async def get(self) -> T:
        loop = asyncio.get_running_loop()
        if loop not in self._by_loop:
            value = self._by_loop[loop] = self._factory()
            if self._close is not None:
                closer = _close_at_loop_shutdown(value, self._close)
                await closer.__anext__()  # started: the loop now finalises it at shutdown
                self._closers[loop] = closer
        return self._by_loop[loop]


async def _close_at_loop_shutdown(value: Any, close: Callable[[Any], Awaitable[Any]]) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await close(value)


class RateLimiter:
    """Spaces requests at least 60/rpm seconds apart."""

    def __init__(self, rpm: int) -> None:
        self.interval = 60.0 / rpm
        self._next_slot = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        slot = max(now, self._next_slot)
        self._next_slot = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


@dataclass
class RequestLimits:
    in_flight: asyncio.Semaphore
    rate: RateLimiter | None


# ---------------------------------------------------------------------------------------------------- the judge


@dataclass(frozen=True)
class Completion:
    """One model answer: its text and the tokens it cost."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class LLMJudgeConfig:
    """What an LLM judge needs beyond its API: model, mode, prompt, limits."""

    model: str
    mode: str = "single"  # single: one call per reply; group: one call per prompt, all its replies together
    criteria: str | None = None
    judge_prompt: str | None = None  # path of a custom user template
    concurrency: int = 8
    rpm: int | None = None
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    guard: bool = True  # the deterministic pre-screen (guard.py) in front of the model
    seed: int = 0  # the shuffle of group mode

    def __post_init__(self) -> None:
        if self.mode not in ("single", "group"):
            raise UserError(f"--judge_mode {self.mode!r}: choose single or group")

    @classmethod
    def from_settings(cls, settings: Any, model: str) -> LLMJudgeConfig:
        return cls(
            model=model,
            mode=settings.judge_mode,
            criteria=settings.criteria,
            judge_prompt=settings.judge_prompt,
            concurrency=settings.concurrency,
            rpm=settings.rpm,
            timeout=settings.timeout,
            retry=RetryPolicy(max_retries=settings.max_retries),
        )


class LLMJudge:
    """A judge that asks a chat model for a JSON verdict. Subclasses implement `complete` for their API."""

    name = "llm"

    def __init__(self, config: LLMJudgeConfig, **fingerprint_extra: Any) -> None:
        self.config = config
        self.single_prompt = load_prompt("judge_v1")
        self.group_prompt = load_prompt("group_v1")
        self.custom_user = read_custom_template(config.judge_prompt) if config.judge_prompt else None
        prompt = self.group_prompt if config.mode == "group" else self.single_prompt
        self.fingerprint = fingerprint_of(
            self.name,
            model=config.model,
            mode=config.mode,
            prompt=prompt.name,
            prompt_digest=prompt.digest,
            custom_prompt_digest=hashlib.sha256(self.custom_user.encode()).hexdigest()[:16]
            if self.custom_user
            else None,
            criteria=config.criteria,
            guard=GUARD_VERSION if config.guard else None,
            temperature=0.0,
            **fingerprint_extra,
        )
        self._limits = LoopLocal(
            lambda: RequestLimits(
                asyncio.Semaphore(config.concurrency), RateLimiter(config.rpm) if config.rpm else None
            )
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.config.model!r}, mode={self.config.mode!r}, fingerprint={self.fingerprint!r})"

    async def complete(self, messages: list[Message], schema: dict[str, Any]) -> Completion:
        """One request to the model; raise the SDK's exceptions (retry.py classifies them)."""
        raise NotImplementedError

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        try:
            from tracegym.judges.budget import cost_usd
        except ImportError:
            return 0.0
        return cost_usd(self.config.model, input_tokens, output_tokens)

    # -- scoring

    async def score(self, samples: Sequence[Sample], responses: Sequence[str]) -> list[Verdict]:
        if len(samples) != len(responses):
            raise ValueError(f"{len(samples)} samples but {len(responses)} responses")
        screened = screen(responses) if self.config.guard else [None] * len(responses)
        pending = [i for i, verdict in enumerate(screened) if verdict is None]
        if self.config.mode == "group":
            jobs = [self._score_group(samples, responses, indexes) for indexes in _groups_by_prompt(samples, pending)]
        else:
            jobs = [self._score_single(samples, responses, [i]) for i in pending]
        verdicts: list[Verdict | None] = list(screened)
        for result in await asyncio.gather(*jobs):
            for index, verdict in result.items():
                verdicts[index] = verdict
        return [v if v is not None else Verdict.failure("no verdict produced") for v in verdicts]

    async def _score_single(
        self, samples: Sequence[Sample], responses: Sequence[str], indexes: list[int]
    ) -> dict[int, Verdict]:
        index = indexes[0]
        messages = self.messages_for(samples[index], [("reply", responses[index])])
        parsed, usage, error = await self.ask(messages, VERDICT_SCHEMA, parse_verdict)
        if parsed is None:
            return {index: Verdict.failure(error or "unknown failure", usage)}
        return {index: Verdict(parsed.score, parsed.reasoning, parsed.criteria, usage=usage)}

    async def _score_group(
        self, samples: Sequence[Sample], responses: Sequence[str], indexes: list[int]
    ) -> dict[int, Verdict]:
        if len(indexes) == 1:
            return await self._score_single(samples, responses, indexes)
        shown = list(indexes)
        random.Random(f"{self.config.seed}:{samples[indexes[0]].id}:{len(indexes)}").shuffle(shown)
        ids = [f"r{position + 1}" for position in range(len(shown))]
        messages = self.messages_for(samples[indexes[0]], list(zip(ids, (responses[i] for i in shown))))
        parsed, usage, error = await self.ask(messages, GROUP_SCHEMA, lambda text: parse_group_scores(text, ids))
        shares = _split_usage(usage, len(shown))
        if parsed is None:
            return {index: Verdict.failure(error or "unknown failure", share) for index, share in zip(shown, shares)}
        scores, reasoning = parsed
        return {
            index: Verdict(scores[cid], f"{cid} of {len(ids)}: {reasoning}", usage=share)
            for index, cid, share in zip(shown, ids, shares)
        }

    def messages_for(self, sample: Sample, candidates: Sequence[tuple[str, str]]) -> list[Message]:
        """The system and user messages that ask for a verdict on `candidates` (id, text) for `sample`."""
        prompt = self.group_prompt if len(candidates) > 1 else self.single_prompt
        boundary = new_boundary()
        while any(boundary in text for _, text in candidates):
            boundary = new_boundary()
        block = "\n\n".join(fenced(cid, text, boundary) for cid, text in candidates)
        fields = template_fields(sample, self.config.criteria, block)
        user = (self.custom_user or prompt.user).format(**fields)
        return [
            {"role": "system", "content": prompt.system.format(boundary=boundary)},
            {"role": "user", "content": user},
        ]

    async def ask(
        self, messages: list[Message], schema: dict[str, Any], parse: Callable[[str], T]
    ) -> tuple[T | None, Usage, str | None]:
        """(parsed answer, usage, None), or (None, usage, error) after one repair request; never raises for the API."""
        usage = Usage()
        for attempt in range(2):
            try:
                completion = await call_with_retries(
                    lambda messages=messages: self._limited_complete(messages, schema), self.config.retry
                )
            except UserError:
                raise
            except Exception as exc:
                return None, usage, self._describe_failure(exc)
            usage = usage + Usage(
                input_tokens=completion.input_tokens,
                output_tokens=completion.output_tokens,
                cost_usd=self.cost_usd(completion.input_tokens, completion.output_tokens),
                calls=1,
            )
            try:
                return parse(completion.text), usage, None
            except VerdictParseError as exc:
                if attempt == 1:
                    return None, usage, f"unparseable verdict after one repair: {exc}"
                messages = [
                    *messages,
                    {"role": "assistant", "content": completion.text or ""},
                    repair_message(str(exc)),
                ]
        raise AssertionError("unreachable")

    async def _limited_complete(self, messages: list[Message], schema: dict[str, Any]) -> Completion:
        limits = await self._limits.get()
        async with limits.in_flight:
            if limits.rate:
                await limits.rate.wait()
            return await self.complete(messages, schema)

    def _describe_failure(self, exc: Exception) -> str:
        kind = classify(exc)
        if kind.status in (401, 403):
            raise UserError(
                f"the {self.name} judge API refused the key (HTTP {kind.status}); check the key you set "
                f"({self.key_hint})"
            ) from None
        return redact(f"{type(exc).__name__}: {exc}")[:500]

    key_hint = "the API key"


def _groups_by_prompt(samples: Sequence[Sample], indexes: Sequence[int]) -> list[list[int]]:
    """Indexes grouped by the prompt they answer, in first-seen order."""
    groups: dict[tuple[str, str], list[int]] = {}
    for index in indexes:
        groups.setdefault((samples[index].id, samples[index].prompt), []).append(index)
    return list(groups.values())


def _split_usage(usage: Usage, parts: int) -> list[Usage]:
    """One call's usage shared across the verdicts it produced; the call itself counted once."""
    shares = []
    for part in range(parts):
        shares.append(
            Usage(
                input_tokens=usage.input_tokens // parts + (usage.input_tokens % parts if part == 0 else 0),
                output_tokens=usage.output_tokens // parts + (usage.output_tokens % parts if part == 0 else 0),
                cost_usd=usage.cost_usd / parts,
                calls=usage.calls if part == 0 else 0,
            )
        )
    return shares
