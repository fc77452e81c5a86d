"""The verdict cache: SQLite (WAL) that wraps any judge, safe for several processes at once.

    >>> judge = Cached(judge, VerdictCache("verdicts.sqlite"))
    >>> verdicts = await judge.score(samples, responses)   # hits come back free; misses go to the judge

The key is a tagged sha256 of canonical JSON holding everything that changes a verdict: the judge's fingerprint
(backend, model, prompt version, criteria, settings), the prompt the student saw, the rubric, the reference and
the candidate reply. Only parsed verdicts (a score, not a failure) are stored, so a failure is retried next time.

Several processes (training ranks, parallel `tracegym judge` runs) may share one file: each process opens its own
connection (reopened after a fork), readers never block writers (WAL), writers wait for each other (busy_timeout)
inside short transactions, and a crashed writer leaves the file consistent (SQLite's journal).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tracegym.errors import UserError
from tracegym.judges.base import Judge, Usage, Verdict
from tracegym.samples import Sample

KEY_TAG = "sha256"
KEY_VERSION = 1
BUSY_TIMEOUT_MS = 60_000
# Built once: `json.dumps` with options builds a new encoder per call, a cost a cached re-run pays per reply.
_canonical_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode
_stored_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

# Named migrations, applied once each and in order (as simonw/llm does); never edit one that has shipped,
# append a new one instead.
MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "m001_verdicts",
        """
        CREATE TABLE verdicts (
            key TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            score REAL NOT NULL,
            reasoning TEXT NOT NULL,
            criteria TEXT NOT NULL,
            parts TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX verdicts_by_fingerprint ON verdicts (fingerprint);
        """,
    ),
)


@dataclass
class CacheStats:
    """Lookups this process made against the cache."""

    hits: int = 0
    misses: int = 0
    stored: int = 0


def verdict_key(fingerprint: str, sample: Sample, response: str) -> str:
    """The cache key of one reply: `sha256:<hex>` over everything that changes its verdict.

    The fields are framed as netstrings (`<length>:<text>`), so no two different inputs frame alike; the
    structured ones (the acts, a message with more than a role and a text) enter as canonical JSON. Long texts
    are not JSON-escaped: on real samples (a 2 KB system message, ten turns) that halves the cost of a key, and a
    cached re-run computes one key per reply.
    """
    fields = [
        f"v{KEY_VERSION}",
        fingerprint,
        sample.prompt,
        sample.task_description or "",
        _canonical_json([act.to_dict() for act in sample.acts]),
        sample.rubric or "",
        sample.ground_truth,
        response,
    ]
    for message in sample.messages:
        fields.extend(_message_fields(message))
    framed = "".join([f"{len(field)}:{field}" for field in fields])
    return f"{KEY_TAG}:{hashlib.sha256(framed.encode('utf-8', 'surrogatepass')).hexdigest()}"


def _message_fields(message: Mapping) -> tuple[str, ...]:
    role, content = message.get("role"), message.get("content")
    if len(message) == 2 and isinstance(role, str) and isinstance(content, str):
        return ("message", role, content)
    return ("message_json", _canonical_json(message))


class VerdictCache:
    """Parsed verdicts by key in one SQLite file; one connection per process, opened on first use."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.stats = CacheStats()
        self._connection_pid: int | None = None
        self._connection: sqlite3.Connection | None = None
        self._parents_connections: list[sqlite3.Connection] = []

    def __repr__(self) -> str:
        return f"VerdictCache({str(self.path)!r})"

    def __getstate__(self) -> dict:
        return {"path": self.path}  # a connection never crosses processes; the receiver opens its own

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"])

    def connection(self) -> sqlite3.Connection:
        """This process's connection; a forked child never reuses its parent's (SQLite forbids it)."""
        if self._connection is None or self._connection_pid != os.getpid():
            if self._connection is not None:
                # Closing an inherited connection in the child could disturb the parent's file locks: keep it
                # referenced, never used and never closed, for the child's lifetime.
                self._parents_connections.append(self._connection)
            self._connection = self._open()
            self._connection_pid = os.getpid()
        return self._connection

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we open every transaction ourselves, so each write stays short and explicit.
            connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _enable_wal(connection)
            connection.execute("PRAGMA synchronous = NORMAL")
            _migrate(connection)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise UserError(
                f"--cache {self.path}: not a usable verdict cache ({exc}); delete it or pass another path"
            ) from None
        return connection

    def close(self) -> None:
        if self._connection is not None and self._connection_pid == os.getpid():
            self._connection.close()
        self._connection = None
        self._connection_pid = None

    def get_many(self, keys: Sequence[str]) -> dict[str, Verdict]:
        """The stored verdicts among `keys`, in one query, marked as cache hits (no cost, no calls)."""
        if not keys:
            return {}
        rows = self.connection().execute(
            "SELECT key, score, reasoning, criteria, parts FROM verdicts WHERE key IN (SELECT value FROM json_each(?))",
            (json.dumps(keys),),
        )
        found = {
            key: Verdict(score, reasoning, JSONMapping(criteria), JSONMapping(parts), _HIT)
            for key, score, reasoning, criteria, parts in rows
        }
        hits = sum(1 for key in keys if key in found)
        self.stats.hits += hits
        self.stats.misses += len(keys) - hits
        return found

    def put_many(self, fingerprint: str, items: Iterable[tuple[str, Verdict]]) -> int:
        """Store the parsed verdicts among `items` in one short transaction; returns how many were new."""
        now = time.time()
        rows = [
            (
                key,
                fingerprint,
                verdict.score,
                verdict.reasoning,
                _stored_json(dict(verdict.criteria)),
                _stored_json(dict(verdict.parts)),
                now,
            )
            for key, verdict in items
            if verdict.score is not None
        ]
        if not rows:
            return 0
        connection = self.connection()
        # IMMEDIATE takes the write lock up front, so a busy writer waits here (busy_timeout) instead of
        # failing on a read-to-write lock upgrade.
        connection.execute("BEGIN IMMEDIATE")
        try:
            before = connection.total_changes
            connection.executemany(
                "INSERT OR IGNORE INTO verdicts (key, fingerprint, score, reasoning, criteria, parts, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            added = connection.total_changes - before
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        self.stats.stored += added
        return added

    def count(self) -> int:
        return self.connection().execute("SELECT count(*) FROM verdicts").fetchone()[0]


_HIT = Usage(cache_hit=True)


class JSONMapping(Mapping):
    """A read-only mapping stored as JSON text, parsed on first use: a cached re-run that reads only scores
    never pays for parsing every verdict's criteria."""

    __slots__ = ("_text", "_parsed")

    def __init__(self, text: str) -> None:
        self._text = text
        self._parsed: dict | None = None

    def _mapping(self) -> dict:
        if self._parsed is None:
            self._parsed = json.loads(self._text)
        return self._parsed

    def __getitem__(self, name: str):
        return self._mapping()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._mapping())

    def __len__(self) -> int:
        return len(self._mapping())

    def __repr__(self) -> str:
        return repr(self._mapping())


def _enable_wal(connection: sqlite3.Connection) -> None:
    # Switching a fresh file to WAL needs a moment of exclusive access; a second process opening the same new
    # file can get SQLITE_BUSY here without the busy handler being consulted, so wait and retry briefly.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    if str(mode).lower() != "wal":
        raise sqlite3.DatabaseError(f"could not switch to WAL journal mode (got {mode})")


def _migrate(connection: sqlite3.Connection) -> None:
    """Apply the migrations this file lacks, in one write transaction, so concurrent openers apply each once."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
        applied = {name for (name,) in connection.execute("SELECT name FROM _migrations")}
        for name, script in MIGRATIONS:
            if name in applied:
                continue
            for statement in _statements(script):
                connection.execute(statement)
            connection.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _statements(script: str) -> list[str]:
    # executescript() would commit our transaction first; run the statements one by one inside it instead.
    return [statement.strip() for statement in script.split(";") if statement.strip()]


class Cached:
    """Any judge behind the verdict cache: hits cost nothing; only the misses reach the judge, in one batch."""

    def __init__(self, judge: Judge, cache: VerdictCache) -> None:
        self.judge = judge
        self.cache = cache
        self.name = judge.name
        self.fingerprint = judge.fingerprint

    def __repr__(self) -> str:
        return f"Cached({self.judge!r}, {self.cache!r})"

    async def score(self, samples: Sequence[Sample], responses: Sequence[str]) -> list[Verdict]:
        keys = [verdict_key(self.fingerprint, sample, response) for sample, response in zip(samples, responses)]
        found = self.cache.get_many(keys)
        missing = [index for index, key in enumerate(keys) if key not in found]
        verdicts: list[Verdict | None] = [found.get(key) for key in keys]
        if missing:
            fresh = await self._score_and_store(
                [keys[i] for i in missing], [samples[i] for i in missing], [responses[i] for i in missing]
            )
            for index, verdict in zip(missing, fresh):
                verdicts[index] = verdict
        return verdicts  # type: ignore[return-value]

    async def _score_and_store(self, keys: list[str], samples: list[Sample], responses: list[str]) -> list[Verdict]:
        from tracegym.judges.budget import BudgetStop

        try:
            fresh = await self.judge.score(samples, responses)
        except BudgetStop as stop:
            # The judge paid for these before the cap stopped it: keep them, so a re-run resumes after them.
            self.cache.put_many(self.fingerprint, zip(keys, stop.verdicts))
            raise
        if len(fresh) != len(keys):
            raise RuntimeError(f"judge {self.name} returned {len(fresh)} verdicts for {len(keys)} replies")
        self.cache.put_many(self.fingerprint, zip(keys, fresh))
        return fresh
