"""What the learned judge is worth on replies it was not fitted on: the agreement set's parts in the order they were
labelled, each scored by a model fitted on the parts labelled before it (and on no reply text it holds), against
the act judge on the same replies. Like the judge, each fit also takes the SGD train references
(`reference_replies`) as acceptable.

    python bench/fit_learned.py
    python bench/fit_learned.py --parts fresh13m fresh13n fresh13o fresh13p fresh13q
    python bench/fit_learned.py --parts fresh13s --sgd_root ../shared/data/sgd --split dev

With `--sgd_root`, also SGD's own references of that split (every turn with acts), scored by the act judge and by
the learned judge as shipped (fitted on the whole set): mean and share ≥ 0.7.

Each part is the replies of students trained after the ones before it, so this is the question that matters for a
reward: does the judge hold on the next student's replies? Printed per part and pooled: AUC, false accepts (share
of unacceptable replies scored ≥ 0.7) and false rejects (share of acceptable replies scored < 0.5), as in
bench/judge_agreement.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from judge_agreement import figures  # noqa: E402
from tracegym.judges.acts import ActsJudge  # noqa: E402
from tracegym.judges.learned import (  # noqa: E402
    L2,
    LabelModel,
    LearnedJudge,
    default_labels,
    features_of,
    fit,
    read_labels,
    reference_replies,
)
from tracegym.samples import iter_jsonl  # noqa: E402
from tracegym.traces.compile import compile_sgd  # noqa: E402

LATEST = ["fresh13m", "fresh13n", "fresh13o", "fresh13p", "fresh13q"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", default=LATEST, help="parts to test, oldest first (default: %(default)s)")
    parser.add_argument("--l2", type=float, default=L2, help="L2 strength per labelled reply (default: %(default)s)")
    parser.add_argument("--sgd_root", type=Path, default=None, help="also score this SGD folder's references")
    parser.add_argument("--split", default="dev", help="the --sgd_root split (default: %(default)s)")
    args = parser.parse_args()
    path = default_labels()
    items = list(iter_jsonl(path))
    labelled = read_labels(path)
    judge = ActsJudge()
    scored = [features_of(judge, item.sample, item.reply) for item in labelled]
    acts_scores = [verdict.score or 0.0 for verdict, _ in scored]
    rows = [features for _, features in scored]
    references = [features_of(judge, item.sample, item.reply)[1] for item in reference_replies()]
    pooled: dict[str, list[float]] = {"acts": [], "learned": [], "label": []}
    for k, part in enumerate(args.parts):
        before = [i for i, item in enumerate(items) if item["part"] not in args.parts[k:]]
        seen = {items[i]["reply"] for i in before}
        tested = [i for i, item in enumerate(items) if item["part"] == part and item["reply"] not in seen]
        weights, bias = fit(
            [rows[i] for i in before] + references, [items[i]["label"] for i in before] + [1] * len(references), args.l2
        )
        model = LabelModel(weights=weights, bias=bias, labels=len(before) + len(references), digest="")
        learned = [acts_scores[i] * model.probability(rows[i])[0] for i in tested]
        labels = [items[i]["label"] for i in tested]
        acts = [acts_scores[i] for i in tested]
        print(
            f"{part}: fitted on {len(before)} earlier replies and {len(references)} references, tested on {len(tested)} new ones"
        )
        print("  " + figures(acts, labels).line("acts"))
        print("  " + figures(learned, labels).line("learned"))
        pooled["acts"] += acts
        pooled["learned"] += learned
        pooled["label"] += labels
    labels = [int(x) for x in pooled["label"]]
    print("pooled")
    print("  " + figures(pooled["acts"], labels).line("acts"))
    print("  " + figures(pooled["learned"], labels).line("learned"))
    if args.sgd_root:
        gold = [s for s in compile_sgd(args.sgd_root, args.split) if s.acts]
        print(f"SGD {args.split} references ({len(gold)} turns with acts)")
        for name, scorer in (("acts", judge), ("learned", LearnedJudge())):
            scores = [scorer.verdict(s, s.ground_truth).score or 0.0 for s in gold]
            share = sum(x >= 0.7 for x in scores) / len(scores)
            print(f"  {name:<9} mean {statistics.fmean(scores):.4f}   share >= 0.7 {share:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
