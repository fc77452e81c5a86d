"""What every LLM judge shares: the concurrency and rate limits, retries, one repair retry and group mode around
the messages of `llm_prompt.py` and the verdict parsing of `llm_verdict.py`. Backends (gemini.py, openai.py) add
only `complete(messages, schema) -> Completion`, one request to their API.

A verdict that cannot be parsed, or a score outside [0, 1], gets one repair request (the bad output sent back with
the error) and then becomes a failure (`score=None`), never a 0. Defaults (mode, concurrency, timeout, retries)
are the judge settings' (`judges/config.py`).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tracegym.errors import UserError
from tracegym.judges.base import Usage, Verdict, fingerprint_of
from tracegym.judges.config import JudgeSettings
from tracegym.judges.guard import GUARD_VERSION, screen
from tracegym.judges.llm_prompt import (  # noqa: F401  (re-exported: the backends and tests import them from here)
    PROMPTS_DIR,
    Message,
    context_text,
    fenced,
    load_prompt,
    new_boundary,
    read_custom_template,
    template_fields,
)
from tracegym.judges.llm_verdict import (  # noqa: F401  (re-exported)
    GROUP_SCHEMA,
    VERDICT_SCHEMA,
    VerdictParseError,
    parse_group_scores,
    parse_json_object,
    parse_verdict,
    repair_message,
)
from tracegym.judges.retry import RetryPolicy, call_with_retries, classify
from tracegym.samples import Sample
from tracegym.settings import redact

T = TypeVar("T")


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
    mode: str = (
        JudgeSettings.judge_mode
    )  # single: one call per reply; group: one call per prompt, all its replies together
    criteria: str | None = None
    judge_prompt: str | None = None  # path of a custom user template
    concurrency: int = JudgeSettings.concurrency
    rpm: int | None = None
    timeout: float = JudgeSettings.timeout
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
