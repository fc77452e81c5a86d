"""Rebuild the SFT student `tracegym demo` ships (src/tracegym/data/student/): the demo's own prepare, student and
SFT stages, from scratch, with a longer SFT than its 10-minute budget holds.

    python bench/build_student.py        # about 15 minutes on a 2-core CPU

The work lands in bench/out/build-student; the student's files, `student.json` (what it was trained with, read by
the demo) and the model card `README.md` are written to --out. On the same machine the same seed gives the same
weights.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
from pathlib import Path

from tracegym.demo import (
    BUNDLED_STUDENT,
    DemoConfig,
    DemoRun,
    prepare_stage,
    run_stages,
    sft_settings,
    sft_stage,
    student_stage,
)
from tracegym.samples import read_samples

OUT = Path(__file__).resolve().parent / "out" / "build-student"
SFT_STEPS = 6000  # about 4 passes over the train split; 1,500 steps gave BLEU 22.6 and 6,000 26.5 (BENCHMARKS.md)
STUDENT_FILES = (
    "model.safetensors",
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
)


def build(out: Path, work: Path, seed: int, sft_steps: int) -> dict:
    """Train the student into `work` and copy it to `out`; returns the record written as student.json."""
    config = DemoConfig(
        out_dir=str(work), base="scratch", seed=seed, sft_steps=sft_steps, sft_minutes=600.0, reuse_base=False
    )
    demo = DemoRun(config=config, out_dir=work)
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    run_stages(demo, [("prepare", prepare_stage), ("student", student_stage), ("sft", sft_stage)], say)
    out.mkdir(parents=True, exist_ok=True)
    for name in STUDENT_FILES:
        shutil.copy2(work / "base" / name, out / name)
    record = {
        "framing": config.framing,
        "max_prompt_length": config.max_prompt_length,
        "max_completion_length": config.max_completion_length,
        "validation_prompts": config.validation_prompts,
        "validation_seed": seed,
        "seed": seed,
        "sft_steps": demo.sft.steps,
        "sft_learning_rate": sft_settings(demo).learning_rate,
        "train_turns": len(read_samples(work / "train.jsonl")),
        "validation_turns": len(read_samples(work / "validation.jsonl")),
        "parameters": demo.student.parameters,
        "vocab_size": demo.student.vocab_size,
        "prompts_over_length": demo.sft.prompts_shortened,
        "last_turns_cut": demo.sft.last_turns_cut,
        "acts_cut": demo.sft.system_prompts_cut,
        "first_loss": round(demo.sft.first_loss, 4),
        "final_loss": round(demo.sft.final_loss, 4),
        "sft_minutes": round(demo.timings["sft"] / 60, 1),
        "command": rebuild_command(seed, sft_steps),
    }
    (out / "student.json").write_text(json.dumps(record, indent=2) + "\n")
    (out / "README.md").write_text(model_card(record))
    return record


def rebuild_command(seed: int, sft_steps: int) -> str:
    """The command that rebuilds this student, naming each setting that is not the default."""
    flags = ("" if seed == 0 else f" --seed {seed}") + ("" if sft_steps == SFT_STEPS else f" --sft_steps {sft_steps}")
    return "python bench/build_student.py" + flags


def model_card(record: dict) -> str:
    about = (
        f"A {record['parameters'] / 1e6:.2f}M-parameter Gemma3 (4 layers, width 128) with its own byte-level BPE "
        f"tokenizer ({record['vocab_size']:,} tokens, among them the value placeholders [1] … [16]), built from "
        f"nothing by `tracegym student` and trained by `tracegym sft` for {record['sft_steps']:,} steps of 16 turns "
        f"(peak lr {record['sft_learning_rate']:g}, linear decay) on {record['train_turns']:,} system turns of the "
        f"bundled SGD train split (`../sgd_train`, CC BY-SA 4.0) in the `{record['framing']}` framing: the service "
        "and intent, the turn's dialogue acts with numbered values, and the last user turn. It writes the reply with "
        "[n] placeholders, which tracegym fills in from the acts. The validation slice that `tracegym demo` scores "
        f"during GRPO ({record['validation_turns']} turns of whole dialogues, drawn with seed "
        f"{record['validation_seed']}) was held out. Loss {record['first_loss']:.2f} → {record['final_loss']:.2f} "
        f"in {record['sft_minutes']:.0f} minutes on a 2-core CPU."
    )
    fit = (
        f"Prompts of at most {record['max_prompt_length']} tokens: {record['prompts_over_length']} of the train turns "
        f"are longer; {record['last_turns_cut'] - record['acts_cut']} of them fit once their last user turn's middle "
        f"is cut, and {record['acts_cut']} whose acts alone are longer lose the "
        "middle of their acts."
    )
    use = (
        "What it is for: the warm start of `tracegym demo`, whose 10-minute budget holds GRPO and eval but not this "
        "SFT. It knows nothing but SGD's system turns in this framing; it is not a chat model."
    )
    refuse = (
        "`student.json` records what it was trained with; the demo refuses settings it was not trained for "
        "(`--base scratch` trains a student for those)."
    )
    return (
        "\n\n".join(
            [
                "# The demo's SFT student",
                textwrap.fill(about, 115),
                textwrap.fill(fit, 115),
                textwrap.fill(use, 115),
                "Rebuilt with (from the repository root; the same machine and seed give the same weights):",
                f"    {record['command']}",
                textwrap.fill(refuse, 115),
            ]
        )
        + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=BUNDLED_STUDENT, help="where the student goes")
    parser.add_argument("--work", type=Path, default=OUT, help="the build's working folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sft_steps", type=int, default=SFT_STEPS)
    args = parser.parse_args()
    if args.work.exists():
        shutil.rmtree(args.work)
    print(json.dumps(build(args.out, args.work, args.seed, args.sft_steps)))


if __name__ == "__main__":
    main()
