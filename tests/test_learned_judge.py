"""The learned judge (`--judge learned`): the act judge times P(a person accepts), fitted on labelled replies."""

from __future__ import annotations

import json

import pytest

from cli_helpers import assert_user_error, run_cli
from tracegym.judges.learned import MIN_COUNT, fit, reply_ngrams
from tracegym.samples import write_jsonl
from tracegym.traces.compile import compile_sgd
from tracegym.traces.sgd import bundled_sgd_heldout_root

TURN = ("test", "24_00088-turn11")  # REQUEST(time) at a restaurant, a turn of the bundled held-out split
GOOD = [
    "What time would you like the table reserved?",
    "What time should I book the table for?",
    "At what time would you like the reservation?",
    "What time do you want the table?",
    "What time would you like to eat?",
    "When would you like the table?",
    "What time works for you?",
    "What time should the reservation be?",
]
ODD = " ever so"  # what the labellers below reject


def labelled(reply: str, label: int) -> dict:
    return {"split": TURN[0], "sample_id": TURN[1], "reply": reply, "label": label}


@pytest.fixture(scope="module")
def turn_sample():
    return next(s for s in compile_sgd(bundled_sgd_heldout_root(), TURN[0]) if s.id == TURN[1])


def test_a_phrase_people_reject_counts_against_and_no_phrase_counts_for():
    rows = [{"acts": 1.0, "ngram:table": 1.0, "ngram:ever so": 1.0} for _ in range(10)]
    rows += [{"acts": 1.0, "ngram:table": 1.0, "ngram:please": 1.0} for _ in range(10)]
    rows += [{"acts": 1.0, "ngram:once only": 1.0}]
    weights, bias = fit(rows, [0] * 10 + [1] * 11)
    assert weights["ngram:ever so"] < -0.5
    assert weights["ngram:please"] == 0.0  # held at 0: saying it cannot buy acceptance
    assert "ngram:once only" not in weights and MIN_COUNT >= 2  # one reply's words would only memorise it
    assert fit(rows, [0] * 10 + [1] * 11) == (weights, bias)  # deterministic


def test_values_are_cut_out_of_the_ngrams():
    grams = reply_ngrams("Sino is at 377 Santana Row.", ["Sino", "377 Santana Row"])
    assert "<s> <v> is" in grams and "at <v> ." in grams and not any("sino" in g for g in grams)


def test_judge_cli_learns_from_labels_and_scores_a_rejected_phrase_lower(tmp_path, turn_sample):
    labels = [labelled(reply, 1) for reply in GOOD]
    labels += [labelled(reply.replace("?", ODD + "?"), 0) for reply in GOOD]
    write_jsonl(tmp_path / "labels.jsonl", labels)
    replies = ["What time would you like a table?", "What time would you like a table" + ODD + "?"]
    write_jsonl(tmp_path / "in.jsonl", [{**turn_sample.to_dict(), "response": reply} for reply in replies])
    result = run_cli(
        "judge", "--in_path", tmp_path / "in.jsonl", "--out_path", tmp_path / "out.jsonl",
        "--judge", "learned", "--judge_labels", tmp_path / "labels.jsonl",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    plain, odd = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert plain["score"] >= 0.7 > odd["score"], (plain["score"], odd["score"])
    assert plain["judge"].startswith("learned:")


def test_labels_that_cannot_be_learned_from_are_refused(tmp_path, turn_sample):
    write_jsonl(tmp_path / "in.jsonl", [{**turn_sample.to_dict(), "response": "What time?"}])

    def judged(labels_path) -> object:
        return run_cli(
            "judge", "--in_path", tmp_path / "in.jsonl", "--out_path", tmp_path / "out.jsonl",
            "--judge", "learned", "--judge_labels", labels_path,
        )  # fmt: skip

    assert_user_error(judged(tmp_path / "missing.jsonl"), "--judge_labels", "no such file")
    write_jsonl(tmp_path / "one_kind.jsonl", [labelled(reply, 1) for reply in GOOD])
    assert_user_error(judged(tmp_path / "one_kind.jsonl"), "acceptable (1) and unacceptable (0)")
    write_jsonl(tmp_path / "unknown.jsonl", [labelled("What time?", 1), {**labelled("When?", 0), "sample_id": "x"}])
    assert_user_error(judged(tmp_path / "unknown.jsonl"), "line 2", "sample_id")
    assert not (tmp_path / "out.jsonl").exists()
