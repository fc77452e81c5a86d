"""Is GRPO's change to the student a direction, or only a size? Two probes of a finished `tracegym demo` run.

    python bench/weight_probe.py --run bench/out/demo-seed0 --alphas 0.5 --noise_seeds 1

For a demo run whose GRPO trained every weight (not --use_lora):

- `alpha-A`: the student moved back part of the way, θ_SFT + A · (θ_GRPO − θ_SFT), the weight interpolation of
  WiSE-FT (Wortsman et al., 2022, "Robust fine-tuning of zero-shot models"), which keeps more of the base model's
  behaviour away from the training data;
- `noise-S`: θ_SFT plus Gaussian noise (seed S) scaled, tensor by tensor, to the norm of GRPO's update: a random
  move of the same size.

Each is evaluated against the SFT base exactly as the demo's eval stage does (the same turns, judge, seed and
framing) into <run>/probe-<name>/, and printed as one JSON line with bench/demo.py's fields and the number of replies
that differ from the SFT student's. Each probe takes about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from demo import accepted_shares, verdict_of


def moved(base: dict, trained: dict, move: Callable[[object], object]) -> dict:
    """Every tensor of `base` plus move(GRPO's update of it)."""
    return {name: (base[name] + move(trained[name] - base[name])).contiguous() for name in base}


def probe_weights(base: dict, trained: dict, name: str) -> dict:
    """The weights the probe `name` (alpha-A or noise-S) evaluates."""
    import torch

    kind, value = name.split("-")
    if kind == "alpha":
        return moved(base, trained, lambda update: float(value) * update)
    generator = torch.Generator().manual_seed(int(value))

    def same_norm_noise(update: object) -> object:
        noise = torch.randn(update.shape, generator=generator)
        return noise * (update.norm() / noise.norm()) if update.norm() > 0 else torch.zeros_like(update)

    return moved(base, trained, same_norm_noise)


def changed_replies(generations: Path) -> int:
    rows = [json.loads(line) for line in generations.read_text().splitlines() if line.strip()]
    return sum(row["base_replies"] != row["trained_replies"] for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a finished `tracegym demo` output directory")
    parser.add_argument("--alphas", type=float, nargs="*", default=[0.5], help="interpolation weights of GRPO's update")
    parser.add_argument("--noise_seeds", type=int, nargs="*", default=[1], help="seeds of same-size random moves")
    args = parser.parse_args()

    from safetensors.torch import load_file, save_file

    from tracegym.demo import DemoConfig, DemoRun, eval_config, eval_stage

    record = json.loads((args.run / "demo.json").read_text())
    trained_model = args.run / "trained" / "model"
    if not (trained_model / "model.safetensors").is_file():
        raise SystemExit(f"error: {trained_model}: no fully fine-tuned model (a --use_lora run has only an adapter)")
    demo = DemoRun(config=DemoConfig(**{**record["config"], "out_dir": str(args.run)}), out_dir=args.run)
    base = load_file(str(args.run / "base" / "model.safetensors"))
    trained = load_file(str(trained_model / "model.safetensors"))
    names = [f"alpha-{alpha:g}" for alpha in args.alphas] + [f"noise-{seed}" for seed in args.noise_seeds]
    for name in names:
        out = args.run / f"probe-{name}"
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(trained_model, out / "model")
        save_file(probe_weights(base, trained, name), str(out / "model" / "model.safetensors"), {"format": "pt"})
        eval_stage(demo, lambda line: None, eval_config(demo, out / "model"), report_dir=out / "eval")
        results = json.loads((out / "eval" / "results.json").read_text())
        generations = out / "eval" / "generations.jsonl"
        row = {"probe": name, **verdict_of(results, accepted_shares(generations))}
        print(json.dumps({**row, "replies_changed": changed_replies(generations)}), flush=True)


if __name__ == "__main__":
    main()
