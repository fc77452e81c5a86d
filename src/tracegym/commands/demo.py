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

from tracegym.commands.common import positive_float, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out_dir", default="runs/demo", help="where everything goes (default runs/demo)")
    parser.add_argument("--sgd_root", default=None, help="an SGD clone instead of the bundled sample")
    parser.add_argument("--seed", type=int, default=0, help="random seed for every stage (default 0)")
    parser.add_argument("--framing", choices=("acts", "end2end"), default="acts", help="what the student is given")
    parser.add_argument("--sft_minutes", type=positive_float, default=3.0, help="SFT warm-start budget (default 3)")
    parser.add_argument("--grpo_minutes", type=positive_float, default=4.0, help="GRPO budget in minutes (default 4)")
    parser.add_argument("--grpo_steps", type=positive_int, default=60, help="GRPO steps at most (default 60)")
    parser.add_argument(
        "--grpo_learning_rate", type=positive_float, default=5e-5, help="GRPO learning rate (default 5e-5)"
    )
    parser.add_argument("--beta", type=float, default=0.04, help="GRPO KL coefficient to the SFT base (default 0.04)")
    parser.add_argument(
        "--temperature", type=positive_float, default=0.7, help="GRPO sampling temperature (default 0.7)"
    )
    parser.add_argument("--eval_n", type=positive_int, default=None, help="held-out turns to evaluate (default all)")
    parser.add_argument("--max_prompt_length", type=positive_int, default=192, help="prompt tokens (default 192)")
    parser.add_argument("--max_completion_length", type=positive_int, default=40, help="reply tokens (default 40)")
    parser.add_argument(
        "--no_constrain_placeholders",
        action="store_true",
        help="acts framing: let the student write any [n], any number of times (default: each [n] of the acts at "
        "most once and no other, in GRPO sampling and in eval)",
    )
    parser.add_argument(
        "--no_reuse_base", action="store_true", help="rebuild the SFT student even if an earlier run made the same one"
    )


def run(args: argparse.Namespace) -> int:
    from tracegym.commands.eval import result_lines
    from tracegym.demo import DemoConfig, run_demo

    config = DemoConfig(
        out_dir=args.out_dir,
        sgd_root=args.sgd_root,
        seed=args.seed,
        framing=args.framing,
        sft_minutes=args.sft_minutes,
        grpo_minutes=args.grpo_minutes,
        grpo_steps=args.grpo_steps,
        grpo_learning_rate=args.grpo_learning_rate,
        beta=args.beta,
        temperature=args.temperature,
        eval_n=args.eval_n,
        max_prompt_length=args.max_prompt_length,
        max_completion_length=args.max_completion_length,
        constrain_placeholders=not args.no_constrain_placeholders,
        reuse_base=not args.no_reuse_base,
    )
    demo = run_demo(config)
    for line in result_lines(demo.result):
        print(line)
    print(f"\nreport: {demo.out_dir / 'eval' / 'report.md'}  (total {sum(demo.timings.values()) / 60:.1f} min)")
    return 0
