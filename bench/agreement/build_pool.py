"""How the agreement set's replies were drawn (run once, 2026-12-02; kept so the set's provenance can be read and
re-drawn). Labels were added afterwards by hand, blind to every judge's score: see GUIDELINES.md and README.md.

Sources: the held-out replies (`eval/generations.jsonl`) of CPU demo students of several seeds and stages, the SGD
references of the same turns, and references corrupted the ways the issue's examples fail (digits or values deleted,
a word repeated, a filler or another domain's word added, the reply cut short, a function word dropped, another
turn's reference put in its place).

    python bench/agreement/build_pool.py --run sft:s0=/tmp/demo-s0a/eval/generations.jsonl:base:40 ... \
        --eval_jsonl /tmp/demo-s0a/eval.jsonl --references 40 --corruptions 65 --out /tmp/pool.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

DOMAIN_WORDS = {
    "Alarm": ["alarm"],
    "Banks": ["account", "balance", "transfer"],
    "Buses": ["bus", "ticket"],
    "Calendar": ["event", "calendar"],
    "Events": ["event", "concert", "tickets"],
    "Flights": ["flight", "airline"],
    "Homes": ["apartment", "property"],
    "Hotels": ["hotel", "room"],
    "Media": ["movie", "film"],
    "Messaging": ["message", "contact"],
    "Movies": ["movie", "showtime", "theater"],
    "Music": ["song", "album"],
    "Payment": ["payment", "transaction"],
    "RentalCars": ["car", "rental"],
    "Restaurants": ["restaurant", "table"],
    "RideSharing": ["ride", "cab"],
    "Services": ["appointment", "doctor", "salon"],
    "Trains": ["train", "ticket"],
    "Travel": ["attraction", "museum"],
    "Weather": ["weather", "temperature"],
}
FILLERS = [
    " Is there anything else I can help you with anything else?",
    " I can help you with that. I can help you with that.",
    " Anything else?",
    " Please let me know.",
]
FUNCTION_WORDS = re.compile(r"\b(is|are|the|to|a|at|for|you|would|like|have|be|will)\b", re.IGNORECASE)


def domain_of(service: str) -> str:
    return service.split("_")[0]


def corrupt(kind: str, sample: dict, other: dict, rng: random.Random) -> str | None:
    """One corruption of the sample's reference, or None when it does not apply to this reference."""
    text = sample["ground_truth"]
    values = [v for act in sample["acts"] for v in act["values"] if len(v) > 1]
    if kind == "digits_deleted":
        return re.sub(r"\d", "", text) if re.search(r"\d", text) else None
    if kind == "values_deleted":
        present = [v for v in values if v.lower() in text.lower()]
        if not present:
            return None
        for value in present:
            text = re.sub(re.escape(value), "", text, flags=re.IGNORECASE)
        return re.sub(r"\s+", " ", text).strip()
    if kind == "word_repeated":
        words = text.split()
        if len(words) < 4:
            return None
        i = rng.randrange(1, len(words) - 1)
        span = rng.choice([1, 1, 2, 3])
        return " ".join(words[: i + span] + words[i : i + span] + words[i + span :])
    if kind == "filler_added":
        return text + rng.choice(FILLERS)
    if kind == "other_domain_word":
        own = DOMAIN_WORDS.get(domain_of(sample["service"]), [])
        present = [w for w in own if re.search(rf"\b{w}s?\b", text, re.IGNORECASE)]
        foreign = [w for d, ws in DOMAIN_WORDS.items() if d != domain_of(sample["service"]) for w in ws]
        if not present:
            return None
        word = rng.choice(present)
        return re.sub(rf"\b{word}", rng.choice(foreign), text, count=1, flags=re.IGNORECASE)
    if kind == "cut_short":
        words = text.split()
        if len(words) < 6:
            return None
        return " ".join(words[: max(2, int(len(words) * rng.uniform(0.4, 0.7)))])
    if kind == "function_word_dropped":
        hits = list(FUNCTION_WORDS.finditer(text))
        if not hits:
            return None
        hit = rng.choice(hits)
        return re.sub(r"\s+", " ", text[: hit.start()] + text[hit.end() :]).strip()
    if kind == "other_turn":
        return other["ground_truth"]
    raise ValueError(kind)


KINDS = [
    "digits_deleted",
    "values_deleted",
    "word_repeated",
    "filler_added",
    "other_domain_word",
    "cut_short",
    "function_word_dropped",
    "other_turn",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", default=[], help="STAGE=generations.jsonl:base|trained:COUNT")
    parser.add_argument("--eval_jsonl", required=True)
    parser.add_argument("--references", type=int, default=40)
    parser.add_argument("--corruptions", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    samples = {json.loads(line)["id"]: json.loads(line) for line in open(args.eval_jsonl)}
    ids = sorted(samples)
    pool: list[dict] = []
    seen: set[tuple[str, str]] = set()

    def add(sample_id: str, reply: str, stage: str) -> bool:
        key = (sample_id, reply.strip())
        if not reply.strip() or key in seen:
            return False
        seen.add(key)
        pool.append({"sample_id": sample_id, "reply": reply.strip(), "stage": stage})
        return True

    for spec in args.run:
        stage, rest = spec.split("=", 1)
        path, side, count = rest.rsplit(":", 2)
        rows = [json.loads(line) for line in open(path)]
        rng.shuffle(rows)
        taken = 0
        for row in rows:
            if taken == int(count):
                break
            taken += add(row["id"], row[f"{side}_replies"][0], stage)
    for sample_id in rng.sample(ids, args.references):
        add(sample_id, samples[sample_id]["ground_truth"], "reference")
    made = 0
    while made < args.corruptions:
        kind = KINDS[made % len(KINDS)]
        sample = samples[rng.choice(ids)]
        other = samples[rng.choice(ids)]
        text = corrupt(kind, sample, other, rng)
        if text and text != sample["ground_truth"]:
            made += add(sample["id"], text, f"corrupted:{kind}")
    rng.shuffle(pool)
    for number, item in enumerate(pool, 1):
        item["item"] = f"a{number:03d}"
    Path(args.out).write_text("".join(json.dumps(item) + "\n" for item in pool))
    print(f"{len(pool)} items -> {args.out}")


if __name__ == "__main__":
    main()
