"""Judge throughput against a local server with 200 ms latency per request (the real SDK, the real wire format).

    python bench/judge.py [--backend gemini|openai] [--n 64] [--latency 0.2]

Scores N replies at concurrency 1 (the seed's sequential path), 8 and 32 and compares with the ideal
ceil(N/C) × latency; then re-runs through the SQLite verdict cache (`Cached`) and counts verdicts/s and requests.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
# The local server checks no key; the SDKs want one.
os.environ.setdefault("GEMINI_API_KEY", "bench-local-server-needs-no-key")
os.environ.setdefault("OPENAI_API_KEY", "bench-local-server-needs-no-key")

from fake_servers import serve_in_subprocess  # noqa: E402
from tracegym.judges import JudgeSettings, score_sync  # noqa: E402
from tracegym.samples import Sample  # noqa: E402


def samples_and_replies(n: int) -> tuple[list[Sample], list[str]]:
    samples = [
        Sample(
            id=f"bench{i}-turn1",
            dialogue_id=f"bench{i}",
            turn_index=1,
            prompt=f"User: Book a table for {i % 6 + 1} at Sino at 7 pm.",
            ground_truth=f"Your table for {i % 6 + 1} at Sino at 7 pm is booked.",
        )
        for i in range(n)
    ]
    replies = [f"Correct: table for {i % 6 + 1} booked at Sino, 7 pm (reply {i})." for i in range(n)]
    return samples, replies


class RemoteServer:
    """The fake judge API in a child process, so its threads do not compete with the client for the GIL."""

    def __init__(self, latency: float) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._urls, self._stop = context.Queue(), context.Event()
        self._process = context.Process(target=serve_in_subprocess, args=(latency, self._urls, self._stop), daemon=True)

    def __enter__(self) -> RemoteServer:
        self._process.start()
        self.url = self._urls.get(timeout=60)
        self.openai_url = f"{self.url}/v1"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._process.join(timeout=10)

    @property
    def request_count(self) -> int:
        import json
        import urllib.request

        with urllib.request.urlopen(f"{self.url}/_stats") as response:
            return json.load(response)["requests"]


def make_judge(backend: str, server: RemoteServer, concurrency: int):
    from tracegym.judges import judge_class

    settings = JudgeSettings(
        judge=backend,
        judge_model="fake-judge",
        base_url=server.openai_url if backend == "openai" else server.url,
        concurrency=concurrency,
    )
    return judge_class(backend).from_settings(settings)


async def timed_pass(judge, samples: list[Sample], replies: list[str], concurrency: int):
    """(seconds, verdicts) of one scoring pass, after a warm-up of C replies in the same event loop: the client
    and its C connections are open, as in every training step after the first."""
    await judge.score(samples[:concurrency], [f"warm-up reply {i}" for i in range(concurrency)])
    started = time.perf_counter()
    verdicts = await judge.score(samples, replies)
    return time.perf_counter() - started, verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="gemini", choices=("gemini", "openai"))
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    samples, replies = samples_and_replies(args.n)
    print(f"backend {args.backend}, {args.n} replies, server latency {args.latency * 1000:.0f} ms")

    with RemoteServer(args.latency) as server:
        walls: dict[int, float] = {}
        for concurrency in (1, 8, 32):
            judge = make_judge(args.backend, server, concurrency)
            before = server.request_count
            walls[concurrency], verdicts = asyncio.run(timed_pass(judge, samples, replies, concurrency))
            before += concurrency  # the warm-up requests
            assert all(v.score is not None for v in verdicts), [v.error for v in verdicts if v.score is None][:3]
            ideal = math.ceil(args.n / concurrency) * args.latency
            print(
                f"C={concurrency:>2}: wall {walls[concurrency]:6.2f} s, ideal {ideal:5.2f} s, "
                f"efficiency {ideal / walls[concurrency]:.2f}, speed-up vs C=1 {walls[1] / walls[concurrency]:5.1f}x, "
                f"requests {server.request_count - before}"
            )
        cached_rerun(args, server, samples, replies)
    return 0


async def rescore(judge, samples: list[Sample], replies: list[str], rounds: int):
    for _ in range(rounds):
        verdicts = await judge.score(samples, replies)
    return verdicts


def cached_rerun(args: argparse.Namespace, server: RemoteServer, samples: list[Sample], replies: list[str]) -> None:
    try:
        from tracegym.judges.cache import Cached, VerdictCache
    except ImportError:
        print("cached re-run: skipped (tracegym.judges.cache not available)")
        return
    with tempfile.TemporaryDirectory() as folder:
        judge = Cached(make_judge(args.backend, server, 32), VerdictCache(Path(folder) / "verdicts.sqlite"))
        score_sync(judge, samples, replies)  # fills the cache
        before = server.request_count
        rounds = 100
        started = time.perf_counter()
        verdicts = asyncio.run(rescore(judge, samples, replies, rounds))
        wall = time.perf_counter() - started
        assert all(v.usage.cache_hit for v in verdicts)
        print(
            f"cached re-run: {rounds} × {args.n} verdicts in {wall:.3f} s = {rounds * args.n / wall:,.0f} verdicts/s, "
            f"requests {server.request_count - before}"
        )


if __name__ == "__main__":
    sys.exit(main())
