"""Does GRPO teach the student to stop less? A probe of finished `tracegym demo` runs.

    python bench/stop_probe.py --run bench/out/demo-seed0 bench/out/demo-seed1 bench/out/demo-seed2

The demo's GRPO students repeat themselves more than the SFT student ("They do not have wifi. They do not have
wifi."). This asks whether GRPO lowered the chance of ending the reply where the SFT student ends it. For each
held-out turn whose acts carry no values (so the reply as written, `[n]` placeholders and all, is the reply as
shown) and whose SFT greedy reply is one sentence, it scores P(end of reply | prompt + that reply) under the SFT
and the GRPO student, and counts the turns where the GRPO student's greedy reply is the SFT reply with more after
it. One JSON line per run. Under a minute a run on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

ONE_SENTENCE = re.compile(r"^[^.?!]+[.?!]$")


def one_sentence_turns(run: Path) -> list[tuple[object, str, str]]:
    """(sample, SFT reply, GRPO reply) for the held-out turns the probe looks at."""
    from tracegym.samples import read_samples

    samples = {(sample.split, sample.id): sample for sample in read_samples(run / "eval.jsonl")}
    turns = []
    for line in (run / "eval" / "generations.jsonl").read_text().splitlines():
        row = json.loads(line)
        sample, reply = samples[(row["split"], row["id"])], row["base_replies"][0]
        if not any(act.values for act in sample.acts) and ONE_SENTENCE.match(reply):
            turns.append((sample, reply, row["trained_replies"][0]))
    return turns


def probe(run: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tracegym import models
    from tracegym.evaluation.generate import render_prompts

    config = json.loads((run / "demo.json").read_text())["config"]
    tokenizer = AutoTokenizer.from_pretrained(run / "base")
    students = {
        "sft": AutoModelForCausalLM.from_pretrained(run / "base").eval(),
        "grpo": AutoModelForCausalLM.from_pretrained(run / "trained" / "model").eval(),
    }
    stops = sorted(models.reply_stop_ids(tokenizer, students["sft"].generation_config))
    turns = one_sentence_turns(run)
    prompts = render_prompts(tokenizer, [sample for sample, _, _ in turns], config["max_prompt_length"])
    stop = {name: [] for name in students}
    with torch.inference_mode():
        for (_, reply, _), prompt in zip(turns, prompts):
            ids = tokenizer(prompt + reply, return_tensors="pt", add_special_tokens=False)["input_ids"]
            for name, model in students.items():
                stop[name].append(model(ids).logits[0, -1].softmax(-1)[stops].sum().item())
    unsure = [i for i, p in enumerate(stop["sft"]) if p < 0.5]
    return {
        "run": run.name,
        "turns": len(turns),
        "p_stop_median": {name: round(statistics.median(values), 4) for name, values in stop.items()},
        "grpo_lower": sum(g < s for s, g in zip(stop["sft"], stop["grpo"])),
        "sft_unsure": len(unsure),  # turns where the SFT student itself stops with P < 0.5
        "p_stop_median_sft_unsure": {
            name: round(statistics.median(stop[name][i] for i in unsure), 4) if unsure else None for name in students
        },
        "grpo_continues": sum(grpo.startswith(reply) and len(grpo) > len(reply) for _, reply, grpo in turns),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, nargs="+", required=True, help="demo run dirs (bench/out/demo-seed<N>)")
    for run in parser.parse_args().run:
        print(json.dumps(probe(run)), flush=True)


if __name__ == "__main__":
    main()
