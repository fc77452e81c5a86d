"""`tracegym split` on prepared samples: by dialogue, so no dialogue has turns on both sides."""

from __future__ import annotations

import json

from cli_helpers import run_cli


def test_split_keeps_each_dialogue_on_one_side(tmp_path):
    samples = tmp_path / "samples.jsonl"
    assert run_cli("prepare", "--out_path", samples).returncode == 0
    train, held_out = tmp_path / "train.jsonl", tmp_path / "eval.jsonl"
    result = run_cli(
        "split",
        "--in_path",
        samples,
        "--train_out",
        train,
        "--eval_out",
        held_out,
        "--eval_fraction",
        "0.2",
        "--seed",
        "3",
    )
    assert result.returncode == 0, result.stderr
    dialogues = lambda path: [json.loads(line)["dialogue_id"] for line in path.read_text().splitlines()]  # noqa: E731
    train_ids, eval_ids = dialogues(train), dialogues(held_out)
    assert not set(train_ids) & set(eval_ids)
    assert len(set(eval_ids)) == 20 and len(train_ids) + len(eval_ids) == len(samples.read_text().splitlines())
