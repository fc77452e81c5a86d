"""`tracegym judge` through the real CLI, with the act judge (no model, no network)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from cli_helpers import assert_user_error, run_cli
from fake_servers import FakeLLMServer

ADDRESS_ACTS = [
    {"act": "INFORM", "slot": "street_address", "values": ["377 Santana Row"], "canonical_values": ["377 Santana Row"]}
]
REPLIES = [
    "Sino is at 377 Santana Row.",
    "It is at 12 Main Street.",
    "I have no idea, sorry.",
    "The address is 377 Santana Row, enjoy!",
    "",
]
SENT = [reply for reply in REPLIES if reply]  # the empty reply is the guard's (0, no request): judges/guard.py


def record(index: int, response, acts=ADDRESS_ACTS) -> dict:
    return {
        "id": f"d{index}-turn1",
        "dialogue_id": f"d{index}",
        "turn_index": 1,
        "prompt": "User: Where is Sino?",
        "ground_truth": "Sino is at 377 Santana Row.",
        "rubric": "- gives the address 377 Santana Row",
        "messages": [{"role": "user", "content": "Where is Sino?"}],
        "acts": acts,
        "response": response,
    }


def write_records(path, records) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in records))
    return str(path)


def read_records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def summary_of(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.strip().splitlines())


@pytest.fixture
def replies_file(tmp_path):
    return write_records(tmp_path / "replies.jsonl", [record(i, reply) for i, reply in enumerate(REPLIES)])


def test_scores_each_reply_and_writes_score_and_judge(tmp_path, replies_file):
    out = tmp_path / "scored.jsonl"

    result = run_cli("judge", "--in_path", replies_file, "--out_path", out, "--judge", "acts")

    assert result.returncode == 0, result.stderr
    rows = read_records(out)
    assert [row["response"] for row in rows] == REPLIES  # every record written back, in order, unchanged
    assert all(isinstance(row["score"], float) and 0.0 <= row["score"] <= 1.0 for row in rows)
    assert len({row["judge"] for row in rows}) == 1 and rows[0]["judge"].startswith("acts:")
    assert rows[0]["score"] > rows[1]["score"] and rows[0]["score"] > rows[4]["score"]
    summary = summary_of(result.stdout)
    assert summary["n"] == "5" and summary["failures"] == "0" and summary["cache_hits"] == "0"
    assert float(summary["mean"]) == pytest.approx(sum(row["score"] for row in rows) / 5, abs=1e-4)
    assert {"calls", "input_tokens", "output_tokens", "cost_usd"} <= set(summary)
    assert "judging" in result.stderr  # the progress bar is on stderr, not in the results


def test_a_rerun_with_the_cache_answers_from_it(tmp_path, replies_file):
    cache = tmp_path / "verdicts.sqlite"
    first = run_cli("judge", "--in_path", replies_file, "--out_path", tmp_path / "1.jsonl", "--cache", cache)
    second = run_cli(
        "judge", "--in_path", replies_file, "--out_path", tmp_path / "2.jsonl", "--cache", cache, "--batch_size", "2"
    )

    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert summary_of(first.stdout)["cache_hits"] == "0"
    assert summary_of(second.stdout)["cache_hits"] == "5"
    assert read_records(tmp_path / "1.jsonl") == read_records(tmp_path / "2.jsonl")


def test_a_mixture_of_two_judges(tmp_path, replies_file):
    run_cli("judge", "--in_path", replies_file, "--out_path", tmp_path / "single.jsonl")
    mixed = run_cli(
        "judge",
        "--in_path",
        replies_file,
        "--out_path",
        tmp_path / "mixed.jsonl",
        "--judge",
        "acts+acts",
        "--judge_weights",
        "0.7,0.3",
    )

    assert mixed.returncode == 0, mixed.stderr
    single_rows, mixed_rows = read_records(tmp_path / "single.jsonl"), read_records(tmp_path / "mixed.jsonl")
    assert [r["score"] for r in mixed_rows] == pytest.approx([r["score"] for r in single_rows])
    assert mixed_rows[0]["judge"].startswith("mixture:") and mixed_rows[0]["judge"] != single_rows[0]["judge"]


def test_a_failed_verdict_is_written_as_null_not_zero(tmp_path):
    in_path = write_records(
        tmp_path / "replies.jsonl", [record(0, "Sino is at 377 Santana Row."), record(1, "Hi", acts=[])]
    )
    out = tmp_path / "scored.jsonl"

    result = run_cli("judge", "--in_path", in_path, "--out_path", out, "--judge", "acts+acts")

    assert result.returncode == 0, result.stderr
    rows = read_records(out)
    assert rows[0]["score"] is not None and rows[1]["score"] is None
    assert summary_of(result.stdout)["failures"] == "1"
    assert "warning: the judge failed on 1 of 2 replies" in result.stderr


def test_the_call_cap_stops_with_exit_3_and_a_rerun_resumes_from_the_cache(tmp_path):
    in_path = write_records(tmp_path / "replies.jsonl", [record(i, f"Sino is at {i} Santana Row.") for i in range(10)])
    out = tmp_path / "scored.jsonl"
    cache = tmp_path / "verdicts.sqlite"
    command = ["judge", "--in_path", in_path, "--out_path", out, "--cache", cache, "--batch_size", "4"]

    stopped = run_cli(*command, "--max_judge_calls", "6")

    assert stopped.returncode == 3, stopped.stderr
    assert "stopped: judge budget reached: 6 of --max_judge_calls 6" in stopped.stderr
    assert "re-run the same command to resume" in stopped.stderr and "Traceback" not in stopped.stderr
    assert not out.exists() and not list(tmp_path.glob(".scored.jsonl.*"))  # no partial output
    with sqlite3.connect(cache) as connection:
        assert connection.execute("SELECT count(*) FROM verdicts").fetchone()[0] == 6

    resumed = run_cli(*command, "--max_judge_calls", "6")

    assert resumed.returncode == 0, resumed.stderr
    summary = summary_of(resumed.stdout)
    assert summary["n"] == "10" and summary["cache_hits"] == "6"  # only the 4 new replies counted toward the cap
    assert len(read_records(out)) == 10


def test_without_a_cache_the_stop_message_says_how_to_resume(tmp_path, replies_file):
    result = run_cli("judge", "--in_path", replies_file, "--out_path", tmp_path / "o.jsonl", "--max_judge_calls", "2")
    assert result.returncode == 3
    assert "add --cache PATH" in result.stderr and not (tmp_path / "o.jsonl").exists()


def openai_flags(server: FakeLLMServer, *extra: str) -> list[str]:
    return ["--judge", "openai", "--judge_model", "fake-judge", "--base_url", server.openai_url, *extra]


def test_a_remote_judge_rerun_with_the_cache_sends_no_request(tmp_path, replies_file):
    cache = tmp_path / "verdicts.sqlite"
    with FakeLLMServer() as server:
        command = ["judge", "--in_path", replies_file, "--out_path", tmp_path / "o.jsonl", "--cache", cache]
        first = run_cli(*command, *openai_flags(server))
        requests_after_first = server.request_count
        second = run_cli(*command, *openai_flags(server))

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert requests_after_first == len(SENT) and server.request_count == len(SENT)
    first_summary, second_summary = summary_of(first.stdout), summary_of(second.stdout)
    assert first_summary["calls"] == str(len(SENT)) and int(first_summary["input_tokens"]) > 0
    assert first_summary["guarded"] == "1"
    assert second_summary["cache_hits"] == str(len(REPLIES)) and second_summary["calls"] == "0"
    assert float(second_summary["cost_usd"]) == 0.0 and second_summary["mean"] == first_summary["mean"]


def test_the_cost_cap_prices_tokens_from_a_price_file_and_a_rerun_resumes(tmp_path, replies_file):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"fake-judge": {"input": 1000, "output": 1000}}))  # dear, so the cap bites
    cache = tmp_path / "verdicts.sqlite"
    out = tmp_path / "o.jsonl"
    with FakeLLMServer() as server:
        command = ["judge", "--in_path", replies_file, "--out_path", out, "--cache", cache, *openai_flags(server)]
        stopped = run_cli(*command, "--max_judge_cost_usd", "0.0001", env={"TRACEGYM_PRICES": str(prices)})
        paid_requests = server.request_count
        written_at_stop = out.exists()
        resumed = run_cli(*command, env={"TRACEGYM_PRICES": str(prices)})

    assert stopped.returncode == 3, stopped.stderr
    assert "--max_judge_cost_usd" in stopped.stderr and not written_at_stop
    assert paid_requests == 1  # the first reply alone costs more than the cap: nothing is sent after it
    assert resumed.returncode == 0, resumed.stderr
    assert server.request_count == len(SENT)  # the re-run sent only the replies not yet paid for
    summary = summary_of(resumed.stdout)
    assert summary["cache_hits"] == "1" and float(summary["cost_usd"]) > 0.0001


def test_a_mixture_with_a_remote_judge_fails_a_reply_whose_verdict_is_malformed(tmp_path, replies_file):
    out = tmp_path / "o.jsonl"
    with FakeLLMServer() as server:
        server.script("malformed", "malformed")  # the first reply's verdict, then its repair retry
        result = run_cli(
            "judge",
            "--in_path",
            replies_file,
            "--out_path",
            out,
            "--batch_size",
            "1",
            *openai_flags(server, "--judge", "openai+acts", "--judge_weights", "0.7,0.3"),
        )

    assert result.returncode == 0, result.stderr
    scores = [row["score"] for row in read_records(out)]
    assert scores[0] is None and all(score is not None for score in scores[1:])
    assert summary_of(result.stdout)["failures"] == "1"


@pytest.mark.parametrize(
    "records, extra_flags, fragments",
    [
        (
            [record(0, "ok"), {k: v for k, v in record(1, "x").items() if k != "response"}],
            [],
            ["record 1", "no `response` field"],
        ),
        ([record(0, 42)], [], ["record 0", "`response` is int, expected a string"]),
        ([record(0, "ok")], ["--judge", "nosuchjudge"], ["unknown judge 'nosuchjudge'", "acts", "gemini"]),
        (
            [record(0, "ok")],
            ["--judge", "acts+acts", "--judge_weights", "0.7"],
            ["--judge_weights", "1 weight(s) for 2"],
        ),
        ([record(0, "ok")], ["--judge", "acts+acts", "--judge_weights", "0.7,-1"], ["positive"]),
        ([record(0, "ok")], ["--concurrency", "-1"], ["--concurrency", "positive"]),
        ([record(0, "ok")], ["--batch_size", "0"], ["--batch_size", "positive"]),
        ([], [], ["no samples"]),
    ],
)
def test_bad_input_is_one_error_line_and_no_output(tmp_path, records, extra_flags, fragments):
    in_path = write_records(tmp_path / "replies.jsonl", records)
    out = tmp_path / "scored.jsonl"
    result = run_cli("judge", "--in_path", in_path, "--out_path", out, *extra_flags)
    assert_user_error(result, *fragments)
    assert not out.exists()


def test_malformed_jsonl_names_the_line(tmp_path):
    in_path = tmp_path / "replies.jsonl"
    in_path.write_text(json.dumps(record(0, "ok")) + '\n{"id": "broken\n')
    out = tmp_path / "scored.jsonl"
    result = run_cli("judge", "--in_path", in_path, "--out_path", out)
    assert_user_error(result, "line 2", "malformed JSON")
    assert not out.exists()


def test_the_act_judge_run_imports_no_torch_or_sdk(tmp_path, replies_file):
    probe = (
        "import sys, runpy; sys.argv = ['tracegym', 'judge', '--in_path', sys.argv[1], '--out_path', sys.argv[2], "
        "'--judge', 'acts+acts', '--cache', sys.argv[3]]\n"
        "from tracegym.cli import main\n"
        "code = main()\n"
        "heavy = [m for m in ('torch', 'transformers', 'google.genai', 'openai') if m in sys.modules]\n"
        "print('HEAVY', heavy, code)\n"
    )
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", probe, replies_file, str(tmp_path / "o.jsonl"), str(tmp_path / "c.sqlite")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "HEAVY [] 0" in result.stdout, result.stdout + result.stderr
