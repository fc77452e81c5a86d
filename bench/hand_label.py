"""Blind hand labels for a demo run: the base and the trained reply to N held-out turns, shuffled, for people (or
annotators following bench/agreement/GUIDELINES.md) to label acceptable or not, then the shares per model.

    python bench/hand_label.py draw --run bench/out/demo-seed0 --n 100 --out /tmp/label   # sheet.md + key.jsonl
    python bench/hand_label.py draw --run bench/out/demo-seed0 bench/out/demo-seed1 ...   # one sheet for several runs
    python bench/hand_label.py draw ... --base_below 1   # only turns whose base reply the eval judge scored below 1
    # the same --seed draws the same turns from every run of one held-out split, so runs compare turn by turn
    # each annotator writes labels.jsonl: {"item": "h001", "label": 0 or 1} per line, seeing only sheet.md
    python bench/hand_label.py score --key /tmp/label/key.jsonl --labels a.jsonl b.jsonl [--settle c.jsonl]
    python bench/hand_label.py score --key /tmp/label/key.jsonl --from_set   # the agreement set's labels, once added

The sheet shows, per item, the service, the previous assistant turn, the user's turn, the acts and the reply; never
which model wrote it or any judge's score. A reply written by several runs, or by a run's base and trained
model, is one item. `score` prints, per run, each annotator's count of acceptable base and trained replies and how
many turns training made acceptable or unacceptable, Cohen's κ between the first two, and the agreed counts: both
annotators' label where they agree, the `--settle` label (a third reading of the disagreements only) where not.
With `--from_set` the labels are those of the same replies to the same turns in the agreement set (src/tracegym/data/agreement/items.jsonl), where
every labelled draw is added: a fresh run of `bench/demo.py` writes the same replies, so its counts can be checked
without labelling again.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path
from typing import NoReturn

from judge_agreement import ITEMS as AGREEMENT_SET  # bench/ is the script's folder, first on sys.path
from tracegym.traces.compile import samples_by_turn


def held_out_turns(keys: set[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """The full-context record (history, acts) of each held-out turn, by (split, id), rebuilt from the bundled
    held-out split. SGD's dialogue ids repeat across splits (111 of the sample's dev turn ids are test turn ids too),
    so a turn is named by its split and its id together."""
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


def draw(runs: list[Path], n: int, seed: int, out: Path, base_below: float | None = None) -> None:
    """Draw `n` held-out turns the runs share and write each distinct reply to them once, shuffled: a reply that
    several runs (or a run's base and trained model) wrote is one item, and the key says who wrote it."""
    by_run = {run.name: {(row["split"], row["id"]): row for row in generations(run)} for run in runs}
    if len(by_run) < len(runs):
        fail("--run: two runs share a folder name; give each run its own folder name")
    first = by_run[runs[0].name]
    turns = sorted(set.intersection(*(set(rows) for rows in by_run.values())))
    if base_below is not None:  # only the turns where training could fix something, by the eval judge
        turns = [t for t in turns if first[t]["base_scores"][0] is not None and first[t]["base_scores"][0] < base_below]
    rng = random.Random(seed)
    chosen = rng.sample(turns, min(n, len(turns)))  # sorted first: every run of one split gives the same draw
    writers: dict[tuple[str, str, str], list[str]] = {}
    for turn in chosen:
        for name, rows in by_run.items():
            for side in ("base", "trained"):
                writers.setdefault((*turn, rows[turn][f"{side}_replies"][0]), []).append(f"{name}/{side}")
    items = list(writers.items())
    rng.shuffle(items)
    context = held_out_turns(set(chosen))
    out.mkdir(parents=True, exist_ok=True)
    sheet, key = [], []
    for number, ((split, sample_id, reply), sides) in enumerate(items, start=1):
        item = f"h{number:03d}"
        turn = context[split, sample_id]
        sheet += [
            f"## {item}",
            f"- service: {turn['service']}",
            f"- previous assistant turn: {turn['previous'] or '(none)'}",
            f"- user: {turn['user']}",
            f"- acts: {turn['acts']}",
            f"- reply: {reply}",
            "",
        ]
        key.append({"item": item, "split": split, "sample_id": sample_id, "reply": reply, "sides": sides})
    (out / "sheet.md").write_text("\n".join(sheet))
    (out / "key.jsonl").write_text("".join(json.dumps(row) + "\n" for row in key))
    print(f"{len(items)} distinct replies to {len(chosen)} turns from {len(runs)} run(s) -> {out / 'sheet.md'}")


def generations(run: Path) -> list[dict]:
    path = run / "eval" / "generations.jsonl"
    if not path.is_file():
        fail(f"--run {run}: no eval/generations.jsonl; pass a demo's --out_dir")
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def read_labels(path: Path) -> dict[str, int]:
    return {row["item"]: int(row["label"]) for row in map(json.loads, path.read_text().splitlines()) if row}


def kappa(first: list[int], second: list[int]) -> float:
    agreed = sum(a == b for a, b in zip(first, second)) / len(first)
    p1, p2 = sum(first) / len(first), sum(second) / len(second)
    chance = p1 * p2 + (1 - p1) * (1 - p2)
    return 1.0 if chance == 1 else (agreed - chance) / (1 - chance)


def labels_from_set(key: list[dict], items_path: Path) -> dict[str, int]:
    """Each key item's label in the agreement set: the set's item with the same split, turn and reply."""
    items = [json.loads(line) for line in items_path.read_text().splitlines() if line]
    labelled = {(item["split"], item["sample_id"], item["reply"]): item["label"] for item in items}
    labels = {row["item"]: labelled.get((row["split"], row["sample_id"], row["reply"])) for row in key}
    missing = [item for item, label in labels.items() if label is None]
    if missing:
        fail(
            f"--from_set: {len(missing)} of {len(key)} replies are not in {items_path} (e.g. {missing[0]}); label "
            "them with --labels and add them to the set"
        )
    return {item: int(label) for item, label in labels.items()}


def score(key_path: Path, label_paths: list[Path], settle: Path | None, from_set: Path | None = None) -> None:
    key = [json.loads(line) for line in key_path.read_text().splitlines() if line]
    annotators = [read_labels(path) for path in label_paths]
    for path, labels in zip(label_paths, annotators):
        missing = [row["item"] for row in key if row["item"] not in labels]
        if missing:
            fail(f"{path}: no label for {len(missing)} items, e.g. {missing[0]}")
    settled = read_labels(settle) if settle else {}
    item_of: dict[str, dict[tuple[str, str], str]] = {}  # "run/side" -> turn -> item
    for row in key:
        for side in row.get("sides") or [row["side"]]:  # keys drawn before sides were shared name one side
            item_of.setdefault(side, {})[row["split"], row["sample_id"]] = row["item"]
    runs = list(dict.fromkeys(side.rsplit("/", 1)[0] for side in item_of if "/" in side)) or [""]

    def report(labels: dict[str, int], prefix: str) -> None:
        for run in runs:
            base, trained = (item_of[f"{run}/{side}" if run else side] for side in ("base", "trained"))
            before, after = ([labels[items[turn]] for turn in sorted(base)] for items in (base, trained))
            fixed = sum(a > b for a, b in zip(after, before))
            broken = sum(a < b for a, b in zip(after, before))
            print(
                f"{prefix}{run or 'run'}: base {sum(before)}/{len(before)}, trained {sum(after)}/{len(after)}"
                f" ({fixed} made acceptable, {broken} made unacceptable)"
            )

    if from_set is not None:
        report(labels_from_set(key, from_set), f"{from_set.name}: ")
    for path, labels in zip(label_paths, annotators):
        report(labels, f"{path.name}: ")
    if len(annotators) >= 2:
        first, second = annotators[:2]
        items = [row["item"] for row in key]
        print(f"κ {kappa([first[i] for i in items], [second[i] for i in items]):.3f} on {len(items)} replies")
        disagreed = [i for i in items if first[i] != second[i]]
        unsettled = [i for i in disagreed if i not in settled]
        if unsettled:
            print(f"{len(disagreed)} disagreements, {len(unsettled)} unsettled: {' '.join(unsettled)}")
            return
        agreed = {i: first[i] if first[i] == second[i] else settled[i] for i in items}
        report(agreed, f"agreed ({len(disagreed)} settled): ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    drawing = commands.add_parser("draw")
    drawing.add_argument(
        "--run", type=Path, nargs="+", required=True, help="demo --out_dirs of one held-out split (seeds, settings)"
    )
    drawing.add_argument("--n", type=int, default=100, help="held-out turns (each distinct reply to them is an item)")
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
    scoring.add_argument("--labels", type=Path, nargs="+", default=[], help="each annotator's labels.jsonl")
    scoring.add_argument(
        "--from_set",
        type=Path,
        nargs="?",
        const=AGREEMENT_SET,
        default=None,
        help="take the labels from the agreement set (default src/tracegym/data/agreement/items.jsonl)",
    )
    scoring.add_argument("--settle", type=Path, default=None, help="labels of the disagreements, a third reading")
    args = parser.parse_args()
    if args.command == "draw":
        draw(args.run, args.n, args.seed, args.out, args.base_below)
    elif not args.labels and args.from_set is None:
        fail("score: give --labels (each annotator's labels.jsonl) or --from_set")
    else:
        score(args.key, args.labels, args.settle, args.from_set)


if __name__ == "__main__":
    main()
