"""The whole loop offline on bundled SGD: prepare → base → focus → GRPO (act judge) → eval → report.

Runs on a laptop CPU in a few minutes with no network. The student is a 1.7M-parameter Gemma3 with its own
tokenizer, built locally and warmed up with 6,000 SFT steps on the bundled train split (less the validation slice);
that SFT takes about 10 minutes on 2 cores, so its result ships in the package (`--base bundled`, the default; its
model card and `python bench/build_student.py` say how it was made). `--base scratch` builds and trains the student
here (`--sft_steps`, 1,500 by default). GRPO (TRL's GRPOTrainer) then trains it against the act-grounded judge on the
train turns its SFT reply gets wrong (the focus), and eval compares it with its SFT base on every turn of the
bundled held-out split (2,981 turns of 400 SGD dev and test dialogues; unseen services reported apart). A slice of
train dialogues that neither SFT nor GRPO sees is scored every 11 GRPO steps (the gaming alarm); the policy best
there is the one kept.

Framing (--framing): `compact` (default) gives the student the service, the reference dialogue acts (as the SGD
NLG literature does) and the last user turn, and lets it write [n] placeholders that the tool fills in from those
acts; `acts` gives the same acts inside the full context (schema, calls, history), the framing for real models;
`end2end` gives only the history, schema and service results.

Example:
  tracegym demo --out_dir runs/demo
"""

from __future__ import annotations

import argparse

from tracegym.commands.common import add_options
from tracegym.demo import DemoConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_options(parser, DemoConfig)


def run(args: argparse.Namespace) -> int:
    from tracegym.commands.eval import result_lines
    from tracegym.demo import run_demo
    from tracegym.options import values_for

    demo = run_demo(values_for(DemoConfig, args))
    for line in result_lines(demo.result):
        print(line)
    print(f"\nreport: {demo.out_dir / 'eval' / 'report.md'}  (total {sum(demo.timings.values()) / 60:.1f} min)")
    return 0
