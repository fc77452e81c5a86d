"""Chat-log traces (`tracegym prepare --traces F --format chat`) and the in-process API other parts call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import assert_user_error, run_cli
from tracegym.traces.chat import read_chat_traces
from tracegym.traces.compile import CompileOptions, compile_sgd
from tracegym.traces.sgd import bundled_sgd_root

RECORDS = [
    {
        "id": "support-1",
        "metadata": {"channel": "web"},
        "messages": [
            {"role": "system", "content": "You help with orders."},
            {"role": "user", "content": "Where is my order?"},
            {"role": "assistant", "content": "Could you give me the order number?"},
            {"role": "user", "content": "It is 42."},
            {"role": "assistant", "content": [{"type": "text", "text": "Order 42 ships today."}]},
        ],
    },
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
]


def prepare_chat(tmp_path: Path, text: str, *args: str):
    traces = tmp_path / "logs.jsonl"
    traces.write_text(text)
    out = tmp_path / "out.jsonl"
    return run_cli("prepare", "--traces", traces, "--format", "chat", "--out_path", out, *args), out


def test_one_sample_per_assistant_turn_from_jsonl(tmp_path):
    result, out = prepare_chat(tmp_path, "\n".join(json.dumps(r) for r in RECORDS) + "\n")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["id"] for row in rows] == ["support-1-turn2", "support-1-turn4", "chat-1-turn1"]
    first, second, third = rows
    assert first["messages"] == RECORDS[0]["messages"][:2]
    assert second["ground_truth"] == "Order 42 ships today."
    assert (
        second["prompt"] == "User: Where is my order?\nAssistant: Could you give me the order number?\nUser: It is 42."
    )
    assert second["metadata"] == {"channel": "web"} and third["metadata"] == {}
    assert third["dialogue_id"] == "chat-1" and third["turn_index"] == 1
    for row in rows:
        assert row["source"] == "chat" and row["service"] is None and row["acts"] == []
        assert row["service_call"] is None and row["service_results"] is None
        assert row["schema"] is None and row["intent"] is None and row["calls"] == []
        assert row["framing"] == {"acts": False, "placeholders": False, "constrained": False, "compact": False}


def test_json_array_and_context_turns(tmp_path):
    result, out = prepare_chat(tmp_path, json.dumps(RECORDS), "--context_turns", "1")
    assert result.returncode == 0, result.stderr
    second = json.loads(out.read_text().splitlines()[1])
    assert second["messages"] == [RECORDS[0]["messages"][0], RECORDS[0]["messages"][3]]


@pytest.mark.parametrize(
    "text, fragments",
    [
        ('{"messages": "hello"}\n', ["line 1", "list of messages"]),
        ('{"messages": [{"role": "user"}]}\n', ["line 1", "message 0", "role/content"]),
        ('{"messages": []}\n{"messages": [{"role": "user", "content": 3}]}\n', ["line 2 (record 1)", "message 0"]),
        ('[{"messages": [{"content": "x"}]}]', ["record 0", "role/content"]),
        ('{"messages": [\n', ["line 1 column", "malformed JSON"]),
        ('[{"messages": []}', ["malformed or truncated JSON"]),
    ],
)
def test_bad_chat_records(tmp_path, text, fragments):
    result, out = prepare_chat(tmp_path, text)
    assert_user_error(result, "logs.jsonl", *fragments)
    assert not out.exists()


def test_python_api_for_other_parts(tmp_path):
    assert (bundled_sgd_root() / "train" / "schema.json").is_file()
    samples = list(compile_sgd(bundled_sgd_root(), "dev", CompileOptions(max_dialogues=2, seed=1)))
    assert len({s.dialogue_id for s in samples}) == 2 and all(s.source == "sgd" for s in samples)
    traces = tmp_path / "t.json"
    traces.write_text(json.dumps(RECORDS))
    assert [s.ground_truth for s in read_chat_traces(traces)][-1] == "Hello!"


def _copy_split(tmp_path: Path, compress: bool) -> Path:
    """The bundled dev split under tmp_path, its dialogue files gzip-compressed or not."""
    import gzip
    import shutil

    source = bundled_sgd_root() / "dev"
    target = tmp_path / "sgd" / "dev"
    target.mkdir(parents=True)
    shutil.copy(source / "schema.json", target / "schema.json")
    for path in sorted(source.glob("dialogues_*.json")):
        if compress:
            (target / f"{path.name}.gz").write_bytes(gzip.compress(path.read_bytes()))
        else:
            shutil.copy(path, target / path.name)
    return tmp_path / "sgd"


def test_gzip_compressed_dialogue_files_give_the_same_samples(tmp_path):
    plain = [s.to_dict() for s in compile_sgd(_copy_split(tmp_path / "a", compress=False), "dev")]
    packed = [s.to_dict() for s in compile_sgd(_copy_split(tmp_path / "b", compress=True), "dev")]
    assert plain and packed == plain


def test_a_file_there_both_plain_and_compressed_is_refused(tmp_path):
    root = _copy_split(tmp_path, compress=True)
    (root / "dev" / "dialogues_001.json").write_bytes(b"[]")
    result = run_cli("prepare", "--sgd_root", root, "--split", "dev", "--out_path", tmp_path / "out.jsonl")
    assert_user_error(result, "dialogues_001.json is there both plain and as dialogues_001.json.gz")
    assert not (tmp_path / "out.jsonl").exists()


def test_a_truncated_gzip_file_is_a_clear_error(tmp_path):
    root = _copy_split(tmp_path, compress=True)
    packed = root / "dev" / "dialogues_001.json.gz"
    packed.write_bytes(packed.read_bytes()[:200])
    result = run_cli("prepare", "--sgd_root", root, "--split", "dev", "--out_path", tmp_path / "out.jsonl")
    assert_user_error(result, "dialogues_001.json.gz: not a complete gzip file")
    assert not (tmp_path / "out.jsonl").exists()


def test_the_bundled_train_split_is_read_from_its_compressed_files():
    from tracegym.traces.sgd import bundled_sgd_train_root, dialogue_files, iter_dialogues

    files = dialogue_files(bundled_sgd_train_root(), "train")
    assert len(files) == 20 and all(p.name.endswith(".json.gz") for p in files)
    assert sum(1 for _ in iter_dialogues(bundled_sgd_train_root(), "train")) == 2478


def test_the_bundled_held_out_split_holds_every_sample_dev_and_test_dialogue():
    """The demo evaluates on sgd_heldout; the agreement set's hand labels name the sample's turns, so they must be
    there too, unchanged."""
    from tracegym.traces.sgd import bundled_sgd_heldout_root, dialogue_files, iter_dialogues

    for split in ("dev", "test"):
        files = dialogue_files(bundled_sgd_heldout_root(), split)
        assert files and all(p.name.endswith(".json.gz") for p in files)
        held_out = {d["dialogue_id"]: d for _, _, d in iter_dialogues(bundled_sgd_heldout_root(), split)}
        sample = {d["dialogue_id"]: d for _, _, d in iter_dialogues(bundled_sgd_root(), split)}
        assert len(held_out) == 200
        assert {key: held_out.get(key) for key in sample} == sample
