"""Blind hand labels for a demo run: the base and the trained reply to N held-out turns, shuffled, for people (or
annotators following bench/agreement/GUIDELINES.md) to label acceptable or not, then the shares per model.

    python bench/hand_label.py draw --run bench/out/demo-seed0 --n 100 --out /tmp/label   # sheet.md + key.jsonl
    python bench/hand_label.py draw ... --base_below 1   # only turns whose base reply the eval judge scored below 1
    # the same --seed draws the same turns from every run of one held-out split, so seeds can be compared turn by turn
    # each annotator writes labels.jsonl: {"item": "h001", "label": 0 or 1} per line, seeing only sheet.md
    python bench/hand_label.py score --key /tmp/label/key.jsonl --labels a.jsonl b.jsonl [--settle c.jsonl]

The sheet shows, per item, the service, the previous assistant turn, the user's turn, the acts and the reply; never
which model wrote it or any judge's score. `score` prints each annotator's share of acceptable replies for the
base and the trained model, Cohen's κ between the first two, and the agreed share: both annotators' label where
they agree, the `--settle` label (a third reading of the disagreements only) where they do not.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path


def held_out_turns(keys: set[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """The full-context record (history, acts) of each held-out turn, by (split, id), rebuilt from the bundled
    held-out split. SGD's dialogue ids repeat across splits (111 of the sample's dev turn ids are test turn ids too),
    so a turn is named by its split and its id together."""
    from judge_agreement import samples_by_turn  # bench/ is the script's folder, first on sys.path
    from tracegym.traces.render import acts_text
    from tracegym.traces.sgd import bundled_sgd_heldout_root

    turns = {}
    for key, sample in samples_by_turn(bundled_sgd_heldout_root()).items():
        if key in keys:
            history = sample.messages[1:]
            previous = next((m["content"] for m in reversed(history[:-1]) if m["role"] == "assistant"), "")
            turns[key] = {
                "service": sample.service,
                "previous": previous,
                "user": history[-1]["content"],
                "acts": re.sub(r" \[\d+\]", "", acts_text(sample.acts)),  # the values, not their numbers
            }
    return turns


def draw(run: Path, n: int, seed: int, out: Path, base_below: float | None = None) -> None:
    rows = [json.loads(line) for line in (run / "eval" / "generations.jsonl").read_text().splitlines() if line]
    if base_below is not None:  # only the turns where training could fix something, by the eval judge
        rows = [row for row in rows if row["base_scores"][0] is not None and row["base_scores"][0] < base_below]
    rows.sort(key=lambda row: (row["split"], row["id"]))  # runs write turns in their own order; draw the same ones
    rng = random.Random(seed)
    chosen = rng.sample(rows, min(n, len(rows)))
    items = [
        ((row["split"], row["id"]), side, row[f"{side}_replies"][0]) for row in chosen for side in ("base", "trained")
    ]
    rng.shuffle(items)
    turns = held_out_turns({(row["split"], row["id"]) for row in chosen})
    out.mkdir(parents=True, exist_ok=True)
    sheet, key = [], []
    for number, ((split, sample_id), side, reply) in enumerate(items, start=1):
        item = f"h{number:03d}"
        turn = turns[split, sample_id]
        sheet += [
            f"## {item}",
            f"- service: {turn['service']}",
            f"- previous assistant turn: {turn['previous'] or '(none)'}",
            f"- user: {turn['user']}",
            f"- acts: {turn['acts']}",
            f"- reply: {reply}",
            "",
        ]
        key.append({"item": item, "split": split, "sample_id": sample_id, "side": side, "reply": reply})
    (out / "sheet.md").write_text("\n".join(sheet))
    (out / "key.jsonl").write_text("".join(json.dumps(row) + "\n" for row in key))
    print(f"{len(items)} items ({len(chosen)} turns × base and trained) -> {out / 'sheet.md'}, key in key.jsonl")


def read_labels(path: Path) -> dict[str, int]:
    return {row["item"]: int(row["label"]) for row in map(json.loads, path.read_text().splitlines()) if row}


def kappa(first: list[int], second: list[int]) -> float:
    agreed = sum(a == b for a, b in zip(first, second)) / len(first)
    p1, p2 = sum(first) / len(first), sum(second) / len(second)
    chance = p1 * p2 + (1 - p1) * (1 - p2)
    return 1.0 if chance == 1 else (agreed - chance) / (1 - chance)


def score(key_path: Path, label_paths: list[Path], settle: Path | None) -> None:
    key = [json.loads(line) for line in key_path.read_text().splitlines() if line]
    annotators = [read_labels(path) for path in label_paths]
    for path, labels in zip(label_paths, annotators):
        missing = [row["item"] for row in key if row["item"] not in labels]
        if missing:
            raise SystemExit(f"error: {path}: no label for {len(missing)} items, e.g. {missing[0]}")
    settled = read_labels(settle) if settle else {}

    def share(labels: dict[str, int], side: str) -> str:
        mine = [labels[row["item"]] for row in key if row["side"] == side]
        return f"{sum(mine)}/{len(mine)} ({sum(mine) / len(mine):.0%})"

    for path, labels in zip(label_paths, annotators):
        print(f"{path.name}: base {share(labels, 'base')}, trained {share(labels, 'trained')}")
    if len(annotators) >= 2:
        first, second = annotators[:2]
        items = [row["item"] for row in key]
        print(f"κ {kappa([first[i] for i in items], [second[i] for i in items]):.3f}")
        disagreed = [i for i in items if first[i] != second[i]]
        unsettled = [i for i in disagreed if i not in settled]
        if unsettled:
            print(f"{len(disagreed)} disagreements, {len(unsettled)} unsettled: {' '.join(unsettled)}")
            return
        agreed = {i: first[i] if first[i] == second[i] else settled[i] for i in items}
        print(f"agreed ({len(disagreed)} settled): base {share(agreed, 'base')}, trained {share(agreed, 'trained')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    drawing = commands.add_parser("draw")
    drawing.add_argument("--run", type=Path, required=True, help="a demo's --out_dir")
    drawing.add_argument("--n", type=int, default=100, help="held-out turns (two replies each)")
    drawing.add_argument("--seed", type=int, default=0)
    drawing.add_argument("--out", type=Path, required=True)
    drawing.add_argument(
        "--base_below",
        type=float,
        default=None,
        help="draw only turns whose base reply the eval judge scored below this",
    )
    scoring = commands.add_parser("score")
    scoring.add_argument("--key", type=Path, required=True)
    scoring.add_argument("--labels", type=Path, nargs="+", required=True)
    scoring.add_argument("--settle", type=Path, default=None, help="labels of the disagreements, a third reading")
    args = parser.parse_args()
    if args.command == "draw":
        draw(args.run, args.n, args.seed, args.out, args.base_below)
    else:
        score(args.key, args.labels, args.settle)


if __name__ == "__main__":
    main()
