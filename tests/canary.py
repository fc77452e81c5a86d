"""The canary scan: does any file the suite wrote hold the canary API key?

tests/conftest.py puts canary keys in the environment for the whole suite, so every judge, cache, run dir,
report, log and model card the tests make was made with a "key" at hand. `scan_for_canary` reads all of it: pytest's
basetemp tree for the session (every test writes under `suite_output_root` or `tmp_path`; under pytest-xdist the
workers' trees are inside the controller's), plus any `runs/` or `bench/out/` folder in the repository. Files named
`.env` are skipped: they are where keys belong. conftest.py runs the scan once, when the session finishes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

CANARY_CORE = "CANARY-tracegym-test-key"
SKIPPED_NAMES = frozenset({".env"})
SKIPPED_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", ".pytest_cache"})
CHUNK_BYTES = 1 << 20


@dataclass
class CanaryScan:
    roots: list[Path] = field(default_factory=list)
    scanned: int = 0
    bytes_scanned: int = 0
    leaks: list[tuple[Path, str]] = field(default_factory=list)

    def summary(self) -> str:
        return f"canary scan: {self.scanned} files, {self.bytes_scanned} bytes under {[str(r) for r in self.roots]}"

    def leak_report(self) -> str:
        lines = [f"  {path} ({needle})" for path, needle in self.leaks]
        return "canary API key found in files the suite wrote:\n" + "\n".join(lines)


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
    scan = CanaryScan(roots=list(roots))
    for root in scan.roots:
        if not root.is_dir():
            continue
        for path in files_under(root):
            try:
                size = path.stat().st_size
                found = needle_in_file(path, encoded)
            except FileNotFoundError:  # removed between the walk and the read (a lock or journal file)
                continue
            scan.scanned += 1
            scan.bytes_scanned += size
            if found is not None:
                scan.leaks.append((path, found.decode()))
    return scan


def repository_output_roots(repo_root: Path) -> list[Path]:
    """`runs/` folders anywhere in the repository and `bench/out/`."""
    roots = [repo_root / "bench" / "out"]
    for directory, subdirectories, _ in os.walk(repo_root):
        subdirectories[:] = [name for name in subdirectories if name not in SKIPPED_DIRS]
        if Path(directory).name == "runs":
            roots.append(Path(directory))
            subdirectories[:] = []
    return roots
