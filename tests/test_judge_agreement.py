"""bench/judge_agreement.py against the hand-labelled set: the act judge agrees with people on the held-out part."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ITEMS = ROOT / "src" / "tracegym" / "data" / "agreement" / "items.jsonl"


def agreement(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "judge_agreement.py"), *args], capture_output=True, text=True, timeout=600
    )


def test_the_set_is_labelled_split_and_sourced():
    items = [json.loads(line) for line in ITEMS.read_text().splitlines()]
    assert len(items) >= 300
    assert {item["label"] for item in items} == {0, 1}
    assert {item["part"] for item in items} == {
        "fixed",
        "held_out",
        "fresh",
        "fresh13",
        "fresh13b",
        "fresh13c",
        "fresh13d",
        "fresh13e",
        "fresh13f",
        "fresh13g",
        "fresh13h",
        "fresh13i",
        "fresh13j",
        "fresh13k",
        "fresh13l",
        "fresh13m",
        "fresh13n",
        "fresh13o",
        "fresh13p",
        "fresh13q",
        "fresh13r",
        "fresh13s",
        "fresh13t",
    }
    assert all(len(item["annotators"]) == 2 and item["reply"] for item in items)
    by_dialogue: dict[str, set[str]] = {}
    for item in (item for item in items if not item["part"].startswith("fresh")):
        by_dialogue.setdefault(item["sample_id"].split("-turn")[0], set()).add(item["part"])
    assert all(len(parts) == 1 for parts in by_dialogue.values())  # a dialogue's turns sit in one part


def test_the_act_judge_agrees_with_people_on_the_held_out_part():
    result = agreement("--judge", "acts")
    assert result.returncode == 0, result.stderr
    held_out = next(line for line in result.stdout.splitlines() if line.startswith("held_out"))
    auc = float(re.search(r"AUC (\d\.\d+)", held_out).group(1))
    false_accept = float(re.search(r"false accept\s+([\d.]+)%", held_out).group(1))
    assert auc >= 0.95 and false_accept <= 5.0, held_out


def test_a_label_file_with_turns_the_sgd_root_lacks_is_a_clear_error(tmp_path):
    (tmp_path / "items.jsonl").write_text(
        json.dumps(
            {
                "item": "x",
                "split": "dev",
                "sample_id": "nope-turn1",
                "reply": "Hi",
                "label": 1,
                "part": "fixed",
                "source": "s",
            }
        )
        + "\n"
    )
    result = agreement("--judge", "acts", "--items", str(tmp_path / "items.jsonl"))
    assert result.returncode == 2
    assert (
        result.stderr.startswith("error: ") and "nope-turn1" in result.stderr and len(result.stderr.splitlines()) == 1
    )
    (tmp_path / "items.jsonl").write_text(
        json.dumps(
            {"item": "y", "sample_id": "1_00000-turn1", "reply": "Hi", "label": 1, "part": "fixed", "source": "s"}
        )
        + "\n"
    )
    unsplit = agreement("--judge", "acts", "--items", str(tmp_path / "items.jsonl"))
    assert unsplit.returncode == 2 and "item y names no split" in unsplit.stderr


def hand_label(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "hand_label.py"), *args], capture_output=True, text=True, timeout=600
    )


def test_hand_label_draws_the_same_turns_from_runs_that_wrote_them_in_different_orders(tmp_path):
    ids = [(item["split"], item["sample_id"]) for item in map(json.loads, ITEMS.read_text().splitlines())][-40:]
    rows = [
        {"split": split, "id": sample_id, "base_replies": ["Sure."], "trained_replies": ["Okay."], "base_scores": [1.0]}
        for split, sample_id in dict.fromkeys(ids)
    ]
    drawn = []
    for name, order in (("a", rows), ("b", [{**row, "trained_replies": ["Fine."]} for row in rows[::-1]])):
        (tmp_path / name / "eval").mkdir(parents=True)
        (tmp_path / name / "eval" / "generations.jsonl").write_text("".join(json.dumps(row) + "\n" for row in order))
        result = hand_label("draw", "--run", str(tmp_path / name), "--n", "5", "--out", str(tmp_path / f"label-{name}"))
        assert result.returncode == 0, result.stderr
        key = map(json.loads, (tmp_path / f"label-{name}" / "key.jsonl").read_text().splitlines())
        drawn.append({(row["split"], row["sample_id"]) for row in key})
    assert len(drawn[0]) == 5 and drawn[0] == drawn[1]

    # one sheet for both runs: their shared base reply is one item per turn
    both = hand_label(
        "draw", "--run", str(tmp_path / "a"), str(tmp_path / "b"), "--n", "5", "--out", str(tmp_path / "ab")
    )
    assert both.returncode == 0, both.stderr
    key = [json.loads(line) for line in (tmp_path / "ab" / "key.jsonl").read_text().splitlines()]
    assert {(row["reply"], tuple(row["sides"])) for row in key} == {
        ("Sure.", ("a/base", "b/base")),
        ("Okay.", ("a/trained",)),
        ("Fine.", ("b/trained",)),
    }
    assert len(key) == 15 and (tmp_path / "ab" / "sheet.md").read_text().count("- reply: Sure.") == 5
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps({"item": r["item"], "label": int(r["reply"] == "Okay.")}) + "\n" for r in key))
    scored = hand_label("score", "--key", str(tmp_path / "ab" / "key.jsonl"), "--labels", str(labels), str(labels))
    assert scored.returncode == 0, scored.stderr
    assert "agreed (0 settled): a: base 0/5, trained 5/5 (5 made acceptable, 0 made unacceptable)" in scored.stdout
    assert "b: base 0/5, trained 0/5 (0 made acceptable, 0 made unacceptable)" in scored.stdout
    # the same counts from an agreement set that holds these replies, and a clear error for one it lacks
    items = tmp_path / "items.jsonl"
    items.write_text(
        "".join(
            json.dumps(
                {
                    "split": r["split"],
                    "sample_id": r["sample_id"],
                    "reply": r["reply"],
                    "label": int(r["reply"] == "Okay."),
                }
            )
            + "\n"
            for r in key
        )
    )
    from_set = hand_label("score", "--key", str(tmp_path / "ab" / "key.jsonl"), "--from_set", str(items))
    assert from_set.returncode == 0, from_set.stderr
    assert "items.jsonl: a: base 0/5, trained 5/5 (5 made acceptable, 0 made unacceptable)" in from_set.stdout
    items.write_text("".join(items.read_text().splitlines(keepends=True)[1:]))
    lacking = hand_label("score", "--key", str(tmp_path / "ab" / "key.jsonl"), "--from_set", str(items))
    assert lacking.returncode == 2 and lacking.stderr.startswith("error: --from_set: 1 of 15 replies")
    missing = hand_label("draw", "--run", str(tmp_path / "nowhere"), "--out", str(tmp_path / "none"))
    assert missing.returncode == 2 and missing.stderr.startswith("error: --run") and not (tmp_path / "none").exists()
