"""Shared test fixtures.

A canary API key is in the environment for the whole suite; tests/test_zz_canary.py scans everything the suite
wrote for it. No test may reach a real API: the real SDKs talk only to local servers started by the tests.
"""

from __future__ import annotations

import os

import pytest

CANARY_KEY = "AIzaCANARY-tracegym-test-key-0000000000000"
os.environ["GEMINI_API_KEY"] = CANARY_KEY
os.environ["GOOGLE_API_KEY"] = CANARY_KEY
os.environ["OPENAI_API_KEY"] = "sk-CANARY-tracegym-test-key-00000000000000"
os.environ.pop("OPENAI_BASE_URL", None)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def suite_output_root(tmp_path_factory):
    """A folder every test that writes files should write under, so the canary scan sees it all."""
    return tmp_path_factory.getbasetemp()
