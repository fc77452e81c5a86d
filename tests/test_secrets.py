"""Keys never reach a log or a repr: the redaction filter and the objects that hold keys.

The canary keys of tests/conftest.py are in the environment; tests/test_zz_canary.py checks the files.
"""

from __future__ import annotations

import io
import logging
import os

import pytest

from tracegym.logging_utils import RedactingFilter, install_redaction, redact_keys

GEMINI_CANARY = os.environ["GEMINI_API_KEY"]
OPENAI_CANARY = os.environ["OPENAI_API_KEY"]
UNKNOWN_KEYS = (
    "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW",  # Google key shape, not in the environment
    "sk-proj-Abc123Def456Ghi789Jkl012Mno345",  # OpenAI project key shape
    "sk-Abc123Def456Ghi789Jkl012",
    "hf_AbCdEfGhIjKlMnOpQrStUvWxYz123456",
)


@pytest.fixture
def captured_root_handler():
    """A handler on the root logger writing to a string, removed afterwards."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield stream, handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


@pytest.mark.parametrize("key", [GEMINI_CANARY, OPENAI_CANARY, *UNKNOWN_KEYS])
def test_redact_keys_removes_known_values_and_key_shapes(key):
    text = f"POST https://generativelanguage.googleapis.com/v1beta/models/x:generateContent?key={key} (Bearer {key})"
    redacted = redact_keys(text)
    assert key not in redacted
    assert redacted.count("***") == 2
    assert redacted.startswith("POST https://generativelanguage.googleapis.com/")


def test_redact_keys_leaves_ordinary_text_alone():
    text = "task-force meeting at 11:30 am; ask-me-anything; the hf_ prefix; sk-short; AIza"
    assert redact_keys(text) == text


def test_filter_redacts_message_arguments_of_tracegym_child_loggers_and_libraries(captured_root_handler):
    stream, handler = captured_root_handler
    install_redaction()
    assert any(isinstance(f, RedactingFilter) for f in handler.filters)

    logging.getLogger("tracegym").warning("calling with key %s", GEMINI_CANARY)
    logging.getLogger("tracegym.judges.gemini").info("headers: %r", {"x-goog-api-key": GEMINI_CANARY})
    logging.getLogger("httpx").info("HTTP Request: POST http://127.0.0.1/v1?key=%s", UNKNOWN_KEYS[0])
    logging.getLogger("openai._base_client").debug("Authorization: Bearer %s", OPENAI_CANARY)

    output = stream.getvalue()
    assert output.count("***") == 4, output
    for key in (GEMINI_CANARY, OPENAI_CANARY, UNKNOWN_KEYS[0]):
        assert key not in output
    assert "calling with key ***" in output


def test_filter_redacts_exception_text(captured_root_handler):
    stream, _ = captured_root_handler
    install_redaction()
    try:
        raise RuntimeError(f"401 Unauthorized for key {OPENAI_CANARY}")
    except RuntimeError:
        logging.getLogger("tracegym.judges.openai").exception("judge call failed")
    output = stream.getvalue()
    assert "RuntimeError: 401 Unauthorized for key ***" in output
    assert OPENAI_CANARY not in output


def test_install_redaction_is_idempotent():
    logger = logging.getLogger("tracegym")
    first = install_redaction()
    second = install_redaction()
    assert first is second
    assert sum(isinstance(f, RedactingFilter) for f in logger.filters) == 1


def test_filter_keeps_every_record():
    record = logging.LogRecord("tracegym", logging.INFO, __file__, 1, "key=%s", (GEMINI_CANARY,), None)
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "key=***"


@pytest.mark.parametrize(
    "judge_spec, extra",
    [
        ("gemini", {}),
        ("openai", {}),
        ("gemini+openai+acts", {"judge_weights": "0.4,0.4,0.2", "max_judge_calls": 100}),
    ],
)
def test_judges_that_hold_keys_never_show_them(judge_spec, extra, tmp_path):
    from factories import FakeLLMServer, restaurant_sample
    from tracegym.judges import JudgeSettings, build_judge, score_sync

    sample = restaurant_sample()
    with FakeLLMServer() as server:
        # One URL serves both wire formats: Gemini's REST paths and OpenAI's /v1/chat/completions.
        settings = JudgeSettings(
            judge=judge_spec,
            base_url=server.openai_url if judge_spec == "openai" else server.url,
            judge_model="fake-judge",
            cache=str(tmp_path / "cache.sqlite"),
            **extra,
        )
        judge = build_judge(settings)
        if "+" not in judge_spec:
            [verdict] = score_sync(judge, [sample], ["Hello! What can I do for you?"])  # clients now exist
            assert verdict.score is not None, verdict.error
    shown = "\n".join([repr(judge), str(judge), repr(settings), *_reprs_of_our_objects(judge)])
    for key in (GEMINI_CANARY, OPENAI_CANARY):
        assert key not in shown
        assert key[:12] not in shown


def _reprs_of_our_objects(root, depth: int = 0) -> list[str]:
    """repr of every tracegym object reachable through attributes (SDK clients are the SDKs' business)."""
    if depth > 4 or not type(root).__module__.startswith("tracegym"):
        return []
    found = [repr(root)]
    for value in vars(root).values() if hasattr(root, "__dict__") else []:
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            found.extend(_reprs_of_our_objects(item, depth + 1))
    return found
