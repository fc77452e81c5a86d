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
        assert row["framing"] == {"acts": False, "placeholders": False, "constrained": False}


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
