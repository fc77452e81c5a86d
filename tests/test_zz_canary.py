"""The last tests of the suite (collected last by name): no file the suite wrote holds the canary API key.

tests/conftest.py puts canary keys in the environment for the whole suite, so every judge, cache, run dir,
report, log and model card the tests make was made with a "key" at hand. This module scans all of it: pytest's
basetemp tree for this session (every test writes under `suite_output_root` or `tmp_path`), plus any `runs/`
or `bench/out/` folder in the repository. Files named `.env` are skipped: they are where keys belong.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cli_helpers import REPO_ROOT, run_cli

CANARY_CORE = "CANARY-tracegym-test-key"
SKIPPED_NAMES = frozenset({".env"})
SKIPPED_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", ".pytest_cache"})
CHUNK_BYTES = 1 << 20


@dataclass
class CanaryScan:
    scanned: int = 0
    bytes_scanned: int = 0
    leaks: list[tuple[Path, str]] = field(default_factory=list)


def canary_needles() -> list[str]:
    """The canary key values in the environment, and their distinctive core (catches a half-masked key)."""
    values = {value for value in os.environ.values() if CANARY_CORE in value}
    return sorted(values | {CANARY_CORE}, key=len, reverse=True)


def files_under(root: Path) -> Iterable[Path]:
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if name not in SKIPPED_DIRS]
        for name in names:
            path = Path(directory) / name
            if name not in SKIPPED_NAMES and path.is_file() and not path.is_symlink():
                yield path


def needle_in_file(path: Path, needles: list[bytes]) -> bytes | None:
    """The first needle found in the file's bytes (text or binary: SQLite, TensorBoard, safetensors), or None."""
    overlap = max(len(needle) for needle in needles) - 1
    tail = b""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            window = tail + chunk
            for needle in needles:
                if needle in window:
                    return needle
            tail = window[-overlap:]
    return None


def scan_for_canary(roots: Iterable[Path], needles: list[str]) -> CanaryScan:
    encoded = [needle.encode() for needle in needles]
    scan = CanaryScan()
    for root in roots:
        if not root.is_dir():
            continue
        for path in files_under(root):
            scan.scanned += 1
            scan.bytes_scanned += path.stat().st_size
            found = needle_in_file(path, encoded)
            if found is not None:
                scan.leaks.append((path, found.decode()))
    return scan


def repository_output_roots() -> list[Path]:
    """`runs/` folders anywhere in the repository and `bench/out/`."""
    roots = [REPO_ROOT / "bench" / "out"]
    for directory, subdirectories, _ in os.walk(REPO_ROOT):
        subdirectories[:] = [name for name in subdirectories if name not in SKIPPED_DIRS]
        if Path(directory).name == "runs":
            roots.append(Path(directory))
            subdirectories[:] = []
    return roots


def test_scanner_finds_a_planted_canary_in_text_and_sqlite():
    # Planted outside pytest's basetemp, so the final scan does not see it.
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


def test_scanner_finds_a_canary_split_across_read_chunks(tmp_path_factory):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.bin"
        key = os.environ["GEMINI_API_KEY"].encode()
        path.write_bytes(b"\0" * (CHUNK_BYTES - 5) + key + b"\0" * 10)
        assert needle_in_file(path, [key]) == key


def test_a_real_command_run_with_the_canary_in_env_writes_files_to_scan(suite_output_root):
    # Makes the final scan meaningful even when this module runs alone: a report and an SQLite cache written by
    # a real command, with canary keys in its environment.
    folder = suite_output_root / "canary_probe"
    result = run_cli(
        "audit", "--judge", "acts", "--cache", folder / "cache.sqlite", "--out_path", folder / "audit.json"
    )
    assert result.returncode == 0, result.stderr
    assert (folder / "audit.json").is_file() and (folder / "cache.sqlite").is_file()


def test_no_file_the_suite_wrote_holds_the_canary(suite_output_root):
    roots = [Path(suite_output_root), *repository_output_roots()]
    scan = scan_for_canary(roots, canary_needles())
    print(f"canary scan: {scan.scanned} files, {scan.bytes_scanned} bytes under {[str(r) for r in roots]}")
    assert scan.scanned > 0, f"nothing to scan under {roots}: the scan would prove nothing"
    assert not scan.leaks, "canary API key found in files the suite wrote:\n" + "\n".join(
        f"  {path} ({needle})" for path, needle in scan.leaks
    )
