"""The whole loop offline on the bundled SGD sample: prepare → student → SFT → GRPO (act judge) → eval → report.

Runs on a laptop CPU in about 10 minutes with no network: the student is built locally (a ~1.5M-parameter Gemma3
with its own tokenizer), warmed up with SFT, trained with TRL's GRPOTrainer against the act-grounded judge, and
compared with its SFT base on every held-out dev and test turn (unseen services reported apart).

Framing (--framing): `acts` (default) gives the student the reference dialogue acts, as the SGD NLG literature
does, and lets it write [n] placeholders that the tool fills in from those acts; `end2end` gives it only the
history, schema and service results.

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
