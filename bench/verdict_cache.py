"""The SQLite verdict cache on real-sized samples: cached re-run throughput, and several processes on one file.

    tracegym prepare --sgd_root ../shared/data/sgd --split dev --out_path /tmp/dev.jsonl
    python bench/verdict_cache.py --samples /tmp/dev.jsonl [--n 20000] [--processes 8]

1. Scores N prepared samples (their full system message and history) with the act judge through `Cached`:
   the first pass fills the cache (baseline: the act judge itself, measured in the same run), then a re-run in
   batches of 64 is answered from the cache. Target: >= 20,000 verdicts/s.
2. P forked processes each make 2,000 mixed reads and writes on one file: "database is locked" errors, rows lost.
Also prints a CPU reference (a fixed pure-Python loop) so figures from a loaded machine can be read in context.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sqlite3
import sys
import tempfile
import time
import timeit
from pathlib import Path

from tracegym.judges import JudgeSettings, build_judge
from tracegym.judges.base import Verdict
from tracegym.judges.cache import VerdictCache
from tracegym.samples import read_samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", required=True, help="a prepared samples JSONL (tracegym prepare)")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--processes", type=int, default=8)
    args = parser.parse_args()

    samples = read_samples(args.samples)[: args.n]
    replies = [sample.ground_truth for sample in samples]
    system_chars = sum(len(s.messages[0]["content"]) for s in samples if s.messages) / max(1, len(samples))
    print(f"samples: {len(samples)} (mean system message {system_chars:,.0f} chars), batch {args.batch_size}")
    print(f"CPU reference: sum(range(10**6)) takes {cpu_reference_ms():.1f} ms (higher = a busier machine)")
    with tempfile.TemporaryDirectory() as folder:
        judge = build_judge(JudgeSettings(judge="acts", cache=str(Path(folder) / "verdicts.sqlite")))
        first = timed_pass(judge, samples, replies, args.batch_size)
        print(f"first pass (act judge + cache writes): {len(samples) / first:,.0f} verdicts/s")
        for attempt in range(3):
            wall = timed_pass(judge, samples, replies, args.batch_size)
            print(f"cached re-run {attempt + 1}: {len(samples) / wall:,.0f} verdicts/s ({wall:.2f} s)")
        print(f"cache stats: {judge.cache.stats}")
        contention(Path(folder) / "shared.sqlite", args.processes)
    return 0


def cpu_reference_ms() -> float:
    return min(timeit.repeat("sum(range(10**6))", number=1, repeat=5)) * 1000


def timed_pass(judge, samples, replies, batch_size: int) -> float:
    async def run() -> list[Verdict]:
        verdicts = []
        for start in range(0, len(samples), batch_size):
            verdicts += await judge.score(samples[start : start + batch_size], replies[start : start + batch_size])
        return verdicts

    started = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - started


def _worker(cache: VerdictCache, worker: int, results) -> None:
    locked = written = 0
    for step in range(2000):
        try:
            if step % 2 == 0:
                written += cache.put_many("bench:1", [(f"w{worker}-{step}", Verdict(score=0.5))])
            else:
                cache.get_many([f"w{worker}-{step - 1}", f"w{(worker + 1) % 8}-{step - 1}"])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            locked += 1
    results.put((locked, written))


def contention(path: Path, processes: int) -> None:
    cache = VerdictCache(path)
    cache.count()
    context = multiprocessing.get_context("fork")
    results = context.SimpleQueue()
    children = [context.Process(target=_worker, args=(cache, worker, results)) for worker in range(processes)]
    started = time.perf_counter()
    for child in children:
        child.start()
    for child in children:
        child.join()
    wall = time.perf_counter() - started
    outcomes = [results.get() for _ in children]
    locked = sum(locked for locked, _ in outcomes)
    written = sum(written for _, written in outcomes)
    print(
        f"{processes} processes x 2,000 mixed ops: {wall:.2f} s, locked errors {locked}, rows written {written}, "
        f"rows in file {cache.count()} (lost {written - cache.count()})"
    )


if __name__ == "__main__":
    sys.exit(main())
