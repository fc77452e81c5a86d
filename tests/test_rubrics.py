"""`tracegym rubrics`: a teacher writes per-sample rubrics through the real CLI and SDK against a local server;
strict parsing, the cache, and resuming after failures."""

from __future__ import annotations

import json
import sqlite3

import pytest

from cli_helpers import assert_user_error, run_cli
from fake_servers import FakeLLMServer, Step
from tracegym.judges import JudgeSettings
from tracegym.judges.llm import VerdictParseError
from tracegym.judges.rubric_writer import parse_rubric, write_rubrics
from tracegym.samples import Sample

ACTS = [
    {"act": "CONFIRM", "slot": "restaurant_name", "values": ["Sino"], "canonical_values": ["Sino"]},
    {"act": "CONFIRM", "slot": "time", "values": ["7 pm"], "canonical_values": ["19:00"]},
]


def sample(index: int) -> Sample:
    return Sample(
        id=f"d{index}-turn3",
        dialogue_id=f"d{index}",
        turn_index=3,
        prompt=f"User: Book Sino for {index + 2} people.\nAssistant: What time?\nUser: 7 pm.",
        ground_truth=f"Please confirm: a table for {index + 2} at Sino at 7 pm.",
        rubric="- compiled from acts",
        task_description="Make a table reservation at a restaurant",
        messages=[{"role": "system", "content": "Restaurants_2: slots restaurant_name, time, party_size"}],
        acts=ACTS,
        service="Restaurants_2",
    )


def samples_file(tmp_path, count: int = 3) -> str:
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps(sample(i).to_dict()) + "\n" for i in range(count)))
    return str(path)


def summary_of(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.strip().splitlines())


@pytest.mark.parametrize("teacher", ["openai", "gemini"])
def test_rubrics_are_written_grounded_and_a_rerun_asks_nothing(tmp_path, teacher):
    out = tmp_path / "with_rubrics.jsonl"
    with FakeLLMServer() as server:
        url = server.openai_url if teacher == "openai" else server.url
        args = (
            "rubrics",
            "--in_path",
            samples_file(tmp_path),
            "--out_path",
            out,
            "--teacher",
            teacher,
            "--judge_model",
            "fake-teacher",
            "--base_url",
            url,
        )
        first = run_cli(*args)
        asked = server.request_count
        sent = json.dumps([request.body for request in server.requests])  # concurrent: any order
        second = run_cli(*args)
        assert server.request_count == asked == 3  # the re-run is answered from the cache

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert summary_of(first.stdout)["written"] == "3" and summary_of(second.stdout)["from_cache"] == "3"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3
    for index, row in enumerate(rows):
        lines = row["rubric"].splitlines()
        assert 5 <= len(lines) <= 15 and lines[0].startswith("- [essential] ")
        assert f"a table for {index + 2} at Sino" in row["rubric"]  # grounded in this sample's reference
        assert row["rubric_writer"].startswith(f"{teacher}:fake-teacher:rubric_writer_v1:")
    # The teacher saw the reference, its acts and the schema.
    assert "CONFIRM(time=7 pm)" in sent and "Restaurants_2: slots" in sent and "a table for 2 at Sino" in sent
    with sqlite3.connect(f"{out}.cache.sqlite") as connection:
        assert connection.execute("SELECT count(*) FROM rubrics").fetchone()[0] == 3


def test_a_failed_rubric_keeps_the_old_one_and_a_rerun_asks_only_for_it(tmp_path):
    out = tmp_path / "with_rubrics.jsonl"
    with FakeLLMServer() as server:
        args = (
            "rubrics",
            "--in_path",
            samples_file(tmp_path),
            "--out_path",
            out,
            "--teacher",
            "gemini",
            "--judge_model",
            "fake-teacher",
            "--base_url",
            server.url,
        )
        server.script("400")  # a client error: never retried, so that sample fails
        first = run_cli(*args)
        assert server.request_count == 3
        failed = [json.loads(line) for line in out.read_text().splitlines()]
        second = run_cli(*args)
        assert server.request_count == 4  # only the missing rubric

    assert first.returncode == 0, first.stderr
    assert summary_of(first.stdout)["failures"] == "1" and summary_of(first.stdout)["written"] == "2"
    assert [row["rubric"] for row in failed].count("- compiled from acts") == 1  # the old rubric kept
    assert summary_of(second.stdout)["written"] == "1" and summary_of(second.stdout)["from_cache"] == "2"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(row["rubric"].startswith("- [essential]") for row in rows)


def test_an_invalid_rubric_gets_one_repair_request(tmp_path):
    with FakeLLMServer() as server:
        server.script(Step("text", '{"reasoning": "x", "items": []}'))
        settings = JudgeSettings(judge="openai", judge_model="fake-teacher", base_url=server.openai_url)
        [written] = write_rubrics([sample(0)], settings, progress=False)
        assert server.request_count == 2
        repair = server.requests[1].body["messages"][-1]["content"]
    assert "5 to 15 items" in repair and written.rubric.startswith("- [essential]")


def test_write_rubrics_serves_prepare(tmp_path):
    with FakeLLMServer() as server:
        settings = JudgeSettings(
            judge="openai", judge_model="fake-teacher", base_url=server.openai_url, cache=str(tmp_path / "cache.sqlite")
        )
        written = write_rubrics([sample(0), sample(1)], settings, progress=False)
    assert [s.id for s in written] == ["d0-turn3", "d1-turn3"]
    assert all(s.rubric.count("\n- [") >= 4 for s in written)


def test_rubric_parsing_is_strict():
    items = [{"tag": "essential", "item": f"Item {i}"} for i in range(5)]
    assert len(parse_rubric(json.dumps({"reasoning": "", "items": items}))) == 5
    bad = [
        {"reasoning": "", "items": items[:4]},  # too few
        {"reasoning": "", "items": items * 4},  # too many (and repeated)
        {"reasoning": "", "items": [*items[:4], {"tag": "nice", "item": "x"}]},  # unknown tag
        {"reasoning": "", "items": [*items[:4], {"tag": "optional", "item": "  "}]},  # empty item
        {"reasoning": "", "items": [{"tag": "optional", "item": f"Item {i}"} for i in range(5)]},  # no essential
    ]
    for answer in bad:
        with pytest.raises(VerdictParseError):
            parse_rubric(json.dumps(answer))


def test_bad_usage_is_one_error_line(tmp_path):
    out = tmp_path / "o.jsonl"
    assert_user_error(run_cli("rubrics", "--in_path", samples_file(tmp_path), "--out_path", out), "--teacher")
    assert_user_error(
        run_cli("rubrics", "--in_path", samples_file(tmp_path), "--out_path", out, "--teacher", "acts"), "acts"
    )
    assert_user_error(
        run_cli("rubrics", "--in_path", tmp_path / "missing.jsonl", "--out_path", out, "--teacher", "gemini"),
        "missing.jsonl",
    )
    assert not out.exists()
