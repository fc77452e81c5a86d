"""How far a judge agrees with people: AUC, false accepts and false rejects on the hand-labelled agreement set.

    python bench/judge_agreement.py --judge acts
    python bench/judge_agreement.py --judge fluency
    python bench/judge_agreement.py --judge gemini+acts --judge_weights 0.7,0.3 --cache verdicts.sqlite
    python bench/judge_agreement.py --judge acts --items my_labels.jsonl --sgd_root path/to/sgd

The set (bench/agreement/items.jsonl, README.md beside it) holds replies to turns of the bundled SGD sample's dev
and test splits, each labelled acceptable (1) or not (0) by two annotators following GUIDELINES.md, blind to any
judge. The samples are rebuilt from the SGD files (`compile_sgd`), so the set stores only ids, replies and labels.
Printed for each part: the fixed two-thirds and the held-out third of the first 319 replies (split by dialogue,
fixed once), `fresh`, 120 replies of a student trained against acts-5, labelled after acts-5 was written, and
`fresh13`, 200 replies of issue #13's student trained against acts-6, labelled after acts-6 was written:

    AUC           P(an acceptable reply outscores an unacceptable one), ties counting one half
    false accept  share of unacceptable replies scored ≥ 0.7
    false reject  share of acceptable replies scored < 0.5

and the mean score by source (SFT students, GRPO students, SGD references, corrupted references). Any judge spec
works: the flags are the CLI's judge flags.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tracegym.errors import UserError
from tracegym.judges import JudgeSettings, build_judge, score_sync
from tracegym.judges.learned import default_labels
from tracegym.options import add_options, values_for
from tracegym.samples import iter_jsonl
from tracegym.traces.compile import samples_by_turn
from tracegym.traces.sgd import bundled_sgd_heldout_root

ITEMS = default_labels()
ACCEPT = 0.7
REJECT = 0.5


@dataclass(frozen=True)
class Figures:
    n: int
    acceptable: int
    auc: float
    false_accept: float
    false_reject: float

    def line(self, name: str) -> str:
        return (
            f"{name:<9} n={self.n:<4} acceptable={self.acceptable:<3} AUC {self.auc:.3f}   "
            f"false accept {self.false_accept:6.1%}   false reject {self.false_reject:6.1%}"
        )


def figures(scores: list[float], labels: list[int]) -> Figures:
    positives = [s for s, label in zip(scores, labels) if label]
    negatives = [s for s, label in zip(scores, labels) if not label]
    if not positives or not negatives:
        raise UserError("the agreement set needs acceptable and unacceptable replies in each part")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return Figures(
        n=len(scores),
        acceptable=len(positives),
        auc=wins / (len(positives) * len(negatives)),
        false_accept=sum(s >= ACCEPT for s in negatives) / len(negatives),
        false_reject=sum(s < REJECT for s in positives) / len(positives),
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--items", type=Path, default=ITEMS, help="labelled replies JSONL (default: the bundled set)")
    parser.add_argument("--sgd_root", type=Path, default=None, help="SGD folder the items' turns come from")
    parser.add_argument("--show", type=int, default=0, help="print the N worst disagreements of each kind")
    add_options(parser, JudgeSettings)
    args = parser.parse_args()
    try:
        items = list(iter_jsonl(args.items))
        unsplit = [item.get("item", "?") for item in items if item.get("split") not in ("dev", "test")]
        if unsplit:
            raise UserError(
                f'{args.items}: item {unsplit[0]} names no split; give each item "split": "dev" or "test" '
                "(SGD's dialogue ids repeat across splits)"
            )
        samples = samples_by_turn(args.sgd_root or bundled_sgd_heldout_root())
        missing = sorted({(item["split"], item["sample_id"]) for item in items} - set(samples))
        if missing:
            raise UserError(f"{args.items}: {len(missing)} turns not in the SGD dev/test splits, e.g. {missing[0]}")
        settings = values_for(JudgeSettings, args)
        judge = build_judge(settings)
        turns = [samples[item["split"], item["sample_id"]] for item in items]
        verdicts = score_sync(judge, turns, [item["reply"] for item in items])
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scores = [v.score if v.score is not None else 0.0 for v in verdicts]
    print(f"judge {settings.judge} ({getattr(judge, 'fingerprint', '?')}) on {len(items)} replies of {args.items.name}")
    if "learned" in settings.judge.split("+"):
        print("note: the learned judge is fitted on labelled replies (by default these): figures on its own labels are")
        print("      in-sample; bench/fit_learned.py scores each part with a model fitted on the parts before it")
    for part in dict.fromkeys(i["part"] for i in items):
        chosen = [(s, i["label"]) for s, i in zip(scores, items) if i["part"] == part]
        print(figures([s for s, _ in chosen], [label for _, label in chosen]).line(part))
    print(figures(scores, [i["label"] for i in items]).line("all"))
    by_source: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for score, item in zip(scores, items):
        by_source[item["source"].split(":")[0]].append((score, item["label"]))
    print("by source: mean score / share acceptable by hand")
    for source, pairs in sorted(by_source.items()):
        mean = sum(s for s, _ in pairs) / len(pairs)
        print(f"  {source:<16} n={len(pairs):<3} {mean:.3f} / {sum(label for _, label in pairs) / len(pairs):.0%}")
    if args.show:
        show_disagreements(items, scores, verdicts, args.show)
    return 0


def show_disagreements(items: list[dict], scores: list[float], verdicts: list, count: int) -> None:
    accepted_bad = sorted(
        ((s, i, v) for s, i, v in zip(scores, items, verdicts) if not i["label"] and s >= ACCEPT), key=lambda t: -t[0]
    )
    rejected_good = sorted(
        ((s, i, v) for s, i, v in zip(scores, items, verdicts) if i["label"] and s < REJECT), key=lambda t: t[0]
    )
    for title, rows in (("false accepts", accepted_bad), ("false rejects", rejected_good)):
        print(f"{title}:")
        for score, item, verdict in rows[:count]:
            print(f"  {score:.2f} {item['item']} {json.dumps(item['reply'])[:100]}  [{verdict.reasoning[:80]}]")


if __name__ == "__main__":
    sys.exit(main())
