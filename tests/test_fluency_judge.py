"""The fluency judge (`--judge fluency`): an n-gram model of the traces' own system turns, through the real CLI."""

from __future__ import annotations

import json

from cli_helpers import assert_user_error, run_cli
from factories import act, restaurant_sample
from tracegym.judges.fluency import FluencyJudge, delexicalised
from tracegym.samples import write_jsonl

GARBLED = "What city are you like to like to found found the the movie?"


def test_values_and_numbers_are_cut_out_before_scoring():
    assert delexicalised("Sino is at 377 Santana Row, $45 at 7:30 pm.", ["Sino", "377 Santana Row"]) == [
        "<v>", "is", "at", "<v>", ",", "<n>", "at", "<n>", ".",
    ]  # fmt: skip


def test_a_reference_reads_as_fluent_and_a_garbled_reply_does_not():
    judge = FluencyJudge()
    sample = restaurant_sample(
        acts=[act("OFFER", "restaurant_name", "Sino")], ground_truth="How about Sino? It is a nice place."
    )
    reference = judge.verdict(sample, sample.ground_truth)
    garbled = judge.verdict(sample, GARBLED)
    assert reference.score >= 0.7 and garbled.score < reference.score
    assert garbled.criteria["fluency_statistic"] < reference.criteria["fluency_statistic"]
    assert judge.fingerprint.startswith("fluency:")


def test_judge_cli_with_fluency_alone_and_in_a_mixture(tmp_path):
    sample = restaurant_sample(acts=[act("REQUEST", "city")], ground_truth="Which city should I search in?")
    rows = [
        {**sample.to_dict(), "response": "Which city should I search in?"},
        {**sample.to_dict(), "response": GARBLED},
    ]
    write_jsonl(tmp_path / "in.jsonl", rows)
    for spec in ("fluency", "similarity+fluency"):
        result = run_cli(
            "judge", "--in_path", tmp_path / "in.jsonl", "--out_path", tmp_path / "out.jsonl", "--judge", spec
        )
        assert result.returncode == 0, result.stderr
        scores = [json.loads(line)["score"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
        assert scores[0] > scores[1], (spec, scores)


def test_a_samples_file_is_a_corpus_and_a_tiny_one_is_refused(tmp_path):
    sample = restaurant_sample(acts=[act("REQUEST", "city")])
    write_jsonl(tmp_path / "in.jsonl", [{**sample.to_dict(), "response": "Which city?"}])
    write_jsonl(tmp_path / "tiny.jsonl", [sample.to_dict()] * 3)
    result = run_cli(
        "judge", "--in_path", tmp_path / "in.jsonl", "--out_path", tmp_path / "out.jsonl",
        "--judge", "fluency", "--fluency_corpus", tmp_path / "tiny.jsonl",
    )  # fmt: skip
    assert_user_error(result, "fluency corpus", "needs at least 50")
    result = run_cli(
        "judge", "--in_path", tmp_path / "in.jsonl", "--out_path", tmp_path / "out.jsonl",
        "--judge", "fluency", "--fluency_corpus", tmp_path / "missing",
    )  # fmt: skip
    assert_user_error(result, "--fluency_corpus", "no such file or folder")
    assert not (tmp_path / "out.jsonl").exists()
