"""Keys never reach a log: a `logging.Filter` that redacts key-shaped strings and the known key values.

    >>> from tracegym.logging_utils import install_redaction
    >>> install_redaction()          # once, after logging is configured (tracegym.cli.main does it)

The filter goes on tracegym's logger and on every handler that exists at that moment on tracegym's logger, the
root logger and Python's last-resort handler: a filter on a logger sees only records logged on that very logger,
while a filter on a handler sees everything that reaches the handler, including records of child loggers
(`tracegym.judges.gemini`) and of libraries such as httpx, which logs request URLs. A handler added later needs
`handler.addFilter(RedactingFilter())`.
"""

from __future__ import annotations

import logging
import re

from tracegym.settings import redact

# Key shapes: Google API keys (AIza + 35), OpenAI keys (sk-…, sk-proj-…), Hugging Face tokens (hf_…).
KEY_PATTERN = re.compile(r"AIza[0-9A-Za-z_\-]{20,}|\bsk-[0-9A-Za-z_\-]{16,}|\bhf_[0-9A-Za-z]{20,}")
REDACTED = "***"


def redact_keys(text: str) -> str:
    """`text` with key-shaped strings and every known key value (environment, `.env`) replaced by `***`."""
    return KEY_PATTERN.sub(REDACTED, redact(text))


class RedactingFilter(logging.Filter):
    """Rewrites each record's message, exception text and stack text with keys redacted; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact_keys(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_keys(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_keys(record.stack_info)
        return True


def install_redaction(logger: logging.Logger | None = None) -> RedactingFilter:
    """Put one RedactingFilter on tracegym's logger and on the handlers that exist now (see the module doc).

    Idempotent: calling it twice adds nothing the second time. Returns the filter.
    """
    logger = logger or logging.getLogger("tracegym")
    redaction = _installed_filter(logger) or RedactingFilter()
    handlers = [*logger.handlers, *logging.getLogger().handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for target in [logger, *handlers]:
        if not any(isinstance(existing, RedactingFilter) for existing in target.filters):
            target.addFilter(redaction)
    return redaction


def _installed_filter(logger: logging.Logger) -> RedactingFilter | None:
    return next((f for f in logger.filters if isinstance(f, RedactingFilter)), None)
