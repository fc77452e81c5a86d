"""`--judge form`: the act judge's form factors alone, and what it adds to the act judge in a training mixture."""

from __future__ import annotations

import json

import pytest

from cli_helpers import run_cli
from factories import act, restaurant_sample
from tracegym.judges import JudgeSettings, build_judge
from tracegym.judges.base import score_sync
from tracegym.judges.form import FormJudge

ASK_CITY = restaurant_sample(
    acts=[act("REQUEST", "location")],
    ground_truth="Which city should I look in?",
    prompt="User: Find me a restaurant.",
    messages=[{"role": "user", "content": "Find me a restaurant."}],
)
RIGHT = "Which city should I look in?"
WRONG = "What time would you like?"  # reads well, asks for the wrong slot
WRONG_TWICE = "What time would you like? What time would you like?"
REPLIES = [
    RIGHT,
    WRONG,
    WRONG_TWICE,
    "Which city which city should I look in?",
    "Which city should I look in? Which city should I look in?",
    "found found found",
    "Which city should I look in ?",
]


def scores(spec: str, replies: list[str], weights: str | None = None) -> list[float]:
    judge = build_judge(JudgeSettings(judge=spec, judge_weights=weights))
    return [verdict.score for verdict in score_sync(judge, [ASK_CITY] * len(replies), replies)]


def test_a_reply_that_reads_well_scores_1_whatever_it_says():
    assert scores("form", [RIGHT, WRONG]) == [1.0, 1.0]
    assert scores("acts", [RIGHT, WRONG]) == [1.0, 0.0]


def test_repeats_and_broken_text_lower_the_form_score():
    form = dict(zip(REPLIES, scores("form", REPLIES)))
    assert all(form[reply] < 0.7 for reply in REPLIES[2:-1])
    assert form[REPLIES[-1]] < 1.0  # a space before the question mark


def test_the_act_judge_never_scores_above_the_form_factors_it_multiplies():
    for acts, form in zip(scores("acts", REPLIES), scores("form", REPLIES)):
        assert acts <= form + 1e-9


def test_in_a_mixture_a_wrong_reply_that_repeats_earns_less_than_one_that_reads_well():
    acts = scores("acts", [WRONG, WRONG_TWICE])
    mixed = scores("acts+form", [WRONG, WRONG_TWICE], weights="0.9,0.1")
    assert acts[0] - acts[1] == pytest.approx(0.0)
    assert mixed[0] - mixed[1] > 0.09


def test_a_sample_without_acts_is_a_failure_not_a_zero():
    [verdict] = score_sync(FormJudge(), [restaurant_sample(acts=[])], [RIGHT])
    assert verdict.score is None and "no reference acts" in verdict.error


def test_the_verdict_names_what_lowered_the_score():
    [verdict] = score_sync(FormJudge(), [ASK_CITY], [WRONG_TWICE])
    assert "repeated phrases" in verdict.reasoning or "repetition factor" in verdict.reasoning


def test_judge_cli_scores_a_mixture_with_the_form_judge(tmp_path):
    in_path, out_path = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [{**ASK_CITY.to_dict(), "id": f"d{i}-turn1", "response": reply} for i, reply in enumerate(REPLIES[:3])]
    in_path.write_text("".join(json.dumps(row) + "\n" for row in rows))

    result = run_cli(
        "judge", "--in_path", in_path, "--out_path", out_path, "--judge", "acts+form", "--judge_weights", "0.9,0.1"
    )

    assert result.returncode == 0, result.stderr
    scored = [json.loads(line)["score"] for line in out_path.read_text().splitlines()]
    assert scored[0] == pytest.approx(1.0) and scored[1] > scored[2]
