"""`--judge similarity`: chrF, sentence BLEU and ROUGE-L against the reference, in process and through the CLI
(chat logs, a mixture with the act judge on SGD samples, the verdict cache, the audit)."""

from __future__ import annotations

import dataclasses
import json
import sys

import pytest
import sacrebleu

from cli_helpers import assert_user_error, run_cli
from factories import restaurant_sample
from tracegym.errors import UserError
from tracegym.judges import JudgeSettings
from tracegym.judges.base import score_sync
from tracegym.judges.similarity import METRICS, SimilarityJudge, lcs_length, rouge_l_f1, words

REFERENCE = "Sino is at 377 Santana Row. Shall I book it for 2 people?"
REPLIES = [
    "Sino is at 377 Santana Row. Shall I book it?",
    "The restaurant is on Santana Row; should I reserve a table for two?",
    "Okay.",
    "Shall I book it for 2 people? Sino is at 377 Santana Row.",
]
CHAT_LOG = [
    {
        "id": "support-1",
        "messages": [
            {"role": "user", "content": "Where is my order?"},
            {"role": "assistant", "content": "Could you give me the order number?"},
            {"role": "user", "content": "It is 42."},
            {"role": "assistant", "content": "Order 42 ships today and arrives on Friday."},
        ],
    },
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}]},
]


def judged(metric: str, replies, reference: str = REFERENCE) -> list:
    samples = [restaurant_sample(i, ground_truth=reference) for i in range(len(replies))]
    return score_sync(SimilarityJudge(metric), samples, list(replies))


def read_rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_rows(path, rows) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def summary_of(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.strip().splitlines())


def test_chrf_is_sacrebleus_sentence_chrf_over_100():
    expected = [sacrebleu.sentence_chrf(reply, [REFERENCE]).score / 100 for reply in REPLIES]
    assert [verdict.score for verdict in judged("chrf", REPLIES)] == pytest.approx(expected, abs=1e-9)
    assert len(set(expected)) == len(expected) and 0 < min(expected) and max(expected) < 1


def test_bleu_is_sacrebleus_sentence_bleu_with_effective_order():
    expected = [sacrebleu.sentence_bleu(reply, [REFERENCE]).score / 100 for reply in REPLIES]
    assert [verdict.score for verdict in judged("bleu", REPLIES)] == pytest.approx(expected, abs=1e-9)
    # Without effective order a reply of fewer than 4 tokens has no 4-gram and scores 0 whatever it says;
    # "2 people?" matches the reference in every n-gram it has.
    [short] = judged("bleu", ["2 people?"])
    assert short.score > 0.0
    assert sacrebleu.BLEU().sentence_score("2 people?", [REFERENCE]).score == 0.0


def test_rouge_l_is_the_longest_common_word_subsequence_f1():
    # "the cat on mat": 4 of the reply's 5 words and of the reference's 6.
    assert rouge_l_f1("The cat on a mat", "the cat sat on the mat") == pytest.approx(2 * 0.8 * (4 / 6) / (0.8 + 4 / 6))
    assert lcs_length("abcbdab", "bdcaba") == 4
    assert words("Don't, 3:30pm!") == ["don", "t", "3", "30pm"]
    assert words("Café à 3 €") == ["café", "à", "3"]  # letters of any script are words (rouge-score drops them)
    # Word order counts: the reordered reply keeps the longer of its two halves in sequence.
    [reordered] = judged("rouge_l", [REPLIES[3]])
    assert reordered.score == pytest.approx(rouge_l_f1(REPLIES[3], REFERENCE)) and reordered.score < 0.8


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("reference", [REFERENCE, "Yes.", "👍", "?!"])
def test_the_reference_itself_scores_1_and_an_empty_reply_0(metric, reference):
    identical, empty, blank = judged(metric, [reference, "", " \n\t"], reference=reference)
    assert identical.score == 1.0 and identical.error is None
    assert empty.score == 0.0 and blank.score == 0.0
    assert identical.criteria == {metric: 1.0}


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("reference", ["", "  \n"])
def test_an_empty_reference_is_a_failure_not_a_zero(metric, reference):
    [verdict] = judged(metric, ["Sino is at 377 Santana Row."], reference=reference)
    assert verdict.score is None
    assert "empty ground_truth" in verdict.error and "d0-turn1" in verdict.error


def test_the_fingerprint_names_the_metric_and_is_stable():
    prints = {metric: SimilarityJudge(metric).fingerprint for metric in METRICS}
    assert len(set(prints.values())) == len(METRICS)
    assert all(value.startswith("similarity:") for value in prints.values())
    assert SimilarityJudge("bleu").fingerprint == prints["bleu"]
    settings = JudgeSettings(judge="similarity", similarity_metric="rouge_l")
    assert SimilarityJudge.from_settings(settings).fingerprint == prints["rouge_l"]
    assert SimilarityJudge.from_settings(JudgeSettings()).metric == "chrf"  # the default


def test_the_cli_choices_are_the_judges_metrics():
    [field] = [f for f in dataclasses.fields(JudgeSettings) if f.name == "similarity_metric"]
    assert tuple(field.metadata["choices"]) == METRICS


def test_without_sacrebleu_chrf_and_bleu_say_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sacrebleu", None)
    monkeypatch.setitem(sys.modules, "sacrebleu.metrics", None)
    for metric in ("chrf", "bleu"):
        with pytest.raises(UserError, match=r"pip install 'tracegym\[eval\]'"):
            SimilarityJudge(metric)
    assert judged("rouge_l", [REFERENCE])[0].score == 1.0  # ROUGE-L needs no package


def test_chat_logs_get_a_reward_through_prepare_and_judge(tmp_path):
    logs, samples_path, scored = tmp_path / "logs.jsonl", tmp_path / "chat.jsonl", tmp_path / "scored.jsonl"
    write_rows(logs, CHAT_LOG)
    prepared = run_cli("prepare", "--traces", logs, "--format", "chat", "--out_path", samples_path)
    assert prepared.returncode == 0, prepared.stderr
    rows = read_rows(samples_path)
    assert len(rows) == 3 and all(row["acts"] == [] for row in rows)
    replies = [rows[0]["ground_truth"], "Order 42 ships on Friday.", ""]
    write_rows(samples_path, [{**row, "response": reply} for row, reply in zip(rows, replies)])

    result = run_cli("judge", "--in_path", samples_path, "--out_path", scored, "--judge", "similarity")

    assert result.returncode == 0, result.stderr
    scores = [row["score"] for row in read_rows(scored)]
    expected = sacrebleu.sentence_chrf(replies[1], [rows[1]["ground_truth"]]).score / 100
    assert scores == [1.0, pytest.approx(expected), 0.0] and 0.3 < expected < 0.9
    summary = summary_of(result.stdout)
    assert summary["failures"] == "0" and summary["judge"].startswith("similarity:")


def test_the_cache_keys_on_the_metric(tmp_path):
    replies = tmp_path / "replies.jsonl"
    write_rows(replies, [{**restaurant_sample(i).to_dict(), "response": reply} for i, reply in enumerate(REPLIES)])
    cache = tmp_path / "verdicts.sqlite"

    def judge(metric: str, out: str) -> tuple[dict[str, str], list[float]]:
        result = run_cli(
            "judge", "--in_path", replies, "--out_path", tmp_path / out, "--judge", "similarity",
            "--similarity_metric", metric, "--cache", cache,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return summary_of(result.stdout), [row["score"] for row in read_rows(tmp_path / out)]

    chrf, chrf_scores = judge("chrf", "chrf.jsonl")
    bleu, bleu_scores = judge("bleu", "bleu.jsonl")
    again, again_scores = judge("bleu", "again.jsonl")
    assert chrf["cache_hits"] == "0" and bleu["cache_hits"] == "0" and again["cache_hits"] == str(len(REPLIES))
    assert chrf_scores != bleu_scores and again_scores == bleu_scores
    assert bleu_scores == pytest.approx([sacrebleu.sentence_bleu(r, [REFERENCE]).score / 100 for r in REPLIES])


def test_an_empty_reference_is_counted_as_a_failure_by_the_cli(tmp_path):
    replies = tmp_path / "replies.jsonl"
    rows = [{**restaurant_sample(i).to_dict(), "response": "Sino is at 377 Santana Row."} for i in range(2)]
    rows[1]["ground_truth"] = ""
    write_rows(replies, rows)
    result = run_cli("judge", "--in_path", replies, "--out_path", tmp_path / "s.jsonl", "--judge", "similarity")
    assert result.returncode == 0, result.stderr
    assert [row["score"] for row in read_rows(tmp_path / "s.jsonl")][1] is None
    assert summary_of(result.stdout)["failures"] == "1" and "empty ground_truth" in result.stderr


def test_an_unknown_metric_is_a_user_error(tmp_path):
    replies = tmp_path / "replies.jsonl"
    write_rows(replies, [{**restaurant_sample().to_dict(), "response": "Hi."}])
    result = run_cli(
        "judge", "--in_path", replies, "--out_path", tmp_path / "s.jsonl", "--judge", "similarity",
        "--similarity_metric", "meteor",
    )  # fmt: skip
    assert_user_error(result, "meteor")


def test_similarity_mixes_with_the_act_judge_on_sgd_samples(tmp_path):
    samples_path, replies = tmp_path / "dev.jsonl", tmp_path / "replies.jsonl"
    prepared = run_cli("prepare", "--split", "dev", "--max_samples", "8", "--out_path", samples_path)
    assert prepared.returncode == 0, prepared.stderr
    rows = read_rows(samples_path)
    texts = [row["ground_truth"] if i % 2 else "".join(c for c in row["ground_truth"] if not c.isdigit()) + " ok"
             for i, row in enumerate(rows)]  # fmt: skip
    write_rows(replies, [{**row, "response": text} for row, text in zip(rows, texts)])

    def scores(*judge_args: str) -> list[float]:
        out = tmp_path / f"{len(judge_args)}-{judge_args[1]}.jsonl"
        result = run_cli("judge", "--in_path", replies, "--out_path", out, *judge_args)
        assert result.returncode == 0, result.stderr
        return [row["score"] for row in read_rows(out)]

    similarity, acts = scores("--judge", "similarity"), scores("--judge", "acts")
    mixed = scores("--judge", "similarity+acts", "--judge_weights", "0.5,0.5")
    assert None not in mixed
    assert mixed == pytest.approx([(s + a) / 2 for s, a in zip(similarity, acts)], abs=1e-9)
    assert similarity != acts


def test_audit_runs_the_similarity_judge_without_a_retest(tmp_path):
    out = tmp_path / "audit.json"
    result = run_cli("audit", "--judge", "similarity", "--n", "10", "--out_path", out)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["fingerprint"].startswith("similarity:") and report["consistency"] is None
    assert report["gold"]["mean_score"] == 1.0  # each reference against itself
    assert all(attack["failures"] == 0 and attack["n"] == 10 for attack in report["attacks"])
    assert "worst attack" in result.stdout and "test-retest" not in result.stdout
