"""Retries for remote judges: exponential backoff with jitter on 408/429/5xx and timeouts, honouring the server's
Retry-After (OpenAI-style header) or RetryInfo `retryDelay` (Gemini error details), within a bounded total wait.

Any other 4xx is the caller's mistake and is never retried. The SDKs' own retries are switched off (openai
`max_retries=0`; google-genai retries nothing without `retry_options`), so only these run.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tracegym.judges.config import JudgeSettings

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry one request."""

    max_retries: int = JudgeSettings.max_retries  # retries after the first attempt
    base_delay: float = 0.5  # seconds before the first retry, doubled each time
    max_delay: float = 30.0  # one wait never exceeds this
    max_total_wait: float = 90.0  # give up rather than wait longer than this in all

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry number `attempt` (0-based): capped exponential, half of it jittered."""
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return ceiling * (0.5 + 0.5 * rng.random())


@dataclass(frozen=True)
class FailureKind:
    """What a raised exception means for retrying."""

    retryable: bool
    retry_after: float | None = None  # seconds the server asked us to wait
    status: int | None = None


def classify(exc: BaseException) -> FailureKind:
    """Whether `exc` (from google-genai, openai, httpx2 or asyncio) is worth retrying, and any wait asked for."""
    status = _status_of(exc)
    if status is not None:
        return FailureKind(status in RETRYABLE_STATUS, _retry_after_of(exc), status)
    return FailureKind(_is_transient_transport_error(exc))


async def call_with_retries(
    make_call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> T:
    """`await make_call()`, retried per `policy`; the last exception propagates when retrying stops."""
    rng = rng or random.Random()
    waited = 0.0
    attempt = 0
    while True:
        try:
            return await make_call()
        except Exception as exc:
            kind = classify(exc)
            if not kind.retryable or attempt >= policy.max_retries:
                raise
            delay = kind.retry_after if kind.retry_after is not None else policy.backoff(attempt, rng)
            if waited + delay > policy.max_total_wait:
                raise
            started = time.monotonic()
            await sleep(delay)
            waited += max(delay, time.monotonic() - started)
            attempt += 1


def _status_of(exc: BaseException) -> int | None:
    try:
        from google.genai import errors as genai_errors

        if isinstance(exc, genai_errors.APIError):
            return int(exc.code) if exc.code is not None else None
    except ImportError:
        pass
    try:
        import openai

        if isinstance(exc, openai.APIStatusError):
            return int(exc.status_code)
    except ImportError:
        pass
    return None


def _is_transient_transport_error(exc: BaseException) -> bool:
    """Timeouts and dropped or refused connections: the request may succeed if sent again."""
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, ConnectionError)):
        return True
    try:
        import openai

        if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
            return True
    except ImportError:
        pass
    for module_name in ("httpx2", "httpx"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        if isinstance(exc, (module.TimeoutException, module.NetworkError, module.RemoteProtocolError)):
            return True
    return False


def _retry_after_of(exc: BaseException) -> float | None:
    """The wait the server asked for: Gemini RetryInfo `retryDelay` ("1.5s"), else a Retry-After header."""
    details = getattr(exc, "details", None)
    error = details.get("error") if isinstance(details, dict) else None
    for detail in (error or {}).get("details") or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            seconds = _duration_seconds(detail.get("retryDelay"))
            if seconds is not None:
                return seconds
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    if headers.get("retry-after-ms"):
        try:
            return float(headers["retry-after-ms"]) / 1000.0
        except ValueError:
            pass
    return _retry_after_header_seconds(headers.get("retry-after"))


def _duration_seconds(text: Any) -> float | None:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", str(text or ""))
    return float(match.group(1)) if match else None


def _retry_after_header_seconds(value: str | None) -> float | None:
    """Retry-After is either seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
