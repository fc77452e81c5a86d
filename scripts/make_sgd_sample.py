"""Build the SGD subsets bundled in src/tracegym/data/ from a full SGD copy.

    python scripts/make_sgd_sample.py --sgd_root ../shared/data/sgd      # sgd_sample/: train, dev, test
    python scripts/make_sgd_sample.py --sgd_root ../shared/data/sgd --splits dev test --scale 5 --gzip \
        --out src/tracegym/data/sgd_heldout                                  # the demo's held-out turns

Deterministic: dialogues are ranked by a hash of their id, never by chance. Per split it keeps single-service
dialogues (a simpler task for a small student) and some multi-service ones, spread round-robin over services;
dev and test favour services unseen in train. Each split gets a schema.json of only the services it uses and
minified dialogues_NNN.json files of at most 25 dialogues (each well under 2 MB), or with --gzip
dialogues_NNN.json.gz files of at most 100. --scale multiplies every quota; since the ranking is fixed, a larger
scale keeps every dialogue of a smaller one (sgd_heldout/ holds all of sgd_sample/'s dev and test dialogues).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shutil
from collections import defaultdict
from pathlib import Path

# (single-service seen, single-service unseen, multi-service) dialogues per split
QUOTAS = {"train": (80, 0, 20), "dev": (12, 20, 8), "test": (12, 20, 8)}
DIALOGUES_PER_FILE = 25
GZIP_DIALOGUES_PER_FILE = 100
OUT = Path(__file__).resolve().parent.parent / "src" / "tracegym" / "data" / "sgd_sample"


def rank(dialogue_id: str) -> str:
    return hashlib.sha256(f"tracegym-sample:{dialogue_id}".encode()).hexdigest()


def round_robin(dialogues: list[dict], count: int) -> list[dict]:
    """`count` dialogues taken in turn from each service (first service of the dialogue), lowest rank first."""
    by_service: dict[str, list[dict]] = defaultdict(list)
    for dialogue in sorted(dialogues, key=lambda d: rank(d["dialogue_id"])):
        by_service[dialogue["services"][0]].append(dialogue)
    chosen: list[dict] = []
    queues = [by_service[name] for name in sorted(by_service)]
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return chosen


def load_split(root: Path, split: str) -> list[dict]:
    dialogues = []
    for path in sorted((root / split).glob("dialogues_*.json")):
        dialogues.extend(json.loads(path.read_text(encoding="utf-8")))
    return dialogues


def choose(dialogues: list[dict], seen: set[str], split: str, scale: int = 1) -> list[dict]:
    single_seen, single_unseen, multi = (quota * scale for quota in QUOTAS[split])
    singles = [d for d in dialogues if len(d["services"]) == 1]
    multis = [d for d in dialogues if len(d["services"]) > 1]
    unseen = [d for d in singles if d["services"][0] not in seen]
    known = [d for d in singles if d["services"][0] in seen]
    chosen = round_robin(known, single_seen) + round_robin(unseen, single_unseen) + round_robin(multis, multi)
    order = {d["dialogue_id"]: i for i, d in enumerate(dialogues)}
    return sorted(chosen, key=lambda d: order[d["dialogue_id"]])


def write_split(root: Path, split: str, chosen: list[dict], out: Path, compress: bool) -> None:
    folder = out / split
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    used = {service for d in chosen for service in d["services"]}
    schema = [s for s in json.loads((root / split / "schema.json").read_text()) if s["service_name"] in used]
    (folder / "schema.json").write_text(json.dumps(schema, separators=(",", ":"), ensure_ascii=False))
    per_file = GZIP_DIALOGUES_PER_FILE if compress else DIALOGUES_PER_FILE
    for number, start in enumerate(range(0, len(chosen), per_file), start=1):
        part = chosen[start : start + per_file]
        data = json.dumps(part, separators=(",", ":"), ensure_ascii=False).encode()
        if compress:
            with gzip.GzipFile(folder / f"dialogues_{number:03d}.json.gz", "wb", 9, mtime=0) as stream:
                stream.write(data)
        else:
            assert len(data) < 2_000_000, (split, number)
            (folder / f"dialogues_{number:03d}.json").write_bytes(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sgd_root", default=str(Path(__file__).resolve().parent.parent.parent / "shared/data/sgd"))
    parser.add_argument("--out", default=str(OUT), help="the folder to (re)write")
    parser.add_argument("--splits", nargs="+", default=list(QUOTAS), choices=list(QUOTAS))
    parser.add_argument("--scale", type=int, default=1, help="multiply every quota by this")
    parser.add_argument("--gzip", action="store_true", help="write dialogues_NNN.json.gz")
    args = parser.parse_args()
    root, out = Path(args.sgd_root), Path(args.out)
    seen = {s["service_name"] for s in json.loads((root / "train" / "schema.json").read_text())}
    for split in args.splits:
        chosen = choose(load_split(root, split), seen, split, args.scale)
        write_split(root, split, chosen, out, args.gzip)
        unseen = sum(1 for d in chosen if any(s not in seen for s in d["services"]))
        multi = sum(1 for d in chosen if len(d["services"]) > 1)
        print(f"{split}: {len(chosen)} dialogues ({multi} multi-service, {unseen} on unseen services)")
    shutil.copy(root / "LICENSE.txt", out / "LICENSE.txt")


if __name__ == "__main__":
    main()
