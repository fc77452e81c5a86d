"""The SQLite verdict cache: keys, stored verdicts, counting, and several processes on one file."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest

from factories import restaurant_sample
from tracegym.judges import JudgeSettings, build_judge, score_sync
from tracegym.judges.base import Usage, Verdict
from tracegym.judges.cache import MIGRATIONS, Cached, VerdictCache, verdict_key


def open_rows(path) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT key, score FROM verdicts").fetchall()


def test_the_key_changes_with_everything_that_changes_a_verdict():
    sample = restaurant_sample()
    base = verdict_key("acts:1", sample, "Sino is at 377 Santana Row.")
    variants = [
        verdict_key("acts:2", sample, "Sino is at 377 Santana Row."),
        verdict_key("acts:1", sample, "Sino is at 378 Santana Row."),
        verdict_key("acts:1", replace(sample, prompt="User: a table at Sino."), "Sino is at 377 Santana Row."),
        verdict_key("acts:1", replace(sample, rubric="- something else"), "Sino is at 377 Santana Row."),
        verdict_key("acts:1", replace(sample, ground_truth="Booked."), "Sino is at 377 Santana Row."),
        verdict_key(
            "acts:1", replace(sample, messages=[{"role": "user", "content": "hi"}]), "Sino is at 377 Santana Row."
        ),
        verdict_key("acts:1", replace(sample, acts=[]), "Sino is at 377 Santana Row."),
        verdict_key("acts:1", replace(sample, task_description="Find a restaurant"), "Sino is at 377 Santana Row."),
        verdict_key(
            "acts:1",
            replace(sample, messages=[{**sample.messages[0], "name": "booking"}, sample.messages[1]]),
            "Sino is at 377 Santana Row.",
        ),
        # The same texts split differently between fields must not collide.
        verdict_key("acts:1", replace(sample, ground_truth=sample.ground_truth + "S"), "ino is at 377 Santana Row."),
    ]
    assert base.startswith("sha256:") and len(base) == len("sha256:") + 64
    assert len({base, *variants}) == len(variants) + 1
    # Fields that do not change the verdict (the record's id, its split) do not change the key.
    assert verdict_key("acts:1", replace(sample, id="other", split="dev"), "Sino is at 377 Santana Row.") == base


def test_stores_parsed_verdicts_only_and_counts_hits_and_misses(tmp_path):
    cache = VerdictCache(tmp_path / "verdicts.sqlite")
    good = Verdict(
        score=0.75, reasoning="gives the address", criteria={"address": 1.0}, usage=Usage(calls=1, cost_usd=0.01)
    )
    failed = Verdict.failure("unparseable verdict", usage=Usage(calls=2))
    assert cache.put_many("openai:abc", [("k-good", good), ("k-failed", failed)]) == 1
    assert cache.put_many("openai:abc", [("k-good", good)]) == 0  # stored once, never duplicated

    found = cache.get_many(["k-good", "k-failed", "k-absent"])

    assert set(found) == {"k-good"}
    assert found["k-good"].score == 0.75 and found["k-good"].criteria == {"address": 1.0}
    assert found["k-good"].usage == Usage(cache_hit=True)  # a hit costs nothing and makes no call
    assert (cache.stats.hits, cache.stats.misses, cache.stats.stored) == (1, 2, 1)


def test_a_new_file_gets_the_named_migrations_once(tmp_path):
    path = tmp_path / "verdicts.sqlite"
    VerdictCache(path).count()
    VerdictCache(path).count()
    with sqlite3.connect(path) as connection:
        applied = [name for (name,) in connection.execute("SELECT name FROM _migrations")]
        journal_mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    assert applied == [name for name, _ in MIGRATIONS]
    assert journal_mode == "wal"


def test_a_file_that_is_not_a_cache_is_a_user_error(tmp_path):
    from tracegym.errors import UserError

    path = tmp_path / "notes.sqlite"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(UserError, match="not a usable verdict cache"):
        VerdictCache(path).count()


def test_cached_judge_sends_only_misses_and_returns_hits_in_order(tmp_path):
    cache_path = tmp_path / "verdicts.sqlite"
    judge = build_judge(JudgeSettings(judge="acts", cache=str(cache_path)))
    assert isinstance(judge, Cached)
    samples = [restaurant_sample(i) for i in range(4)]
    first = ["Sino is at 377 Santana Row.", "I don't know.", "Shall I book it for 2 people?", "Goodbye."]

    fresh = score_sync(judge, samples[:2], first[:2])
    mixed = score_sync(judge, samples, first)

    assert [v.usage.cache_hit for v in fresh] == [False, False]
    assert [v.usage.cache_hit for v in mixed] == [True, True, False, False]
    assert [v.score for v in mixed[:2]] == [v.score for v in fresh]
    assert judge.cache.stats.hits == 2 and judge.cache.stats.misses == 2 + 2
    assert len(open_rows(cache_path)) == 4
    uncached = score_sync(build_judge(JudgeSettings(judge="acts")), samples, first)
    assert [v.score for v in mixed] == [v.score for v in uncached]


# ---- several processes on one file -------------------------------------------------------------------------

WORKER = textwrap.dedent(
    """
    import sys
    from tracegym.judges.base import Verdict
    from tracegym.judges.cache import VerdictCache

    path, name, count, peer = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    cache = VerdictCache(path)
    seen_from_peer = 0
    for i in range(count):
        cache.put_many("test:1", [(f"{name}-{i}", Verdict(score=(i % 100) / 100, reasoning=name))])
        seen_from_peer = max(seen_from_peer, len(cache.get_many([f"{peer}-{j}" for j in range(count)])))
        print(i, flush=True)
    print(f"seen {seen_from_peer}", flush=True)
    """
)

ENDLESS_WRITER = textwrap.dedent(
    """
    import sys
    from tracegym.judges.base import Verdict
    from tracegym.judges.cache import VerdictCache

    cache = VerdictCache(sys.argv[1])
    batch = 0
    while True:
        cache.put_many("test:1", [(f"k-{batch}-{j}", Verdict(score=0.5, reasoning="x" * 500)) for j in range(50)])
        print(batch, flush=True)
        batch += 1
    """
)


def test_two_processes_write_and_read_the_same_file_at_once(tmp_path):
    path = tmp_path / "shared.sqlite"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    count = 300
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(path), name, str(count), peer],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, peer in (("a", "b"), ("b", "a"))
    ]
    outputs = [worker.communicate(timeout=120) for worker in workers]

    for worker, (_stdout, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr
        assert "locked" not in stderr
    rows = open_rows(path)
    assert len(rows) == 2 * count and len({key for key, _ in rows}) == 2 * count
    # Each saw the other's writes while both were running, or at the end at the latest.
    assert all(stdout.strip().splitlines()[-1].startswith("seen ") for stdout, _ in outputs)
    reader = VerdictCache(path)
    assert len(reader.get_many([f"a-{i}" for i in range(count)] + [f"b-{i}" for i in range(count)])) == 2 * count


def test_a_writer_killed_mid_run_leaves_a_sound_file_and_a_rerun_adds_no_duplicates(tmp_path):
    path = tmp_path / "killed.sqlite"
    script = tmp_path / "writer.py"
    script.write_text(ENDLESS_WRITER)
    writer = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True)
    for _ in range(20):  # let it commit 20 batches, then kill it in the middle of the next ones
        assert writer.stdout.readline(), "the writer died early"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=30)
    writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL

    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        total, distinct = connection.execute("SELECT count(*), count(DISTINCT key) FROM verdicts").fetchone()
    assert total == distinct and total >= 20 * 50 and total % 50 == 0  # whole transactions only

    cache = VerdictCache(path)
    again = [(f"k-{batch}-{j}", Verdict(score=0.5)) for batch in range(5) for j in range(50)]
    assert cache.put_many("test:1", again) == 0
    assert cache.count() == total


def _mixed_reads_and_writes(cache: VerdictCache, worker: int, operations: int, results) -> None:
    """Put (worker, database-locked errors, rows written) on `results`: writes and reads alternate."""
    locked = 0
    written = 0
    for step in range(operations):
        try:
            if step % 2 == 0:
                written += cache.put_many("test:1", [(f"w{worker}-{step}", Verdict(score=0.25))])
            else:
                cache.get_many([f"w{(worker + 1) % 8}-{step - 1}", f"w{worker}-{step - 1}"])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            locked += 1
    results.put((worker, locked, written))


def run_forked(target, *argument_lists) -> None:
    """Run `target(*arguments)` in one forked child per argument list; the children inherit the parent's objects
    (the cache with its open connection) as they are, unpickled, the way training ranks do."""
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=target, args=arguments) for arguments in argument_lists]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
        assert child.exitcode == 0


def test_eight_processes_with_mixed_reads_and_writes_never_see_a_locked_database(tmp_path):
    path = tmp_path / "eight.sqlite"
    cache = VerdictCache(path)
    cache.count()  # the parent's connection is open before the fork: each child must open its own
    results = multiprocessing.get_context("fork").SimpleQueue()

    run_forked(_mixed_reads_and_writes, *[(cache, worker, 2000, results) for worker in range(8)])

    outcomes = sorted(results.get() for _ in range(8))
    assert [locked for _, locked, _ in outcomes] == [0] * 8
    assert [written for _, _, written in outcomes] == [1000] * 8
    assert cache.count() == 8 * 1000
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _write_from_child(cache: VerdictCache, results) -> None:
    results.put((os.getpid(), cache.put_many("test:1", [("from-child", Verdict(score=1.0))])))


def test_a_forked_child_opens_its_own_connection(tmp_path):
    cache = VerdictCache(tmp_path / "fork.sqlite")
    parent_connection = cache.connection()
    results = multiprocessing.get_context("fork").SimpleQueue()

    run_forked(_write_from_child, (cache, results))

    child_pid, child_rows = results.get()
    assert child_pid != os.getpid() and child_rows == 1
    assert cache.connection() is parent_connection
    assert cache.count() == 1
