"""The demo's target, measured: `tracegym demo` from scratch on several seeds, each judged against issue #13's bar.

    python bench/demo.py --seeds 0 1 2 0          # each run about 7 minutes on a 2-core CPU; seed 0 twice
    python bench/demo.py --seeds 0 -- --base scratch   # the student built and SFT-trained in the run (slower)

For each run it does the whole demo (from the shipped SFT student by default; no reuse of an earlier run's base)
into bench/out/demo-seed<N>[-<k>],
reads that run's results.json and generations.jsonl, and prints one JSON line: wall time, the act judge's mean
base → trained with Δ and its paired-bootstrap 95% CI, the share of replies the judge accepts (score ≥ 0.7),
corpus BLEU and chrF, broken text, repetition, hallucination and slot error rates, base → trained, the judge's Δ
on the turns the SFT student scored 1 and on the rest, and whether each part of the target held:

- `delta_ci_above_0`: the judge's Δ has its whole 95% CI above 0;
- `acceptable_not_lower`: the accepted share did not fall;
- `text_not_worse`: broken text and repetition rates did not rise;
- `overlap_kept`: corpus BLEU and chrF fell by no more than 1 point each.

A seed given twice is run twice; the last line says whether its runs gave the same base mean and Δ (within 0.01).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
ACCEPTABLE = 0.7  # the agreement set's threshold: a reply scored this or more is one the judge accepts
SAME = 0.01  # two runs of one seed agree when base mean and Δ differ by no more than this


def run_demo(seed: int, out_dir: Path, extra: list[str]) -> float:
    """Minutes the demo took into `out_dir`, its log in demo.log."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    command = [sys.executable, "-m", "tracegym", "demo", "--out_dir", str(out_dir), "--seed", str(seed)]
    with (out_dir / "demo.log").open("w") as log:
        subprocess.run([*command, "--no_reuse_base", *extra], check=True, stdout=log, stderr=subprocess.STDOUT)
    return (time.perf_counter() - started) / 60


def accepted_shares(generations: Path) -> tuple[float, float]:
    """The share of prompts whose (mean) judge score is ≥ ACCEPTABLE, base and trained."""
    rows = [json.loads(line) for line in generations.read_text().splitlines() if line.strip()]

    def share(side: str) -> float:
        means = [sum(row[side]) / len(row[side]) for row in rows if row[side] and None not in row[side]]
        return sum(mean >= ACCEPTABLE for mean in means) / len(means)

    return share("base_scores"), share("trained_scores")


def verdict_of(results: dict, accepted: tuple[float, float]) -> dict:
    comparisons = results["comparisons"]
    judge, chrf = comparisons["judge"], comparisons["chrf"]

    def pair(name: str) -> list[float]:
        return [round(comparisons[name]["base_mean"], 4), round(comparisons[name]["trained_mean"], 4)]

    bleu = [round(results["corpus_bleu"]["base"], 2), round(results["corpus_bleu"]["trained"], 2)]
    broken, repeated = pair("broken_text_rate"), pair("repetition_rate")
    return {
        "n": judge["n"],
        "judge_base": round(judge["base_mean"], 4),
        "judge_trained": round(judge["trained_mean"], 4),
        "judge_delta": round(judge["delta"], 4),
        "judge_ci": [round(bound, 4) for bound in judge["ci"]],
        "accepted": [round(share, 4) for share in accepted],
        "bleu": bleu,
        "chrf_delta": round(chrf["delta"], 2),
        "broken_text_rate": broken,
        "repetition_rate": repeated,
        "hallucination": pair("hallucination_rate"),
        "slot_error_rate_t2g2": pair("slot_error_rate_t2g2"),
        # Δ on the turns the SFT student answered perfectly (GRPO can only keep or break them) and on the rest.
        "judge_delta_by_base_score": {
            group: round(c["delta"], 4) for group, c in results.get("by_base_score", {}).items()
        },
        "warnings": len(results["warnings"]),
        "delta_ci_above_0": judge["ci"][0] > 0,
        "acceptable_not_lower": accepted[1] >= accepted[0],
        "text_not_worse": broken[1] <= broken[0] and repeated[1] <= repeated[0],
        "overlap_kept": bleu[1] - bleu[0] >= -1.0 and chrf["delta"] >= -1.0,
    }


def out_dir_of(seed: int, runs_so_far: Counter) -> Path:
    runs_so_far[seed] += 1
    suffix = "" if runs_so_far[seed] == 1 else f"-{runs_so_far[seed]}"
    return OUT / f"demo-seed{seed}{suffix}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 0], help="a seed twice is run twice")
    parser.add_argument("extra", nargs="*", help="more `tracegym demo` flags, after --")
    args = parser.parse_args()
    rows = []
    runs_so_far: Counter = Counter()
    for seed in args.seeds:
        out_dir = out_dir_of(seed, runs_so_far)
        minutes = run_demo(seed, out_dir, args.extra)
        results = json.loads((out_dir / "eval" / "results.json").read_text())
        accepted = accepted_shares(out_dir / "eval" / "generations.jsonl")
        row = {"seed": seed, "out_dir": out_dir.name, "minutes": round(minutes, 1), **verdict_of(results, accepted)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    targets = ("delta_ci_above_0", "acceptable_not_lower", "text_not_worse", "overlap_kept")
    for target in targets:
        print(f"{target}: {sum(row[target] for row in rows)} of {len(rows)} runs")
    for seed in sorted(seed for seed, count in runs_so_far.items() if count > 1):
        runs = [row for row in rows if row["seed"] == seed]
        same = all(abs(run[key] - runs[0][key]) <= SAME for run in runs[1:] for key in ("judge_base", "judge_delta"))
        print(f"seed {seed}, {len(runs)} runs: {'the same' if same else 'NOT the same'} base mean and Δ (±{SAME})")


if __name__ == "__main__":
    main()
