"""Benchmark `tracegym prepare` on the shared SGD copy: compile time against a bare json.load of the same files.

    python bench/prepare.py [--sgd_root ../shared/data/sgd] [--repeats 3]

Prints, per split and in total: dialogues, samples, seconds, samples/s, the ratio of compile time to a bare
`json.load` (garbage collector off, as the reader does: the stricter baseline) of the same files measured in the
same run, interleaved, best of --repeats; then the process's peak RSS; then the write-out time of the full
`prepare` path (samples → JSONL), and the answerability coverage: the share of system turns whose act values
(INFORM, OFFER, CONFIRM, INFORM_COUNT) all appear, case-insensitively as canonical or surface form, in (a) the
history alone and (b) the whole messages (system message included).

Targets (issue #2): ratio <= 2.0, peak RSS <= 1.5 GiB.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from tracegym.samples import Sample, write_jsonl
from tracegym.traces.compile import CompileOptions, compile_sgd

SPLITS = ("train", "dev", "test")
VALUE_ACTS = {"INFORM", "OFFER", "CONFIRM", "INFORM_COUNT"}


def bare_json_load(root: Path, split: str) -> float:
    started = time.perf_counter()
    for path in sorted((root / split).glob("dialogues_*.json")):
        with path.open("rb") as handle:
            gc.disable()
            json.load(handle)
            gc.enable()
    return time.perf_counter() - started


def compile_split(root: Path, split: str) -> tuple[float, int, int]:
    started = time.perf_counter()
    samples = 0
    dialogues = set()
    for sample in compile_sgd(root, split, CompileOptions()):
        samples += 1
        dialogues.add(sample.dialogue_id)
    return time.perf_counter() - started, len(dialogues), samples


def answerable(sample: Sample, text: str) -> bool:
    for action in sample.acts:
        if action.act not in VALUE_ACTS:
            continue
        for surface, canonical in zip(action.values, action.canonical_values or action.values):
            if surface.lower() not in text and canonical.lower() not in text:
                return False
    return True


def coverage(root: Path, split: str) -> tuple[int, int, int]:
    turns = history_only = full = 0
    for sample in compile_sgd(root, split, CompileOptions()):
        turns += 1
        history = "\n".join(m["content"] for m in sample.messages[1:]).lower()
        history_only += answerable(sample, history)
        full += answerable(sample, sample.messages[0]["content"].lower() + "\n" + history)
    return turns, history_only, full


def write_time(root: Path, split: str) -> float:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        write_jsonl(Path(folder) / "out.jsonl", (s.to_dict() for s in compile_sgd(root, split, CompileOptions())))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_root = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "sgd"
    parser.add_argument("--sgd_root", type=Path, default=default_root)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    best_load = {split: float("inf") for split in SPLITS}
    best_compile = {split: float("inf") for split in SPLITS}
    counts: dict[str, tuple[int, int]] = {}
    for _ in range(args.repeats):
        for split in SPLITS:
            best_load[split] = min(best_load[split], bare_json_load(args.sgd_root, split))
            seconds, dialogues, samples = compile_split(args.sgd_root, split)
            best_compile[split] = min(best_compile[split], seconds)
            counts[split] = (dialogues, samples)
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"machine: {os.cpu_count()} CPUs; best of {args.repeats}, json.load and compile interleaved")
    print(f"{'split':6} {'dialogues':>9} {'samples':>8} {'load s':>7} {'compile s':>9} {'samples/s':>9} {'ratio':>6}")
    for split in SPLITS:
        dialogues, samples = counts[split]
        print(
            f"{split:6} {dialogues:>9} {samples:>8} {best_load[split]:>7.2f} {best_compile[split]:>9.2f} "
            f"{samples / best_compile[split]:>9.0f} {best_compile[split] / best_load[split]:>6.2f}"
        )
    total_load, total_compile = sum(best_load.values()), sum(best_compile.values())
    total_dialogues = sum(c[0] for c in counts.values())
    total_samples = sum(c[1] for c in counts.values())
    print(
        f"{'total':6} {total_dialogues:>9} {total_samples:>8} {total_load:>7.2f} {total_compile:>9.2f} "
        f"{total_samples / total_compile:>9.0f} {total_compile / total_load:>6.2f}"
    )
    print(f"peak RSS: {peak_rss_mib:.0f} MiB")

    for split in SPLITS:
        print(f"prepare {split} to JSONL (compile + serialise + write): {write_time(args.sgd_root, split):.2f} s")

    totals = [0, 0, 0]
    for split in SPLITS:
        turns, history_only, full = coverage(args.sgd_root, split)
        totals = [totals[0] + turns, totals[1] + history_only, totals[2] + full]
        print(f"answerable {split}: history {history_only / turns:.1%}, full messages {full / turns:.1%} of {turns}")
    turns, history_only, full = totals
    print(f"answerable all: history {history_only / turns:.1%}, full messages {full / turns:.1%} of {turns}")


if __name__ == "__main__":
    main()
