"""The judge interface (DESIGN.md §5): `Judge.score(samples, responses) -> list[Verdict]`, batch-first and async."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tracegym.samples import Sample


@dataclass(frozen=True)
class Usage:
    """What one verdict cost: tokens, dollars, calls made, and whether it came from the cache."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    cache_hit: bool = False

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
            calls=self.calls + other.calls,
            cache_hit=self.cache_hit and other.cache_hit,
        )


@dataclass(frozen=True)
class Verdict:
    """A judge's verdict on one reply. `score is None` means the judge failed: never train on it as 0."""

    score: float | None
    reasoning: str = ""
    criteria: Mapping[str, float] = field(default_factory=dict)
    parts: Mapping[str, float] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    error: str | None = None

    def __post_init__(self) -> None:
        if self.score is not None and not 0.0 <= self.score <= 1.0:
            raise ValueError(f"Verdict.score must be in [0, 1] or None, got {self.score}")

    @classmethod
    def failure(cls, error: str, usage: Usage | None = None) -> Verdict:
        return cls(score=None, error=error, usage=usage or Usage())

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "reasoning": self.reasoning,
            "criteria": dict(self.criteria),
            "parts": dict(self.parts),
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, row: Mapping[str, Any], usage: Usage | None = None) -> Verdict:
        return cls(
            score=row.get("score"),
            reasoning=row.get("reasoning", ""),
            criteria=dict(row.get("criteria") or {}),
            parts=dict(row.get("parts") or {}),
            usage=usage or Usage(),
            error=row.get("error"),
        )


@runtime_checkable
class Judge(Protocol):
    """Anything with a registry `name`, a `fingerprint` and an async batch `score` is a judge."""

    name: str
    fingerprint: str

    async def score(self, samples: Sequence[Sample], responses: Sequence[str]) -> list[Verdict]: ...


def score_sync(judge: Judge, samples: Sequence[Sample], responses: Sequence[str]) -> list[Verdict]:
    """Run `judge.score` to completion from synchronous code (scripts, tests)."""
    return asyncio.run(judge.score(samples, responses))


def verdicts_one_by_one(
    verdict: Callable[[Sample, str], Verdict], samples: Sequence[Sample], responses: Sequence[str]
) -> list[Verdict]:
    """`score` for a judge that needs no network: `verdict` on each (sample, reply) pair in order."""
    if len(samples) != len(responses):
        raise ValueError(f"{len(samples)} samples but {len(responses)} responses; give one reply per sample")
    return [verdict(sample, response) for sample, response in zip(samples, responses)]


def fingerprint_of(backend: str, **settings: Any) -> str:
    """A short, stable digest of everything that changes a judge's verdicts, tagged with the backend name."""
    canonical = json.dumps({"backend": backend, **settings}, sort_keys=True, separators=(",", ":"), default=str)
    return f"{backend}:{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"


def source_digest(paths: Iterable[Path]) -> str:
    """A short sha256 of the files' names and bytes, in the order given. A judge whose rules are code puts it in its
    fingerprint, so an edit to a rule changes the key its verdicts are cached under even when no version was bumped."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
