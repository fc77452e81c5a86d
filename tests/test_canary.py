"""The canary scanner itself, and a real command run with the canary keys in its environment.

The scan of everything the suite wrote runs once, when the session finishes (tests/conftest.py,
`pytest_sessionfinish`); the scanner is in tests/canary.py.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

import pytest

from canary import CANARY_CORE, CHUNK_BYTES, canary_needles, needle_in_file, scan_for_canary
from cli_helpers import run_cli


def test_scanner_finds_a_planted_canary_in_text_and_sqlite():
    # Planted outside pytest's basetemp, so the session's scan does not see it.
    needles = canary_needles()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "clean.txt").write_text("nothing to see\n")
        nested = root / "run" / "logs"
        nested.mkdir(parents=True)
        (nested / "log.jsonl").write_text(
            '{"step": 1, "header": "x-goog-api-key: ' + os.environ["GEMINI_API_KEY"] + '"}\n'
        )
        with sqlite3.connect(root / "cache.sqlite") as db:
            db.execute("CREATE TABLE verdicts (key TEXT, value TEXT)")
            db.execute("INSERT INTO verdicts VALUES (?, ?)", ("k", "Bearer " + os.environ["OPENAI_API_KEY"]))
        (root / "half_masked.txt").write_text("key=" + os.environ["GEMINI_API_KEY"][:4] + "…" + CANARY_CORE + "…")
        (root / ".env").write_text("GEMINI_API_KEY=" + os.environ["GEMINI_API_KEY"] + "\n")

        scan = scan_for_canary([root], needles)

    leaked = sorted(path.name for path, _ in scan.leaks)
    assert leaked == ["cache.sqlite", "half_masked.txt", "log.jsonl"], scan.leaks
    assert scan.scanned == 4  # .env is skipped by design


def test_scanner_finds_a_canary_split_across_read_chunks():
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.bin"
        key = os.environ["GEMINI_API_KEY"].encode()
        path.write_bytes(b"\0" * (CHUNK_BYTES - 5) + key + b"\0" * 10)
        assert needle_in_file(path, [key]) == key


def test_a_real_command_run_with_the_canary_in_env_writes_files_to_scan(suite_output_root):
    # Gives the session's scan something to read even when this module runs alone: a report and an SQLite cache
    # written by a real command, with canary keys in its environment.
    folder = suite_output_root / "canary_probe"
    result = run_cli(
        "audit", "--judge", "acts", "--cache", folder / "cache.sqlite", "--out_path", folder / "audit.json"
    )
    assert result.returncode == 0, result.stderr
    assert (folder / "audit.json").is_file() and (folder / "cache.sqlite").is_file()


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_session_whose_test_writes_the_key_fails_at_the_end_and_names_the_file(suite_pytester, workers):
    if workers:
        pytest.importorskip("xdist")
    suite_pytester.makepyfile(
        test_leaky="""
        import os

        def test_writes_the_key_into_a_log(tmp_path):
            (tmp_path / "leaky.log").write_text("Authorization: Bearer " + os.environ["OPENAI_API_KEY"])
        """
    )
    result = suite_pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", *workers)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*canary scan failed*", "*canary API key found*", "*leaky.log (*"])
