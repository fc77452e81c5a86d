"""What judging costs: a per-model price table, a token and cost ledger, and caps that stop a run cleanly.

    >>> cost_usd("gemini-2.5-flash", input_tokens=1200, output_tokens=150)   # backends price their usage
    >>> judge = Budgeted(judge, max_calls=1000, max_cost_usd=2.0)              # raises BudgetStop (exit 3)

Prices are USD per million tokens. Override or extend them with a JSON or YAML file, given as an argument or in
the `TRACEGYM_PRICES` environment variable:

    {"gemini-2.5-flash": {"input": 0.30, "output": 2.50}, "my-vllm-model": {"input": 0, "output": 0}}
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from tracegym.errors import BudgetExceeded, UserError
from tracegym.judges.base import Judge, Verdict
from tracegym.judges.guard import is_guarded
from tracegym.samples import Sample

PRICES_ENV = "TRACEGYM_PRICES"


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens."""

    input: float
    output: float


# List prices of the paid APIs (standard tier, prompts under 200k tokens), as published in 2025.
DEFAULT_PRICES: Mapping[str, Price] = MappingProxyType(
    {
        "gemini-2.5-flash": Price(input=0.30, output=2.50),
        "gemini-2.5-pro": Price(input=1.25, output=10.00),
        "gemini-2.0-flash": Price(input=0.10, output=0.40),
        "gpt-4o": Price(input=2.50, output=10.00),
        "gpt-4o-mini": Price(input=0.15, output=0.60),
        "gpt-4.1-mini": Price(input=0.40, output=1.60),
        "local": Price(input=0.0, output=0.0),
    }
)


def price_table(path: str | os.PathLike | None = None) -> Mapping[str, Price]:
    """The default prices, overridden by the file at `path` (or `$TRACEGYM_PRICES`) when there is one."""
    path = path or os.environ.get(PRICES_ENV)
    if not path:
        return DEFAULT_PRICES
    path = Path(path)
    if not path.is_file():
        raise UserError(f"price file {path} (from {PRICES_ENV} or the prices argument): no such file; check the path")
    return _prices_with_overrides(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _prices_with_overrides(path: str, mtime_ns: int) -> Mapping[str, Price]:
    # Keyed by modification time so a backend pricing every reply reads the file once, yet sees an edit.
    return MappingProxyType({**DEFAULT_PRICES, **_read_price_file(Path(path))})


def _read_price_file(path: Path) -> dict[str, Price]:
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except (ValueError, ImportError) as exc:
        raise UserError(f"price file {path}: cannot parse it ({_first_line(exc)}); write JSON or YAML") from None
    example = 'e.g. {"gpt-4o": {"input": 2.5, "output": 10}}'
    if not isinstance(data, dict):
        raise UserError(f"price file {path}: expected a mapping of model name to prices, {example}")
    prices = {}
    for model, entry in data.items():
        try:
            price = Price(input=float(entry["input"]), output=float(entry["output"]))
        except (TypeError, KeyError, ValueError):
            raise UserError(
                f"price file {path}: model {model!r} needs numeric `input` and `output` (USD per 1M tokens), {example}"
            ) from None
        if price.input < 0 or price.output < 0:
            raise UserError(f"price file {path}: model {model!r} has a negative price; prices must be 0 or more")
        prices[str(model)] = price
    return prices


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def price_of(model: str, prices: Mapping[str, Price] | str | os.PathLike | None = None) -> Price | None:
    """The price of `model`: exact name, else the longest listed name it extends (`gpt-4o-mini-2024-07-18` →
    `gpt-4o-mini`); None when the table does not know it."""
    table = prices if isinstance(prices, Mapping) else price_table(prices)
    name = model.removeprefix("models/")
    if name in table:
        return table[name]
    extended = [known for known in table if name.startswith(known + "-")]
    return table[max(extended, key=len)] if extended else None


def cost_usd(
    model: str,
    input_tokens: int,
    output_tokens: int,
    prices: Mapping[str, Price] | str | os.PathLike | None = None,
) -> float:
    """What `input_tokens` in and `output_tokens` out cost on `model`, in USD; 0 for a model not in the table
    (a local or self-hosted server)."""
    price = price_of(model, prices)
    if price is None:
        return 0.0
    return (input_tokens * price.input + output_tokens * price.output) / 1_000_000


@dataclass
class Ledger:
    """Running totals of what a judge spent, summed from its verdicts' `Usage`."""

    replies: int = 0
    failures: int = 0
    guarded: int = 0  # scored 0 by the guard (judges/guard.py) without a call
    cache_hits: int = 0
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, verdicts: Iterable[Verdict]) -> None:
        for verdict in verdicts:
            usage = verdict.usage
            self.replies += 1
            self.failures += verdict.score is None
            self.guarded += is_guarded(verdict)
            self.cache_hits += usage.cache_hit
            self.calls += usage.calls
            self.input_tokens += usage.input_tokens
            self.output_tokens += usage.output_tokens
            self.cost_usd += usage.cost_usd


class BudgetStop(BudgetExceeded):
    """A cap stopped the judge; `verdicts` are those it paid for first, in order, for the first replies."""

    def __init__(self, message: str, verdicts: Sequence[Verdict] = ()) -> None:
        super().__init__(message)
        self.verdicts = list(verdicts)


def calls_charged(verdicts: Sequence[Verdict]) -> int:
    """Calls a batch counts against `--max_judge_calls`: the requests it made, or, for a judge that makes none
    (acts, a local model), one per reply it scored."""
    requests = sum(verdict.usage.calls for verdict in verdicts)
    return requests if requests > 0 else len(verdicts)


class Budgeted:
    """A judge under caps on calls and cost: it scores replies only while the caps allow, then raises BudgetStop.

    Before each chunk it estimates calls and cost per reply from what was spent so far and sends only the
    replies that fit; with a cost cap the very first chunk is one reply, to learn the price. Retries inside the
    last chunk can pass the call cap by a few calls; nothing is sent after that.
    """

    def __init__(self, judge: Judge, max_calls: int | None = None, max_cost_usd: float | None = None) -> None:
        if max_calls is not None and max_calls <= 0:
            raise UserError(f"--max_judge_calls {max_calls}: must be a positive integer")
        if max_cost_usd is not None and not max_cost_usd > 0:
            raise UserError(f"--max_judge_cost_usd {max_cost_usd}: must be a positive number")
        self.judge = judge
        self.name = judge.name
        self.fingerprint = judge.fingerprint
        self.max_calls = max_calls
        self.max_cost_usd = max_cost_usd
        self.spent = Ledger()
        self.charged_calls = 0
        self._reserved_calls = 0.0
        self._reserved_cost = 0.0

    def __repr__(self) -> str:
        return f"Budgeted({self.judge!r}, max_calls={self.max_calls}, max_cost_usd={self.max_cost_usd})"

    async def score(self, samples: Sequence[Sample], responses: Sequence[str]) -> list[Verdict]:
        verdicts: list[Verdict] = []
        while len(verdicts) < len(samples):
            start = len(verdicts)
            count = self._replies_that_fit(len(samples) - start)
            if count == 0:
                raise BudgetStop(self.stop_message(), verdicts)
            verdicts.extend(
                await self._score_within_budget(samples[start : start + count], responses[start : start + count])
            )
        return verdicts

    async def _score_within_budget(self, samples: Sequence[Sample], responses: Sequence[str]) -> list[Verdict]:
        reserved_calls = len(samples) * self._calls_per_reply()
        reserved_cost = len(samples) * self._cost_per_reply()
        self._reserved_calls += reserved_calls
        self._reserved_cost += reserved_cost
        try:
            chunk = await self.judge.score(samples, responses)
        finally:
            self._reserved_calls -= reserved_calls
            self._reserved_cost -= reserved_cost
        self.spent.add(chunk)
        self.charged_calls += calls_charged(chunk)
        return chunk

    def _replies_that_fit(self, wanted: int) -> int:
        count = wanted
        if self.max_calls is not None:
            left = self.max_calls - self.charged_calls - self._reserved_calls
            count = min(count, _whole_replies(left, self._calls_per_reply()))
        if self.max_cost_usd is not None:
            left = self.max_cost_usd - self.spent.cost_usd - self._reserved_cost
            if left <= 0:
                return 0
            if self.spent.replies == 0:
                count = min(count, 1)
            elif self._cost_per_reply() > 0:
                count = min(count, _whole_replies(left, self._cost_per_reply()))
        return max(count, 0)

    def _calls_per_reply(self) -> float:
        return self.charged_calls / self.spent.replies if self.spent.replies else 1.0

    def _cost_per_reply(self) -> float:
        return self.spent.cost_usd / self.spent.replies if self.spent.replies else 0.0

    def stop_message(self) -> str:
        if self.max_calls is not None and self.charged_calls + self._calls_per_reply() > self.max_calls:
            return f"judge budget reached: {self.charged_calls} of --max_judge_calls {self.max_calls} calls used"
        return (
            f"judge budget reached: ${self.spent.cost_usd:.4f} of --max_judge_cost_usd ${self.max_cost_usd:.4f} spent"
        )


def _whole_replies(budget_left: float, per_reply: float) -> int:
    if budget_left <= 0:
        return 0
    # A tiny tolerance so that 3 calls left at exactly 1.0 per reply fit 3 replies, not 2.
    return math.floor(budget_left / per_reply + 1e-9) if per_reply > 0 else 2**31
