"""The report on small fixtures: every file written, plots that are real PNGs, and the fidelity warning firing on
a constructed gamed run but not on an honest one."""

from __future__ import annotations

import json
import random

import pytest

from tracegym.evaluation.eval import EvalConfig, EvalItem, ModelReplies, compare_items
from tracegym.evaluation.metrics import ReplyMetrics, chrf
from tracegym.evaluation.report import write_report
from tracegym.samples import Sample

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


def result_of(items: list[EvalItem], run_dir=None):
    config = EvalConfig(eval_jsonl="eval.jsonl", base_model="base", trained_model_dir="trained", n=len(items))
    return compare_items(
        config,
        items,
        judge_name="acts",
        judge_fingerprint="acts:0123456789abcdef",
        training_judge="gemini (gemini:fedcba9876543210)",
        run_dir=run_dir,
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


def test_no_warning_when_the_judge_score_fell():
    items = [EvalItem(item.sample, item.trained, item.base) for item in gamed_run()]  # the gamed run, reversed
    result = result_of(items)
    assert result.judge_delta.delta < 0
    assert result.warnings == []
