"""The run directory of `tracegym train --output_dir D` (DESIGN.md §6).

    D/
      config.yaml        the resolved GRPOConfig + LoraConfig + tracegym's options and judge settings
      config.sha256      sha256 of config.yaml's bytes
      log.jsonl          one record per logged step (reward, judge parts, failures, cache hits, tokens, cost, ...)
      runs/              TensorBoard events (TRL's `report_to: tensorboard`)
      checkpoint-*/      Trainer checkpoints, for `--resume_from_checkpoint`
      adapter/ | model/  LoRA adapter or full weights, with the tokenizer
      merged/            with --merge: the base model with the adapter merged in
      README.md          the model card: data, judge fingerprint, steps, final figures, warnings

Only the main process writes (`is_main` below); the other ranks train and keep quiet.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracegym.errors import UserError
from tracegym.samples import write_text_atomic

NOTHING_TO_LEARN_WARNING = (
    "WARNING: the reward was constant within every group at every step (frac_reward_zero_std = 1): GRPO had "
    "nothing to learn and the weights did not move for a reason. Check the judge (does it score these replies at "
    "all?), raise temperature or num_generations, or warm-start the student with `tracegym sft`."
)


@dataclass
class RunSummary:
    """What the model card and the console report at the end of a run."""

    output_dir: str
    weights_dir: str
    steps: int
    samples: int
    train_jsonl: str
    model_name: str
    judge_fingerprint: str
    config_sha256: str
    final: dict[str, Any] = field(default_factory=dict)
    judge_totals: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    merged_dir: str | None = None


def prepare_run_dir(output_dir: Path, *, overwrite: bool, resuming: bool) -> None:
    """Refuse to mix a new run into an old one, unless resuming or told to overwrite."""
    if output_dir.exists() and not output_dir.is_dir():
        raise UserError(f"--output_dir {output_dir}: exists and is not a folder; choose another path")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not (overwrite or resuming):
        raise UserError(
            f"--output_dir {output_dir}: already holds a run; pass --resume_from_checkpoint last to continue it, "
            "--overwrite to replace it, or choose another folder"
        )


def config_yaml(config: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(jsonable(config), sort_keys=False, allow_unicode=True)


def write_config(output_dir: Path, config: dict[str, Any]) -> str:
    """Write config.yaml and config.sha256; returns the digest."""
    text = config_yaml(config)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    write_text_atomic(output_dir / "config.yaml", text)
    write_text_atomic(output_dir / "config.sha256", f"{digest}  config.yaml\n")
    return digest


def jsonable(value: Any) -> Any:
    """Plain YAML/JSON types: enums to their values, sets to sorted lists, other objects to str."""
    import enum

    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def append_log_record(output_dir: Path, record: dict[str, Any]) -> None:
    """One line of log.jsonl; appended and flushed, so a crash loses at most the step in flight."""
    with (output_dir / "log.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(jsonable(record), ensure_ascii=False) + "\n")


def read_log(output_dir: Path) -> list[dict[str, Any]]:
    path = output_dir / "log.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def step_records(log: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [record for record in log if record.get("kind") == "step"]


def nothing_to_learn(log: Sequence[dict[str, Any]]) -> bool:
    """True when every logged step had a constant reward within every group."""
    fractions = [r.get("frac_reward_zero_std") for r in step_records(log)]
    fractions = [f for f in fractions if f is not None]
    return bool(fractions) and all(f >= 1.0 for f in fractions)


def final_figures(log: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The last step's figures that a reader of the model card wants."""
    steps = step_records(log)
    if not steps:
        return {}
    last, first = steps[-1], steps[0]
    keys = ("reward", "reward_std", "frac_reward_zero_std", "kl", "completions/mean_length", "loss")
    figures = {key: last[key] for key in keys if last.get(key) is not None}
    figures["first_reward"] = first.get("reward")
    figures.update({k: v for k, v in last.items() if k.startswith("judge/parts/")})
    return figures


def model_card(summary: RunSummary) -> str:
    lines = [f"# {Path(summary.output_dir).name}: a GRPO run by tracegym", ""]
    for warning in summary.warnings:
        lines += [f"> **{warning}**", ""]
    lines += [
        "| | |",
        "| --- | --- |",
        f"| base model | `{summary.model_name}` |",
        f"| data | `{summary.train_jsonl}` ({summary.samples} samples) |",
        f"| judge | `{summary.judge_fingerprint}` |",
        f"| steps | {summary.steps} |",
        f"| weights | `{Path(summary.weights_dir).name}/` |",
        f"| config | `config.yaml` (sha256 `{summary.config_sha256}`) |",
    ]
    if summary.merged_dir:
        lines.append(f"| merged model | `{Path(summary.merged_dir).name}/` |")
    lines += ["", "## Final figures (last logged step)", "", "| figure | value |", "| --- | --- |"]
    lines += [f"| {key} | {_fmt(value)} |" for key, value in summary.final.items()]
    if summary.judge_totals:
        lines += ["", "## Judge totals (main process)", "", "| figure | value |", "| --- | --- |"]
        lines += [f"| {key} | {_fmt(value)} |" for key, value in summary.judge_totals.items()]
    lines += [
        "",
        "## Use",
        "",
        "```python",
        *_usage_lines(summary),
        "```",
        "",
        "Per-step figures are in `log.jsonl` and, for TensorBoard, under `runs/`.",
        "",
    ]
    return "\n".join(lines)


def _usage_lines(summary: RunSummary) -> list[str]:
    weights = Path(summary.weights_dir).name
    if weights == "adapter":
        return [
            "from peft import AutoPeftModelForCausalLM",
            "from transformers import AutoTokenizer",
            f'model = AutoPeftModelForCausalLM.from_pretrained("{summary.output_dir}/adapter")',
            f'tokenizer = AutoTokenizer.from_pretrained("{summary.output_dir}/adapter")',
        ]
    return [
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        f'model = AutoModelForCausalLM.from_pretrained("{summary.output_dir}/{weights}")',
        f'tokenizer = AutoTokenizer.from_pretrained("{summary.output_dir}/{weights}")',
    ]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_model_card(summary: RunSummary) -> None:
    write_text_atomic(Path(summary.output_dir) / "README.md", model_card(summary))
