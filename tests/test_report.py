"""The report on small fixtures: every file written, plots that are real PNGs, and the fidelity warning firing on
a constructed gamed run but not on an honest one."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest

from tracegym.evaluation.cost import JudgeSpend
from tracegym.evaluation.eval import (
    EvalConfig,
    EvalItem,
    ModelReplies,
    compare_items,
    training_spend,
    validation_spend,
)
from tracegym.evaluation.metrics import ReplyMetrics, chrf, reply_metrics
from tracegym.evaluation.report import write_report
from tracegym.samples import Sample
from tracegym.schema import ServiceSchema, SlotSchema

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REFERENCE = "How about Sino in San Jose? It has a 4.5 rating."


def sample(index: int) -> Sample:
    return Sample(
        id=f"d{index}-turn1",
        dialogue_id=f"d{index}",
        turn_index=1,
        prompt="User: a restaurant in San Jose please",
        ground_truth=REFERENCE,
        messages=[
            {"role": "system", "content": "You are the assistant of the service Restaurants_2."},
            {"role": "user", "content": "a restaurant in San Jose please"},
        ],
        service="Restaurants_2" if index % 3 else "Hotels_4",
        unseen_service=index % 3 == 0,
        acts=[{"act": "OFFER", "slot": "restaurant_name", "values": ["Sino"], "canonical_values": ["Sino"]}]
        + ([{"act": "INFORM", "slot": "rating", "values": ["4.5"], "canonical_values": ["4.5"]}] if index % 2 else []),
    )


def replies(reply: str, score: float, recall: float, hallucinated: bool) -> ModelReplies:
    metrics = ReplyMetrics(
        chrf=chrf(reply, REFERENCE),
        slot_error=0.0 if "sino" in reply.lower() else 1.0,
        act_value_recall=recall,
        hallucinated_values=["Blue Moon"] if hallucinated else [],
        length_words=len(reply.split()),
    )
    return ModelReplies([reply], [score], [metrics])


def result_of(items: list[EvalItem], run_dir=None, judge_spend=None):
    config = EvalConfig(eval_jsonl="eval.jsonl", base_model="base", trained_model_dir="trained", n=len(items))
    return compare_items(
        config,
        items,
        judge_name="acts",
        judge_fingerprint="acts:0123456789abcdef",
        training_judge="gemini (gemini:fedcba9876543210)",
        run_dir=run_dir,
        judge_spend=judge_spend,
    )


def gamed_run() -> list[EvalItem]:
    """The judge loves the trained student's terse replies; every independent signal says they got worse."""
    rng = random.Random(0)
    return [
        EvalItem(
            sample(i),
            replies(REFERENCE, 0.5 + rng.uniform(-0.1, 0.1), 1.0, False),
            replies("Anything else?", 0.8 + rng.uniform(-0.1, 0.1), 0.0, False),
        )
        for i in range(30)
    ]


def honest_run() -> list[EvalItem]:
    """The trained student names the restaurant where the base invented one; the judge and the metrics agree."""
    rng = random.Random(1)
    return [
        EvalItem(
            sample(i),
            replies("How about Blue Moon? It has a 3 rating.", 0.4 + rng.uniform(-0.1, 0.1), 0.0, True),
            replies("How about Sino in San Jose? It has a 4.5 rating.", 0.7 + rng.uniform(-0.1, 0.1), 1.0, False),
        )
        for i in range(30)
    ]


@pytest.fixture
def run_dir_with_log(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    log = [{"step": step, "reward": 0.3 + 0.01 * step, "reply_length": 20 - 0.2 * step} for step in range(1, 31)]
    (run_dir / "log.jsonl").write_text("".join(json.dumps(row) + "\n" for row in log))
    return run_dir


def test_report_writes_every_file_with_valid_pngs(tmp_path, run_dir_with_log):
    import matplotlib.image

    result = result_of(honest_run(), run_dir=str(run_dir_with_log))
    paths = write_report(result, tmp_path / "eval")
    for name in (
        "generations.jsonl",
        "results.json",
        "report.md",
        "score_histogram.png",
        "delta_by_service.png",
        "training_curves.png",
    ):
        assert (tmp_path / "eval" / name).is_file(), name
    for png in (tmp_path / "eval").glob("*.png"):
        assert png.read_bytes()[:8] == PNG_SIGNATURE, png
        image = matplotlib.image.imread(png)
        assert image.shape[0] > 100 and image.shape[1] > 100
    assert not list((tmp_path / "eval").glob(".*")), "temporary files left behind"

    generations = [json.loads(line) for line in paths["generations"].read_text().splitlines()]
    assert len(generations) == 30
    assert {
        "id",
        "service",
        "unseen_service",
        "acts",
        "ground_truth",
        "base_replies",
        "trained_replies",
        "base_scores",
        "trained_scores",
        "base_metrics",
        "trained_metrics",
    } <= set(generations[0])

    results = json.loads(paths["results"].read_text())
    assert results["judge"] == {"name": "acts", "fingerprint": "acts:0123456789abcdef"}
    assert results["training_judge"].startswith("gemini")
    assert results["comparisons"]["judge"]["delta"] == pytest.approx(result.judge_delta.delta)
    assert set(results["by_seen_unseen"]) == {"seen", "unseen"}
    assert set(results["by_act_type"]) == {"OFFER", "INFORM"}

    report = paths["report"].read_text()
    assert "Eval judge:** `acts`" in report and "Training judge:** `gemini" in report
    assert "Base scores: {'mean':" in report and "Δ mean: +" in report
    for png in ("score_histogram.png", "training_curves.png", "delta_by_service.png"):
        assert f"]({png})" in report
    assert "Blue Moon" in report and "| id | last turns | reference |" in report


def test_delta_by_the_base_score_shows_fixes_and_breakages_that_cancel_overall(tmp_path):
    """Half the turns the base got right and the trained model broke, half it got wrong and training fixed: Δ 0
    overall, and the groups say what happened on each side."""
    fixed = [EvalItem(sample(i), replies("x", 0.4, 1.0, False), replies("y", 0.9, 1.0, False)) for i in range(10)]
    broken = [EvalItem(sample(i), replies("y", 1.0, 1.0, False), replies("x", 0.5, 1.0, False)) for i in range(10, 20)]
    result = result_of(fixed + broken)
    assert result.judge_delta.delta == pytest.approx(0.0)
    perfect, imperfect = result.by_base_score["base scored 1"], result.by_base_score["base scored below 1"]
    assert (perfect.n, imperfect.n) == (10, 10)
    assert perfect.delta == pytest.approx(-0.5) and imperfect.delta == pytest.approx(0.5)
    write_report(result, tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "| base scored 1: what training kept or broke | 10 |" in report
    assert "each moves one way by construction" in report
    assert json.loads((tmp_path / "results.json").read_text())["by_base_score"]["base scored below 1"]["n"] == 10


def test_fidelity_warning_fires_on_a_gamed_run(tmp_path):
    result = result_of(gamed_run())
    assert result.judge_delta.significantly_better
    warned = " ".join(result.warnings)
    assert "fidelity warning" in warned and "chrF" in warned and "act-value recall" in warned
    assert "avoidance warning" in warned and "reply length" in warned
    write_report(result, tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert report.index("Fidelity warning") < report.index("## Judge score")  # at the top, before any figure
    assert "training_curves.png" not in report  # no run dir, no log: said in words instead
    assert json.loads((tmp_path / "results.json").read_text())["warnings"] == result.warnings


def test_no_warning_on_an_honest_run():
    result = result_of(honest_run())
    assert result.judge_delta.significantly_better
    assert result.comparisons["chrf"].significantly_better
    assert result.comparisons["hallucination_rate"].significantly_better
    assert result.warnings == []


def test_a_slightly_shorter_reply_is_no_avoidance_though_significant():
    """One word fewer in a reply of thirteen on every turn: significant, but under a tenth of the length; the same
    turns two-thirds as long are avoidance."""
    long_reply = "How about Sino in San Jose? It has a 4.5 rating and it is a good place to eat."
    slightly = long_reply.replace(" good", "")
    terse = "How about Sino? It has a 4.5 rating."
    rng = random.Random(2)

    def run(trained: str) -> list[EvalItem]:
        return [
            EvalItem(
                sample(i),
                replies(long_reply, 0.6 + rng.uniform(-0.1, 0.1), 1.0, False),
                replies(trained, 0.8 + rng.uniform(-0.1, 0.1), 1.0, False),
            )
            for i in range(30)
        ]

    slight = result_of(run(slightly))
    assert slight.comparisons["reply_length_words"].significantly_worse
    assert not any("avoidance" in w for w in slight.warnings)
    assert any("avoidance warning" in w for w in result_of(run(terse)).warnings)


def test_no_warning_when_the_judge_score_fell():
    items = [EvalItem(item.sample, item.trained, item.base) for item in gamed_run()]  # the gamed run, reversed
    result = result_of(items)
    assert result.judge_delta.delta < 0
    assert result.warnings == []


SCHEMAS = {
    name: ServiceSchema(name, "a service", (SlotSchema("restaurant_name", "Name of the place", False, ()),), ())
    for name in ("Alarm_1", "Trains_1", "Restaurants_2")
}


def t2g2_items(base_reply: str, trained_reply: str) -> list[EvalItem]:
    """Eight prompts: the even ones ask for the value "Sino", the odd ones hold no value (REQ_MORE); 0 and 4 are
    Alarm_1 (unseen by T2G2's rule), 1 and 5 Trains_1 (seen by its rule), the rest Restaurants_2."""
    items = []
    for i in range(8):
        service = ("Alarm_1", "Trains_1", "Restaurants_2", "Restaurants_2")[i % 4]
        acts = [{"act": "OFFER", "slot": "restaurant_name", "values": ["Sino"], "canonical_values": ["Sino"]}]
        held = replace(
            sample(i),
            service=service,
            schema=SCHEMAS[service],
            acts=acts if i % 2 == 0 else [{"act": "REQ_MORE", "slot": "", "values": [], "canonical_values": []}],
        )
        base = ModelReplies([base_reply], [0.4 + 0.01 * i], [reply_metrics(held, base_reply)])
        trained = ModelReplies([trained_reply], [0.8 + 0.01 * i], [reply_metrics(held, trained_reply)])
        items.append(EvalItem(held, base, trained))
    return items


def test_both_slot_error_rates_are_reported_each_named_for_its_denominator(tmp_path):
    result = result_of(t2g2_items("Anything else?", "How about Sino?"))
    paths = write_report(result, tmp_path)
    results = json.loads(paths["results"].read_text())
    t2g2, valued = (
        results["comparisons"]["slot_error_rate_t2g2"],
        results["comparisons"]["slot_error_rate_valued_replies"],
    )
    assert (t2g2["n"], t2g2["base_mean"], t2g2["trained_mean"]) == (8, 0.5, 0.0)  # every prompt counts
    assert (valued["n"], valued["base_mean"], valued["trained_mean"]) == (4, 1.0, 0.0)  # only those with values
    assert "slot_error_rate" not in results["comparisons"]  # no figure left under an ambiguous name
    split = results["slot_error_rate_t2g2_by_split"]
    assert (split["unseen"]["n"], split["unseen"]["base_mean"]) == (2, 1.0)  # Alarm_1
    assert (split["seen"]["n"], split["seen"]["base_mean"]) == (6, pytest.approx(1 / 3))  # Trains_1 too
    report = paths["report"].read_text()
    assert "| slot error rate, T2G2 count (every reply) | 8 | 0.5000 | 0.0000 |" in report
    assert "| slot error rate over replies with non-categorical values | 4 | 1.0000 | 0.0000 |" in report
    assert "### Slot error rate as T2G2 counts it (%)" in report and "generation/ser.py" in report
    assert "| model | all | seen | unseen |" in report
    assert "| base | 50.00 | 33.33 | 100.00 |" in report and "| trained | 0.00 | 0.00 | 0.00 |" in report


def test_fidelity_warning_uses_the_slot_error_rate_over_replies_with_values_once():
    result = result_of(t2g2_items("How about Sino?", "Anything else?"))  # the judge rises, the value goes
    assert result.comparisons["slot_error_rate_t2g2"].significantly_worse
    warned = [warning for warning in result.warnings if "slot error rate" in warning]
    assert len(warned) == 1 and "over replies with non-categorical values" in warned[0]


def test_no_t2g2_section_without_schemas(tmp_path):
    result = result_of(honest_run())  # chat-like samples: no schema says which slots count
    assert result.comparisons["slot_error_rate_t2g2"].n == 0 and result.slot_error_rate_t2g2_by_split == {}
    write_report(result, tmp_path)
    assert "as T2G2 counts it" not in (tmp_path / "report.md").read_text()


# The offline act judge in training: 4,000 replies scored, no requests, no tokens, no dollars; an API judge in eval.
TRAINING_SPEND = JudgeSpend(replies=4000, seconds=20.0)
EVAL_SPEND = JudgeSpend(replies=16, requests=18, input_tokens=12_000, output_tokens=2_000, cost_usd=0.02, seconds=8.0)


def test_cost_per_point_is_each_stage_spend_over_the_points_of_gain(tmp_path):
    result = result_of(t2g2_items("Anything else?", "How about Sino?"), judge_spend=spends())
    assert result.judge_delta.delta == pytest.approx(0.4)  # 40 points of +0.01
    paths = write_report(result, tmp_path)
    cost = json.loads(paths["results"].read_text())["cost_per_point"]
    assert cost["point"] == 0.01 and cost["note"] is None
    training, evaluation = cost["training"], cost["evaluation"]
    assert training["spend"]["calls"] == 4000, "an offline judge makes one call per reply it scores"
    assert training["per_point"] == pytest.approx({"calls": 100.0, "tokens": 0.0, "cost_usd": 0.0, "seconds": 0.5})
    assert evaluation["spend"]["calls"] == 18 and evaluation["spend"]["tokens"] == 14_000
    assert evaluation["per_point"] == pytest.approx(
        {"calls": 0.45, "tokens": 350.0, "cost_usd": 0.0005, "seconds": 0.2}
    )
    report = paths["report"].read_text()
    assert (
        "## Cost per point of gain" in report and "+0.01 of the eval judge's Δ mean: Δ +0.4000 is 40.0 points" in report
    )
    assert (
        "| training | `gemini (gemini:fedcba9876543210)` | 4,000 | 4,000 | 0 | $0 | 20.0 | 100.00 | 0 | $0 | 0.50 |"
        in report
    )
    assert "| this evaluation | `acts` | 16 | 18 | 14,000 | $0.02 | 8.0 | 0.45 | 350 | $0.0005 | 0.20 |" in report


def spends(training: JudgeSpend | None = TRAINING_SPEND) -> dict[str, JudgeSpend | None]:
    return {"training": training, "evaluation": EVAL_SPEND}


def test_no_gain_has_no_cost_per_point_and_a_run_without_totals_says_so(tmp_path):
    items = [EvalItem(i.sample, i.trained, i.base) for i in t2g2_items("Anything else?", "How about Sino?")]
    result = result_of(items, run_dir=str(tmp_path / "run"), judge_spend=spends(training=None))
    assert result.judge_delta.delta < 0
    paths = write_report(result, tmp_path / "eval")
    cost = json.loads(paths["results"].read_text())["cost_per_point"]
    assert cost["note"] == "no gain, so no cost per point"
    assert cost["training"] == {"spend": None, "per_point": None}
    assert cost["evaluation"]["per_point"] is None and cost["evaluation"]["spend"]["calls"] == 18, "spent all the same"
    report = paths["report"].read_text()
    section = report[report.index("## Cost per point of gain") : report.index("## Independent signals")]
    assert "Δ mean -0.4000: no gain, so no cost per point" in section
    assert (
        "| training | `gemini (gemini:fedcba9876543210)` | not recorded: the run's log.jsonl has no judge_totals"
        in section
    )
    assert "| this evaluation | `acts` | 16 | 18 | 14,000 | $0.02 | 8.0 | – | – | – | – |" in section
    assert "inf" not in section and "-0.4000 is" not in section


def test_the_training_spend_is_the_sum_of_the_run_judge_totals(tmp_path):
    from tracegym.training.rundir import append_judge_totals, append_log_record

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert training_spend(None) is None and training_spend(run_dir) is None, "no run dir, no log"
    append_log_record(run_dir, {"kind": "step", "step": 1, "judge/calls": 7.0, "judge/replies": 64.0})
    assert training_spend(run_dir) is None, "per-step figures are means, not totals: not summed"
    first = {"replies": 128, "calls": 0, "cache_hits": 8, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
    append_judge_totals(run_dir, {**first, "failures": 0, "guarded": 1, "seconds": 1.5})
    append_judge_totals(run_dir, {**first, "replies": 64, "cache_hits": 0, "failures": 0, "guarded": 0, "seconds": 0.5})
    spend = training_spend(run_dir)  # a resumed run: one record per invocation
    assert (spend.replies, spend.cache_hits, spend.calls, spend.seconds) == (192, 8, 184, 2.0)


def test_the_validation_spend_is_the_sum_of_the_validation_records_and_has_its_row(tmp_path):
    from tracegym.training.rundir import append_log_record

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert validation_spend(run_dir) is None, "a run that did not validate spent nothing there"
    ledger = {"replies": 71, "calls": 0, "cache_hits": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
    for step in (0, 11):
        append_log_record(
            run_dir, {"kind": "validation", "step": step, "n": 71, "judge_spend": {**ledger, "seconds": 1.5}}
        )
    append_log_record(run_dir, {"kind": "validation", "step": 22, "n": 71, "judge_calls": 0, "judge_cost_usd": 0.0})
    spend = validation_spend(run_dir)  # the third record was written before judge_spend: its prompts count
    assert (spend.replies, spend.calls, spend.seconds) == (213, 213, 3.0)

    result = result_of(
        t2g2_items("Anything else?", "How about Sino?"),
        run_dir=str(run_dir),
        judge_spend={**spends(), "validation": spend},
    )
    paths = write_report(result, tmp_path / "eval")
    cost = json.loads(paths["results"].read_text())["cost_per_point"]
    assert cost["validation"]["spend"]["calls"] == 213
    assert cost["validation"]["per_point"]["calls"] == pytest.approx(213 / 40)
    report = paths["report"].read_text()
    assert "| validation (the gaming alarm's slice) | `gemini (gemini:fedcba9876543210)` | 213 | 213 |" in report


def test_a_log_cut_short_by_an_interrupted_run_still_gives_its_validation_points_and_spend(tmp_path):
    from tracegym.evaluation.validation import read_validation_points
    from tracegym.training.rundir import append_log_record

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    ledger = {"replies": 71, "calls": 0, "cache_hits": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
    append_log_record(run_dir, {"kind": "validation", "step": 0, "n": 71, "judge_spend": {**ledger, "seconds": 1.5}})
    append_log_record(run_dir, {"kind": "step", "step": 1, "reward": 0.5})
    with (run_dir / "log.jsonl").open("a", encoding="utf-8") as log:
        log.write('{"kind": "validation", "step": 11, "n": 71, "judge_sp')  # the process died mid-line
    assert [point["step"] for point in read_validation_points(run_dir)] == [0]
    assert validation_spend(run_dir).replies == 71


def test_a_run_that_did_not_validate_says_so_in_the_cost_table(tmp_path):
    result = result_of(t2g2_items("Anything else?", "How about Sino?"), run_dir=str(tmp_path), judge_spend=spends())
    report = write_report(result, tmp_path / "eval")["report"].read_text()
    assert (
        "| validation (the gaming alarm's slice) | `gemini (gemini:fedcba9876543210)` | none: the run did not validate"
        in report
    )
