"""`tracegym rubrics`: a teacher writes per-sample rubrics through the real CLI and SDK against a local server;
strict parsing, the cache, who wrote each rubric, failures counted, and the stop past --max_rubric_failures (exit
3) that a re-run resumes."""

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
        rubric_writer="offline",
        task_description="Make a table reservation at a restaurant",
        messages=[{"role": "system", "content": "Restaurants_2: slots restaurant_name, time, party_size"}],
        acts=ACTS,
        service="Restaurants_2",
    )


GARBAGE = "Sure! A good reply is polite and helpful."  # an answer, but not a rubric


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


def rows_of(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def cached_rubrics(out) -> int:
    with sqlite3.connect(f"{out}.cache.sqlite") as connection:
        return connection.execute("SELECT count(*) FROM rubrics").fetchone()[0]


def stop_line(result) -> str:
    """The one `stopped:` line of a clean stop (exit 3)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 3 and len(lines) == 1 and lines[0].startswith("stopped: "), result.stderr
    return lines[0]


def test_a_failure_is_counted_stops_past_the_limit_and_each_record_says_who_wrote_its_rubric(tmp_path):
    out = tmp_path / "with_rubrics.jsonl"
    in_path = samples_file(tmp_path)
    with FakeLLMServer() as server:
        args = [
            "rubrics",
            "--in_path",
            in_path,
            "--out_path",
            out,
            "--teacher",
            "gemini",
            "--judge_model",
            "fake-teacher",
            "--base_url",
            server.url,
        ]
        server.script("400")  # a client error: never retried, so that sample fails
        stopped = run_cli(*args)  # 1 of 3 failed: past the default share (0.02)
        assert server.request_count == 3 and not out.exists() and cached_rubrics(out) == 2
        server.script("400")  # the same sample fails again; a share of 0.5 lets it keep its offline rubric
        accepted = run_cli(*args, "--max_rubric_failures", "0.5")
        assert server.request_count == 4  # only the missing rubric was asked for
        failed = rows_of(out)
        healthy = run_cli(*args)
        assert server.request_count == 5

    line = stop_line(stopped)
    assert line.startswith("stopped: rubrics: 2 of 3 written by fake-teacher (gemini), 1 failed (33%): ")
    assert "--max_rubric_failures 0.02" in line and f"{out} was not written" in line
    assert f"the 2 rubrics written are saved in --cache {out}.cache.sqlite; re-run the same command" in line
    assert "400" in line.split("first failure:")[1]

    assert accepted.returncode == 0, accepted.stderr
    assert summary_of(accepted.stdout)["failures"] == "1" and summary_of(accepted.stdout)["from_cache"] == "2"
    assert (
        "rubrics: 2 of 3 written by fake-teacher (gemini) (2 from the cache), 1 failed (33%; kept their offline "
        "rubric)" in accepted.stderr
    )
    assert sorted(row["rubric_writer"].split(":")[0] for row in failed) == ["gemini", "gemini", "offline"]
    [kept] = [row for row in failed if row["rubric_writer"] == "offline"]
    assert kept["rubric"] == "- compiled from acts"  # the file claims no teacher rubric that was not written

    assert healthy.returncode == 0, healthy.stderr
    assert summary_of(healthy.stdout)["written"] == "1" and summary_of(healthy.stdout)["from_cache"] == "2"
    assert "rubrics: 3 of 3 written by fake-teacher (gemini) (2 from the cache)" in healthy.stderr
    assert "failed" not in healthy.stderr
    rows = rows_of(out)
    assert all(row["rubric"].startswith("- [essential]") for row in rows)
    assert all(row["rubric_writer"].startswith("gemini:fake-teacher:rubric_writer_v1:") for row in rows)


@pytest.mark.parametrize("teacher", ["openai", "gemini"])
def test_a_teacher_that_answers_garbage_stops_early_and_a_rerun_resumes_from_the_cache(tmp_path, teacher):
    """4 rubrics written, then the teacher answers text that is not a rubric (and again to the repair request):
    the run stops asking, exits 3, writes no file; the re-run against a healthy teacher asks only for the rest."""
    out = tmp_path / "with_rubrics.jsonl"
    in_path = samples_file(tmp_path, count=10)
    with FakeLLMServer() as broken, FakeLLMServer() as fixed:

        def args(server: FakeLLMServer) -> list:
            url = server.openai_url if teacher == "openai" else server.url
            return [
                "rubrics",
                "--in_path",
                in_path,
                "--out_path",
                out,
                "--teacher",
                teacher,
                "--judge_model",
                "fake-teacher",
                "--base_url",
                url,
                "--concurrency",
                "1",
            ]

        broken.script(*["ok"] * 4, *[Step("text", GARBAGE)] * 40)
        stopped = run_cli(*args(broken))
        assert broken.request_count == 4 + 2  # the 5th sample failed after one repair; the other 5 not asked
        assert not out.exists() and cached_rubrics(out) == 4
        resumed = run_cli(*args(fixed))
        assert fixed.request_count == 6

    line = stop_line(stopped)
    assert line.startswith(
        f"stopped: rubrics: 4 of 10 written by fake-teacher ({teacher}), 1 failed (10%), 5 not asked: "
    )
    assert "first failure: d4-turn3: unparseable verdict after one repair" in line
    assert resumed.returncode == 0, resumed.stderr
    assert summary_of(resumed.stdout)["written"] == "6" and summary_of(resumed.stdout)["from_cache"] == "4"
    assert f"rubrics: 10 of 10 written by fake-teacher ({teacher}) (4 from the cache)" in resumed.stderr
    assert all(row["rubric_writer"].startswith(f"{teacher}:fake-teacher:") for row in rows_of(out))


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
    no_key = run_cli(
        "rubrics",
        "--in_path",
        samples_file(tmp_path),
        "--out_path",
        out,
        "--teacher",
        "gemini",
        env={"GEMINI_API_KEY": "", "GOOGLE_API_KEY": ""},
        cwd=tmp_path,
    )
    assert_user_error(no_key, "GEMINI_API_KEY")
    assert_user_error(
        run_cli("rubrics", "--in_path", tmp_path / "missing.jsonl", "--out_path", out, "--teacher", "gemini"),
        "missing.jsonl",
    )
    assert not out.exists()


def test_who_wrote_a_rubric_survives_a_round_trip_and_older_files_load():
    written = Sample.from_dict(json.loads(json.dumps(sample(0).to_dict())))
    assert written.rubric_writer == "offline" and "rubric_writer" not in written.extra
    older = {key: value for key, value in sample(0).to_dict().items() if key != "rubric_writer"}
    assert Sample.from_dict(older).rubric_writer == ""  # before the field: not recorded
    assert Sample.from_dict({**older, "rubric_writer": None}).rubric_writer == ""  # a failed teacher run wrote null
