"""Fault injection through the real CLI: judge server faults during `tracegym judge` and during GRPO steps, and
SIGKILL during `judge` and `train` followed by the same command again.

The judge APIs are the local stand-ins of tests/fake_servers.py (real SDKs, real wire format), scripted to answer
429 with Retry-After, 503, 408, other 4xx, slow answers past the client's timeout, truncated bodies, a non-JSON
body and verdicts that are not valid JSON. Where a test counts requests per reply, replies go one at a time
(`--batch_size 1`: a batch's replies share the server between retries), so each scripted answer lands on a known
reply. Assertions count requests, never seconds.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_helpers import run_cli
from factories import SMALL_STEP, FakeLLMServer, Step, build_tiny_student, model_fixture, sample_rows
from tracegym.samples import write_jsonl

REPLIES = [
    "Sino is at 377 Santana Row.",
    "It is at 12 Main Street.",
    "I have no idea, sorry.",
    "The address is 377 Santana Row, enjoy!",
    "Sino? Try 377 Santana Row.",
    "Let me check that for you.",
]
MAX_RETRIES = 4  # the default --max_retries, given explicitly so the counts below read from the command


def record(index: int, response: str) -> dict:
    return {
        "id": f"d{index}-turn1",
        "dialogue_id": f"d{index}",
        "turn_index": 1,
        "prompt": f"User: Where is Sino? ({index})",
        "ground_truth": "Sino is at 377 Santana Row.",
        "rubric": "- gives the address 377 Santana Row",
        "messages": [{"role": "user", "content": "Where is Sino?"}],
        "acts": [
            {
                "act": "INFORM",
                "slot": "street_address",
                "values": ["377 Santana Row"],
                "canonical_values": ["377 Santana Row"],
            }
        ],
        "response": response,
    }


def write_replies(path: Path, replies=REPLIES) -> Path:
    write_jsonl(path, [record(index, reply) for index, reply in enumerate(replies)])
    return path


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def summary_of(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.strip().splitlines() if ": " in line)


def judge_flags(backend: str, server: FakeLLMServer, *extra: str) -> list[str]:
    url = server.openai_url if backend == "openai" else server.url
    return [
        "--judge",
        backend,
        "--judge_model",
        "fake-judge",
        "--base_url",
        url,
        "--max_retries",
        str(MAX_RETRIES),
        *extra,
    ]


def judge_command(in_path: Path, out_path: Path, backend: str, server: FakeLLMServer, *extra: str) -> list[str]:
    return ["judge", "--in_path", in_path, "--out_path", out_path, *judge_flags(backend, server, *extra)]


ONE_AT_A_TIME = ("--batch_size", "1", "--concurrency", "1")


# ------------------------------------------------------------------------------------------ faults during judge


@pytest.mark.parametrize("backend", ["openai", "gemini"])
def test_a_burst_of_server_faults_during_judge_finishes_with_failures_null_and_counted(tmp_path, backend):
    in_path = write_replies(tmp_path / "replies.jsonl")
    out = tmp_path / "scored.jsonl"
    script = [
        Step("429", 0),
        Step("429", 0),
        "503",
        "408",
        "ok",  # reply 0: four transient faults, then its verdict
        Step("slow", 2.0),
        "truncated",
        "ok",  # reply 1: a timeout and a cut body, then its verdict
        *[Step("429", 0)] * (MAX_RETRIES + 1),  # reply 2: 429 past the retry cap: a failure
        "malformed",
        "malformed",  # reply 3: invalid JSON, then its repair too: a failure
        "404",  # reply 4: a client error, never retried: a failure
        "bad_body",  # reply 5: HTTP 200 with a non-JSON body: a failure
    ]
    with FakeLLMServer() as server:
        server.script(*script)
        result = run_cli(*judge_command(in_path, out, backend, server, *ONE_AT_A_TIME, "--timeout", "0.5"))
        requests = server.request_count

    assert result.returncode == 0, result.stderr
    assert requests == len(script), "each retry is one request; the 404, the body and the exhausted 429s stop there"
    scores = [row["score"] for row in read_rows(out)]
    assert [score is None for score in scores] == [False, False, True, True, True, True]
    assert all(0.0 <= score <= 1.0 for score in scores if score is not None)
    summary = summary_of(result.stdout)
    assert summary["n"] == "6" and summary["failures"] == "4"
    assert "warning: the judge failed on 4 of 6 replies" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("backend", ["openai", "gemini"])
def test_client_errors_are_failures_sent_once_and_408_is_retried(tmp_path, backend):
    in_path = write_replies(tmp_path / "replies.jsonl", REPLIES[:4])
    out = tmp_path / "scored.jsonl"
    # openai only: a 400 to the json_schema request is answered by one plain-prompt request (a different request,
    # documented in judges/openai.py); that one gets 400 too and the reply fails, with no retry of either.
    bad_request = ["400", "400"] if backend == "openai" else ["400"]
    script = [*bad_request, "404", "408", "ok"]  # reply 3: ok
    with FakeLLMServer() as server:
        server.script(*script)
        result = run_cli(*judge_command(in_path, out, backend, server, *ONE_AT_A_TIME))
        requests = server.request_count

    assert result.returncode == 0, result.stderr
    assert requests == len(script) + 1
    assert [row["score"] is None for row in read_rows(out)] == [True, True, False, False]
    assert summary_of(result.stdout)["failures"] == "2"


@pytest.mark.parametrize(
    "backend, status", [("openai", "401"), ("openai", "403"), ("gemini", "401"), ("gemini", "403")]
)
def test_a_refused_key_stops_at_the_first_request_with_one_error_line(tmp_path, backend, status):
    in_path = write_replies(tmp_path / "replies.jsonl", REPLIES[:3])
    out = tmp_path / "scored.jsonl"
    with FakeLLMServer() as server:
        server.script(*[status] * 10)
        result = run_cli(*judge_command(in_path, out, backend, server, *ONE_AT_A_TIME))
        requests = server.request_count

    # Exit 2 with one `error:` line, as for bad input; the progress bar had started before the key was refused.
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(errors) == 1 and f"HTTP {status}" in errors[0] and "key" in errors[0], result.stderr
    assert result.stderr.strip().splitlines()[-1] == errors[0]
    assert requests == 1, "a refused key is never retried, and no other reply is sent"
    assert not out.exists()


# ----------------------------------------------------------------------------------- faults during GRPO steps


@model_fixture
def student(tmp_path_factory):
    """Eight samples and a tiny student built by `tracegym student` (a few thousand parameters)."""
    return build_tiny_student(tmp_path_factory.mktemp("faults_train"), sample_rows())


def train_command(student: Path, run_dir: Path, server: FakeLLMServer, *extra: str) -> list[str]:
    return [
        "train",
        "--train_jsonl",
        student / "train.jsonl",
        "--model_name",
        student / "student",
        "--output_dir",
        run_dir,
        *SMALL_STEP,
        "--report_to",
        "none",
        *judge_flags("openai", server),
        *extra,
    ]


def step_records(run_dir: Path) -> list[dict]:
    return [r for r in read_rows(run_dir / "log.jsonl") if r.get("kind") == "step"]


@pytest.mark.slow
def test_judge_faults_during_grpo_steps_are_retried_or_left_out_and_counted(student, tmp_path):
    """A step's eight replies share the server between retries, so which reply meets which fault varies; the
    script is chosen so the outcome does not: four transient faults (fewer than any reply may retry) and one
    invalid verdict (repaired) are all recovered, and the 404 and the non-JSON body are one failure each."""
    run_dir = tmp_path / "run"
    recovered = [Step("429", 0), "503", Step("slow", 2.0), "truncated", "malformed"]
    failing = ["404", "bad_body"]
    with FakeLLMServer() as server:  # the stand-in scores every one of the student's babbling replies 0.25
        server.script(*recovered, *failing)
        result = run_cli(*train_command(student, run_dir, server, "--max_steps", "2", "--timeout", "0.5"))
        requests = server.request_count

    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["steps"] == 2
    steps = step_records(run_dir)
    assert [r["step"] for r in steps] == [1, 2]
    assert [r["judge/replies"] for r in steps] == [8, 8]
    assert [r["judge/failures"] for r in steps] == [2, 0], "the step that met the faults logs its two failures"
    assert [r["reward"] for r in steps] == pytest.approx([0.25, 0.25]), "failed verdicts are left out, not zeros"
    assert requests == 16 + len(recovered), "one request per reply, plus one per retry or repair; no more"
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------------------------------- SIGKILL and re-run


def cache_rows(cache: Path) -> int:
    if not cache.exists():
        return 0
    try:
        with sqlite3.connect(cache, timeout=5) as connection:
            return connection.execute("SELECT count(*) FROM verdicts").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


def start_cli(*args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tracegym", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_when(process: subprocess.Popen, ready, limit_s: float = 240) -> None:
    """SIGKILL `process` as soon as `ready()` holds; fail if it ends first or never gets there."""
    deadline = time.monotonic() + limit_s
    while not ready():
        assert process.poll() is None, (
            f"ended before the kill point: {process.returncode}\n{process.stderr.read()[-3000:]}"
        )
        assert time.monotonic() < deadline, "never reached the kill point"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL


def test_sigkill_during_judge_then_the_same_command_sends_only_the_missing_calls(tmp_path):
    total = 24
    in_path = write_replies(tmp_path / "replies.jsonl", [f"Sino is at {i} Santana Row." for i in range(total)])
    out, cache = tmp_path / "scored.jsonl", tmp_path / "verdicts.sqlite"
    with FakeLLMServer(latency=0.15) as server:
        command = [
            *judge_command(in_path, out, "openai", server, "--cache", cache, "--concurrency", "2"),
            "--batch_size",
            "2",
        ]
        process = start_cli(*command)
        kill_when(process, lambda: cache_rows(cache) >= 6)
        cached = cache_rows(cache)
        with sqlite3.connect(cache) as connection:
            integrity_after_kill = connection.execute("PRAGMA integrity_check").fetchone()[0]
        assert not out.exists(), "no output from a killed run"
        sent_before = server.request_count

        rerun = run_cli(*command)
        sent_by_rerun = server.request_count - sent_before

    assert 6 <= cached < total
    assert rerun.returncode == 0, rerun.stderr
    assert integrity_after_kill == "ok"
    assert sent_by_rerun == total - cached, "the re-run asks only for the verdicts the cache lacks"
    summary = summary_of(rerun.stdout)
    assert summary["cache_hits"] == str(cached) and summary["failures"] == "0"
    rows = read_rows(out)
    assert len(rows) == total and all(row["score"] is not None for row in rows)
    with sqlite3.connect(cache) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        keys = [key for (key,) in connection.execute("SELECT key FROM verdicts")]
    assert len(keys) == len(set(keys)) == total, "every verdict stored once"


@pytest.mark.slow
def test_sigkill_during_train_then_resume_continues_from_the_last_checkpoint(student, tmp_path):
    run_dir = tmp_path / "run"
    with FakeLLMServer() as server:
        command = train_command(student, run_dir, server, "--max_steps", "4", "--save_steps", "1")
        process = start_cli(*command)
        kill_when(process, lambda: (run_dir / "checkpoint-1" / "trainer_state.json").is_file())
        done_before_kill = sorted(p.name for p in run_dir.glob("checkpoint-*") if (p / "trainer_state.json").is_file())
        resumed = run_cli(*command, "--resume_from_checkpoint", "last")

    assert done_before_kill and done_before_kill[0] == "checkpoint-1"
    last_complete = max(int(name.split("-")[1]) for name in done_before_kill)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["steps"] == 4
    resumed_steps = [r["step"] for r in step_records(run_dir)][-(4 - last_complete) :]
    assert resumed_steps == list(range(last_complete + 1, 5)), "the global step continues after the checkpoint"
    assert (run_dir / "checkpoint-4" / "trainer_state.json").is_file()
    state = json.loads((run_dir / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4


@pytest.mark.slow
def test_resume_last_skips_a_checkpoint_that_a_kill_left_half_written(student, tmp_path):
    run_dir = tmp_path / "run"
    with FakeLLMServer() as server:
        first = run_cli(*train_command(student, run_dir, server, "--max_steps", "2", "--save_steps", "1"))
        assert first.returncode == 0, first.stderr[-3000:]
        # What a SIGKILL in the middle of saving step 3 leaves: the folder and part of its first file.
        half_written = run_dir / "checkpoint-3"
        half_written.mkdir()
        weights = next((run_dir / "checkpoint-2").glob("*.safetensors"))
        (half_written / weights.name).write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
        resumed = run_cli(
            *train_command(
                student, run_dir, server, "--max_steps", "3", "--save_steps", "1", "--resume_from_checkpoint", "last"
            )
        )

    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [r["step"] for r in step_records(run_dir)] == [1, 2, 3]
