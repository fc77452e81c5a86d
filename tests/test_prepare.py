"""`tracegym prepare` through the real CLI: counts, fields, the student's system message, a golden record,
determinism, loading with datasets, and every bad input the issue names."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import REPO_ROOT, SHARED_SGD, assert_user_error, run_cli
from tracegym.errors import UserError
from tracegym.samples import Sample, read_samples
from tracegym.traces import render
from tracegym.traces.sgd import bundled_sgd_root

GOLDEN = REPO_ROOT / "tests" / "golden" / "prepare_dev_record.json"
FIELD_TYPES = {
    "id": str,
    "dialogue_id": str,
    "turn_index": int,
    "prompt": str,
    "ground_truth": str,
    "rubric": str,
    "rubric_writer": str,
    "task_description": str,
    "messages": list,
    "split": str,
    "unseen_service": bool,
    "acts": list,
    "source": str,
    "metadata": dict,
    "schema": dict,
    "intent": str,
    "calls": list,
    "framing": dict,
}


def prepare(tmp_path: Path, *args: str, name: str = "out.jsonl") -> list[dict]:
    out = tmp_path / name
    result = run_cli("prepare", "--out_path", out, *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.fixture(scope="module")
def dev_rows(tmp_path_factory) -> list[dict]:
    return prepare(tmp_path_factory.mktemp("dev"), "--split", "dev")


def system_turns(split: str) -> int:
    total = 0
    for path in sorted((bundled_sgd_root() / split).glob("dialogues_*.json")):
        total += sum(t["speaker"] == "SYSTEM" for d in json.loads(path.read_text()) for t in d["turns"])
    return total


def test_one_sample_per_system_turn_of_the_bundled_split(dev_rows):
    assert len(dev_rows) == system_turns("dev") > 200
    assert len({row["dialogue_id"] for row in dev_rows}) == 40
    assert len({row["id"] for row in dev_rows}) == len(dev_rows)


def test_default_is_the_bundled_train_split(tmp_path):
    rows = prepare(tmp_path)
    assert len(rows) == system_turns("train")
    assert {row["split"] for row in rows} == {"train"}
    assert not any(row["unseen_service"] for row in rows)


def test_every_field_present_with_a_stable_type(dev_rows):
    for row in dev_rows:
        for name, kind in FIELD_TYPES.items():
            assert isinstance(row[name], kind), (name, row["id"])
        assert isinstance(row["service"], str)
        assert row["service_call"] is None or set(row["service_call"]) == {"method", "parameters"}
        assert (row["service_results"] is None) == (row["service_call"] is None)
        assert row["id"] == f"{row['dialogue_id']}-turn{row['turn_index']}"
        assert row["source"] == "sgd" and row["split"] == "dev"
        assert all(set(act) == {"act", "slot", "values", "canonical_values"} for act in row["acts"])
        assert row["messages"][0]["role"] == "system" and row["messages"][-1]["role"] == "user"
        assert row["rubric"].startswith("- ") and row["rubric_writer"] == "offline"  # compiled from the acts
    assert any(row["unseen_service"] for row in dev_rows) and not all(row["unseen_service"] for row in dev_rows)


def test_typed_context_is_what_the_system_message_was_rendered_from(dev_rows):
    """Judges read the typed fields; the system message is written from them and from nothing else."""
    for row in dev_rows:
        sample = Sample.from_dict(row)
        assert sample.schema is not None and sample.schema.name == row["service"]
        assert row["intent"] is None or sample.schema.intent(row["intent"]) is not None or row["service_call"]
        assert row["framing"] == {"acts": False, "placeholders": False, "constrained": False, "compact": False}
        assert render.sample_system_message(sample) == row["messages"][0]["content"]
        this_turn = [call["this_turn"] for call in row["calls"]]
        assert this_turn == sorted(this_turn) and any(this_turn) == (row["service_call"] is not None)
        assert all(len(call["results"]) == min(3, call["result_count"]) for call in row["calls"])
        assert Sample.from_dict(json.loads(json.dumps(sample.to_dict()))).to_dict() == row


def test_include_acts_is_recorded_as_the_framing(tmp_path):
    rows = prepare(tmp_path, "--split", "dev", "--include_acts", "--max_samples", "5")
    assert all(
        row["framing"] == {"acts": True, "placeholders": False, "constrained": False, "compact": False} for row in rows
    )
    assert all(render.sample_system_message(Sample.from_dict(row)) == row["messages"][0]["content"] for row in rows)


def test_compact_shows_the_service_the_acts_and_the_last_user_turn(tmp_path):
    full = prepare(tmp_path, "--split", "dev", "--include_acts", "--max_samples", "40", name="full.jsonl")
    rows = prepare(tmp_path, "--split", "dev", "--include_acts", "--compact", "--max_samples", "40")
    assert [row["ground_truth"] for row in rows] == [row["ground_truth"] for row in full]
    for row, whole in zip(rows, full):
        assert row["framing"] == {"acts": True, "placeholders": False, "constrained": False, "compact": True}
        system = row["messages"][0]["content"]
        assert system.splitlines()[0] == f"Service: {row['service']}, intent {row['intent']}"
        acts_line = whole["messages"][0]["content"].split("\n\n")[-1]
        assert system.splitlines()[1] == acts_line  # the same numbered acts as the full framing's
        assert "Schema of" not in system and "Service calls" not in system
        assert row["messages"][1:] == whole["messages"][-1:]  # the last user turn, nothing older
        assert render.sample_system_message(Sample.from_dict(row)) == system
    longer = prepare(tmp_path, "--split", "dev", "--include_acts", "--compact", "--context_turns", "3", name="3.jsonl")
    assert max(len(row["messages"]) for row in longer) == 4


def test_compact_needs_the_acts(tmp_path):
    out = tmp_path / "out.jsonl"
    assert_user_error(run_cli("prepare", "--split", "dev", "--compact", "--out_path", out), "--include_acts")
    assert not out.exists()


def test_seen_in_counts_services_as_seen_by_another_train_split(tmp_path):
    from tracegym.traces.sgd import bundled_sgd_train_root

    own = prepare(tmp_path, "--split", "dev", name="own.jsonl")
    wider = prepare(tmp_path, "--split", "dev", "--seen_in", str(bundled_sgd_train_root()), name="wide.jsonl")
    newly_seen = {row["service"] for row, other in zip(own, wider) if row["unseen_service"] != other["unseen_service"]}
    assert newly_seen == {"RentalCars_1"}  # in the bundled train split, not in the sample's 100 train dialogues
    missing = run_cli("prepare", "--split", "dev", "--seen_in", tmp_path, "--out_path", tmp_path / "x.jsonl")
    assert_user_error(missing, "--seen_in")


def test_files_from_before_the_typed_context_fail_with_one_clear_error(tmp_path, dev_rows):
    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps(_without_typed_context(row)) + "\n" for row in dev_rows[:3]))
    with pytest.raises(UserError, match=r"record 0: written by an older `tracegym prepare`.*re-run `tracegym prepare`"):
        read_samples(old)
    result = run_cli("judge", "--in_path", old, "--out_path", tmp_path / "scored.jsonl", "--judge", "acts")
    assert_user_error(result, "re-run `tracegym prepare`")
    assert result.stderr.count("error:") == 1


def test_hand_made_records_still_load(tmp_path):
    rows = [
        {"id": "a", "dialogue_id": "d", "turn_index": 1, "prompt": "User: hi", "ground_truth": "Hello."},
        {
            "id": "b",
            "dialogue_id": "d",
            "turn_index": 3,
            "prompt": "User: a table at Sino",
            "ground_truth": "Sino it is.",
            "acts": [{"act": "OFFER", "slot": "restaurant_name", "values": ["Sino"]}],
            "service": "Restaurants_2",
        },
    ]
    path = tmp_path / "hand.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    first, second = read_samples(path)
    assert first.acts == [] and first.schema is None and first.calls == [] and not first.framing.acts
    assert second.acts[0].values == ("Sino",) and second.acts[0].canonical_values == ()
    assert second.to_dict()["acts"] == [
        {"act": "OFFER", "slot": "restaurant_name", "values": ["Sino"], "canonical_values": []}
    ]


def _without_typed_context(row: dict) -> dict:
    return {key: value for key, value in row.items() if key not in ("schema", "intent", "calls", "framing")}


def test_prompt_is_the_seed_form_of_the_history(dev_rows):
    row = next(r for r in dev_rows if r["turn_index"] == 3)
    history = row["messages"][1:]
    assert row["prompt"] == "\n".join(
        ("User: " if m["role"] == "user" else "Assistant: ") + m["content"] for m in history
    )
    assert row["prompt"].startswith("User: ") and row["prompt"].count("\nAssistant: ") == 1


def test_system_message_carries_schema_date_calls_and_status(dev_rows):
    row = next(r for r in dev_rows if r["service"] == "Restaurants_2" and r["service_call"])
    system = row["messages"][0]["content"]
    assert "Restaurants_2" in system.splitlines()[0] and row["task_description"] in system.splitlines()[0]
    assert "Today is Friday, 2019-03-01." in system
    assert "- restaurant_name: " in system and "has_seating_outdoors" in system and "(possible values: " in system
    assert "Optional slots (default): " in system
    method = row["service_call"]["method"]
    assert f"Restaurants_2.{method}(" in system and "(this turn)" in system
    first = row["service_results"][0] if row["service_results"] else {}
    assert all(f"{slot}={value}" in system for slot, value in first.items())
    assert "Transaction status: " in system
    assert "OFFER(" not in system and "dialogue acts" not in system


def test_results_past_three_are_cut_with_a_marker(dev_rows):
    row = next(r for r in dev_rows if r["service_results"] and len(r["service_results"]) > 3)
    system = row["messages"][0]["content"]
    assert f"… and {len(row['service_results']) - 3} more" in system
    assert "; ".join(f"{k}={v}" for k, v in row["service_results"][3].items()) not in system


def test_include_acts_and_context_turns(tmp_path):
    rows = prepare(tmp_path, "--split", "dev", "--include_acts", "--context_turns", "1", "--max_dialogues", "2")
    for row in rows:
        acts = row["messages"][0]["content"].split("(dialogue acts): ")[1]
        assert acts.split(", ")[0].startswith(row["acts"][0]["act"])
        assert len(row["messages"]) == 2 and row["prompt"].count("\n") == 0


def test_services_and_max_samples_filter(tmp_path):
    rows = prepare(tmp_path, "--split", "dev", "--services", "Alarm_1,NotAService", "--max_samples", "4")
    assert len(rows) == 4 and {row["service"] for row in rows} == {"Alarm_1"}


def test_golden_record(tmp_path):
    """Record 2 of `tracegym prepare --split dev --max_samples 3`, checked in: a search call with 4 results (one
    cut), an OFFER and an INFORM_COUNT. Regenerate it with that command when the format changes on purpose."""
    record = prepare(tmp_path, "--split", "dev", "--max_samples", "3")[2]
    assert record == json.loads(GOLDEN.read_text())


def test_same_seed_same_bytes_other_seed_other_dialogues(tmp_path):
    def output(seed: str, name: str) -> bytes:
        out = tmp_path / name
        assert run_cli("prepare", "--max_dialogues", "5", "--seed", seed, "--out_path", out).returncode == 0
        return out.read_bytes()

    assert output("7", "a.jsonl") == output("7", "b.jsonl")
    assert output("7", "a.jsonl") != output("8", "c.jsonl")


def test_output_loads_with_datasets(tmp_path):
    datasets = pytest.importorskip("datasets")
    prepare(tmp_path, "--split", "test")
    loaded = datasets.load_dataset("json", data_files=str(tmp_path / "out.jsonl"), split="train")
    assert len(loaded) == system_turns("test")
    assert {"messages", "acts", "service_results", "unseen_service", "schema", "calls", "framing"} <= set(
        loaded.column_names
    )
    from_file = read_samples(tmp_path / "out.jsonl")
    from_datasets = [Sample.from_dict(row) for row in loaded.select(range(50))]
    for mine, theirs in zip(from_file, from_datasets):  # the typed fields survive Arrow's filled-in nulls
        assert (mine.acts, mine.schema, mine.calls, mine.framing) == (
            theirs.acts,
            theirs.schema,
            theirs.calls,
            theirs.framing,
        )


def test_teacher_writes_rubrics_during_prepare(tmp_path):
    from fake_servers import FakeLLMServer

    out = tmp_path / "o.jsonl"
    with FakeLLMServer() as server:
        result = run_cli(
            "prepare",
            "--split",
            "dev",
            "--max_samples",
            "3",
            "--with_rubric",
            "--teacher",
            "openai",
            "--teacher_model",
            "fake-teacher",
            "--base_url",
            server.openai_url,
            "--out_path",
            out,
        )
        assert server.request_count == 3
    assert result.returncode == 0, result.stderr
    assert "rubrics: 3 of 3 written by fake-teacher (openai)" in result.stderr and "failed" not in result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3
    assert all(row["rubric"].startswith("- [essential] ") for row in rows)
    assert all(row["rubric_writer"].startswith("openai:fake-teacher:rubric_writer_v1:") for row in rows)


# The seed's own command, as its README gives it; Gemini is the seed's teacher.
SEED_SCRIPT = REPO_ROOT / "scripts" / "prepare_sgd_env.py"
NO_GEMINI_KEY = {"GEMINI_API_KEY": "", "GOOGLE_API_KEY": "", "GEMINI_MODEL": "", "GEMINI_BASE_URL": ""}


def run_seed_script(tmp_path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`python scripts/prepare_sgd_env.py <args>` from an empty folder (no .env), as the seed's user runs it."""
    return subprocess.run(
        [sys.executable, str(SEED_SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, **env},
        timeout=300,
    )


def test_the_seed_command_with_rubric_and_no_key_says_which_key(tmp_path):
    out = tmp_path / "o.jsonl"
    result = run_seed_script(
        tmp_path, "--sgd_root", bundled_sgd_root(), "--out_path", out, "--with_rubric", env=NO_GEMINI_KEY
    )
    assert_user_error(result, "gemini", "GEMINI_API_KEY")
    assert not out.exists() and not Path(f"{out}.cache.sqlite").exists()


def test_the_seed_command_with_rubric_asks_gemini(tmp_path):
    """GEMINI_BASE_URL points the google-genai SDK at the local stand-in; the model is GEMINI_MODEL's default."""
    from fake_servers import FakeLLMServer

    out = tmp_path / "o.jsonl"
    with FakeLLMServer() as server:
        env = {**NO_GEMINI_KEY, "GEMINI_API_KEY": "AIza-local-test-key-000", "GEMINI_BASE_URL": server.url}
        args = ("--sgd_root", bundled_sgd_root(), "--out_path", out, "--with_rubric", "--max_samples", "12")
        result = run_seed_script(tmp_path, *args, env=env)
        assert server.request_count == 12
        assert all(request.path.endswith("/models/gemini-2.5-flash:generateContent") for request in server.requests)
    assert result.returncode == 0, result.stderr
    assert "rubrics: 12 of 12 written by gemini-2.5-flash (gemini)" in result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 12 and all(row["rubric"].startswith("- [essential] ") for row in rows)
    assert all(row["rubric_writer"].startswith("gemini:gemini-2.5-flash:rubric_writer_v1:") for row in rows)


def test_a_gemini_teacher_that_answers_garbage_stops_with_exit_3_and_writes_nothing(tmp_path):
    """The issue's case: 34 samples, a server that answers text that is not a rubric. Before, exit 0 and 34 offline
    rubrics with `rubric_writer: null`; now a clean stop after the first failures, no output file, a count."""
    from fake_servers import FakeLLMServer, Step

    out = tmp_path / "o.jsonl"
    with FakeLLMServer() as server:
        server.script(*[Step("text", "This reply is good. Score: 10/10")] * 200)
        result = run_cli(
            "prepare",
            "--split",
            "dev",
            "--max_samples",
            "34",
            "--with_rubric",
            "--teacher",
            "gemini",
            "--base_url",
            server.url,
            "--out_path",
            out,
            env={"GEMINI_MODEL": ""},
        )
        asked = server.request_count
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 3 and len(lines) == 1, result.stderr
    assert lines[0].startswith("stopped: rubrics: 0 of 34 written by gemini-2.5-flash (gemini), ")
    assert (
        "not asked" in lines[0] and "--max_rubric_failures 0.02" in lines[0] and "o.jsonl was not written" in lines[0]
    )
    assert "first failure: " in lines[0] and "unparseable verdict after one repair" in lines[0]
    assert asked <= 2 * 8  # no more than the 8 samples in flight when the first failed, each with its repair
    assert not out.exists()


# ---------------------------------------------------------------------------------------------------- bad input


@pytest.fixture
def sgd_copy(tmp_path) -> Path:
    root = tmp_path / "sgd"
    for split in ("train", "dev"):
        shutil.copytree(bundled_sgd_root() / split, root / split)
    return root


def assert_fails(tmp_path: Path, args: list, *fragments: str) -> None:
    out = tmp_path / "out.jsonl"
    assert_user_error(run_cli("prepare", "--out_path", out, *args), *fragments)
    assert not out.exists() and not list(tmp_path.glob(".out.jsonl.*"))


def test_missing_root(tmp_path):
    assert_fails(tmp_path, ["--sgd_root", tmp_path / "nowhere"], "nowhere", "no such folder")


def test_unknown_split(tmp_path, sgd_copy):
    assert_fails(tmp_path, ["--sgd_root", sgd_copy, "--split", "validation"], "--split", "validation")
    assert_fails(tmp_path, ["--sgd_root", sgd_copy, "--split", "test"], "test", "no such split folder")


def test_missing_schema(tmp_path, sgd_copy):
    (sgd_copy / "dev" / "schema.json").unlink()
    assert_fails(tmp_path, ["--sgd_root", sgd_copy, "--split", "dev"], "schema.json", "missing")


def test_truncated_json_names_file_line_and_column(tmp_path, sgd_copy):
    path = sgd_copy / "dev" / "dialogues_002.json"
    path.write_text(path.read_text()[:5000])
    assert_fails(tmp_path, ["--sgd_root", sgd_copy, "--split", "dev"], "dialogues_002.json", "line 1 column")


def test_malformed_json(tmp_path, sgd_copy):
    (sgd_copy / "dev" / "dialogues_001.json").write_text('[{"dialogue_id": "1",,}]')
    assert_fails(tmp_path, ["--sgd_root", sgd_copy, "--split", "dev"], "dialogues_001.json", "malformed")


def test_dialogue_missing_field_names_record(tmp_path, sgd_copy):
    path = sgd_copy / "dev" / "dialogues_002.json"
    dialogues = json.loads(path.read_text())
    del dialogues[3]["turns"][1]["utterance"]
    path.write_text(json.dumps(dialogues))
    assert_fails(tmp_path, ["--sgd_root", sgd_copy, "--split", "dev"], "dialogues_002.json", "record 3", "utterance")


def test_empty_split(tmp_path, sgd_copy):
    for path in (sgd_copy / "dev").glob("dialogues_*.json"):
        path.unlink()
    assert_fails(tmp_path, ["--sgd_root", sgd_copy, "--split", "dev"], "empty split")
    (sgd_copy / "dev" / "dialogues_001.json").write_text("[]")
    assert_fails(tmp_path, ["--sgd_root", sgd_copy, "--split", "dev"], "empty split")


def test_services_naming_nothing_present(tmp_path):
    assert_fails(tmp_path, ["--split", "dev", "--services", "Nope_1"], "Nope_1", "choose from")


@pytest.mark.skipif(not SHARED_SGD.is_dir(), reason="needs the shared SGD copy")
def test_acceptance_full_dev_split(tmp_path):
    """Issue #2's acceptance check: one record per system turn of the shared dev files (19,384)."""
    out = tmp_path / "dev.jsonl"
    result = run_cli("prepare", "--sgd_root", SHARED_SGD, "--split", "dev", "--out_path", out)
    assert result.returncode == 0, result.stderr
    with out.open() as handle:
        count = sum(1 for _ in handle)
    assert count == 19384
    assert "19384 samples from 2098 dialogues" in result.stdout


def test_written_files_get_the_permissions_of_a_plain_open(tmp_path):
    import os
    import stat

    from tracegym.samples import write_json, write_jsonl

    mask = os.umask(0o022)
    try:
        write_jsonl(tmp_path / "rows.jsonl", [{"a": 1}])
        write_json(tmp_path / "doc.json", {"a": 1})
    finally:
        os.umask(mask)
    for name in ("rows.jsonl", "doc.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, "readable by others, as `open` makes it"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no temporary file left"
