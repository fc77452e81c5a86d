"""The demo's target, measured: `tracegym demo` from scratch on several seeds, each judged against issue #4's bar.

    python bench/demo.py --seeds 0 1 2            # about 10 minutes a seed on a 2-core CPU

For each seed it runs the whole demo (student, SFT and GRPO rebuilt, no reuse) into bench/out/demo-seed<N>, then
reads that run's results.json and prints: wall time, the act judge's Δ with its paired-bootstrap 95% CI, chrF,
hallucination rate and both slot error rates (the T2G2 count; over replies with values) base → trained, and whether
the target held: Δ CI above 0, chrF not lower by more than one point, hallucination rate not higher.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def run_seed(seed: int, extra: list[str]) -> tuple[dict, float]:
    out_dir = OUT / f"demo-seed{seed}"
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with (out_dir / "demo.log").open("w") as log:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "tracegym",
                "demo",
                "--out_dir",
                str(out_dir),
                "--seed",
                str(seed),
                "--no_reuse_base",
                *extra,
            ],
            check=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    minutes = (time.perf_counter() - started) / 60
    return json.loads((out_dir / "eval" / "results.json").read_text()), minutes


def verdict_of(results: dict) -> dict:
    comparisons = results["comparisons"]
    judge, chrf = comparisons["judge"], comparisons["chrf"]
    hallucination, slot_errors = comparisons["hallucination_rate"], comparisons["slot_error_rate_valued_replies"]
    slot_errors_t2g2 = comparisons["slot_error_rate_t2g2"]
    return {
        "n": judge["n"],
        "judge_base": round(judge["base_mean"], 4),
        "judge_trained": round(judge["trained_mean"], 4),
        "judge_delta": round(judge["delta"], 4),
        "judge_ci": [round(bound, 4) for bound in judge["ci"]],
        "chrf_delta": round(chrf["delta"], 2),
        "hallucination": [round(hallucination["base_mean"], 4), round(hallucination["trained_mean"], 4)],
        "slot_error_rate_valued_replies": [round(slot_errors["base_mean"], 4), round(slot_errors["trained_mean"], 4)],
        "slot_error_rate_t2g2": [round(slot_errors_t2g2["base_mean"], 4), round(slot_errors_t2g2["trained_mean"], 4)],
        "broken_text_rate": [
            round(comparisons["broken_text_rate"]["base_mean"], 4),
            round(comparisons["broken_text_rate"]["trained_mean"], 4),
        ],
        "warnings": len(results["warnings"]),
        "target_met": judge["ci"][0] > 0
        and chrf["delta"] >= -1.0
        and hallucination["trained_mean"] <= hallucination["base_mean"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("extra", nargs="*", help="more `tracegym demo` flags, after --")
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        results, minutes = run_seed(seed, args.extra)
        row = {"seed": seed, "minutes": round(minutes, 1), **verdict_of(results)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"target met on {sum(row['target_met'] for row in rows)} of {len(rows)} seeds")


if __name__ == "__main__":
    main()
