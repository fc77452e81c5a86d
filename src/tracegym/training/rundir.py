"""The run directory of `tracegym train --output_dir D` (DESIGN.md §6).

    D/
      run.json           what the run was (`RunRecord`): judge, framing, lengths, seeds, base model; read by
                         `read_run` for eval and for `--resume_from_checkpoint`
      config.yaml        the resolved GRPOConfig + LoraConfig + tracegym's options and judge settings
      config.sha256      sha256 of config.yaml's bytes
      log.jsonl          one record per logged step (reward, judge parts, failures, cache hits, tokens, cost, ...),
                         at the end of each invocation a `judge_totals` record: what the judge spent, summed
                         over processes (`read_judge_totals` adds up those of a resumed run), and with
                         --validate_every one per validation (`kind: validation`) and per gaming alarm
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
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from tracegym.errors import UserError
from tracegym.framing import Framing
from tracegym.samples import write_text_atomic

RUN_FILE = "run.json"
RUN_FORMAT = 1

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
    validation: dict[str, Any] | None = None  # run.json's `validation` (`training.validation.ValidationOutcome`)


@dataclass(frozen=True)
class RunRecord:
    """What a training run was, as eval and a resumed run need it: the one typed reading of a run directory."""

    judge_name: str  # the judge setting (`acts`, `gemini+acts`, …)
    judge_fingerprint: str  # the built judge's fingerprint: model, prompt, weights, … (`Judge.fingerprint`)
    framing: Framing  # how the student was framed: acts in the prompt, [n] placeholders, constrained decoding
    max_prompt_length: int
    max_completion_length: int
    seed: int
    data_seed: int | None
    base_model: str  # --model_name: the student the run started from
    use_lora: bool
    train_jsonl: str
    config_sha256: str  # of config.yaml, the resolved configuration
    tracegym_version: str
    # The resolved configuration by owner ({"tracegym": …, "judge": …, "grpo": …, "lora": …}), what config.yaml
    # shows: a resumed run starts from it, so `--resume_from_checkpoint last` alone continues the same run.
    config: dict[str, Any] = field(default_factory=dict)
    # With --validate_every: the slice, the steps validated, the best one and the one adapter/ or model/ holds,
    # the gaming alarms (`training.validation.ValidationOutcome`); None for a run without validation.
    validation: dict[str, Any] | None = None
    format: int = RUN_FORMAT

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["framing"] = self.framing.to_dict()
        return record

    @classmethod
    def from_dict(cls, data: Any, where: str) -> RunRecord:
        if not isinstance(data, dict):
            raise UserError(f"{where}: expected a JSON object; {REWRITE_RUN_FILE}")
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.name not in ("format", "config", "validation")}
        missing = sorted(required - set(data))
        unknown = sorted(set(data) - names)
        if missing or unknown:
            said = [f"missing {', '.join(missing)}"] if missing else []
            said += [f"unknown {', '.join(unknown)}"] if unknown else []
            raise UserError(f"{where}: {'; '.join(said)}; {REWRITE_RUN_FILE}")
        if data.get("format", RUN_FORMAT) != RUN_FORMAT:
            raise UserError(f"{where}: format {data['format']!r}, this tracegym reads {RUN_FORMAT}; {REWRITE_RUN_FILE}")
        values = dict(data)
        values["framing"] = Framing.from_dict(data["framing"], where=f"{where}: framing")
        if not isinstance(values.get("config", {}), dict):
            raise UserError(f"{where}: config must be an object of settings by owner; {REWRITE_RUN_FILE}")
        for name, kind in (("max_prompt_length", int), ("max_completion_length", int), ("seed", int)):
            if not isinstance(values[name], kind) or isinstance(values[name], bool):
                raise UserError(f"{where}: {name} must be an integer, got {values[name]!r}; {REWRITE_RUN_FILE}")
        return cls(**values)

    def training_judge(self) -> str:
        """The judge as a report names it: `acts (acts:00ff…)`."""
        return f"{self.judge_name} ({self.judge_fingerprint})"


REWRITE_RUN_FILE = "re-run `tracegym train` into a new --output_dir (or restore the file this run wrote)"


def write_run(output_dir: Path, record: RunRecord) -> None:
    write_text_atomic(output_dir / RUN_FILE, json.dumps(record.to_dict(), indent=2, ensure_ascii=False) + "\n")


def has_run_record(run_dir: Path) -> bool:
    return (run_dir / RUN_FILE).is_file()


def read_run(run_dir: str | Path) -> RunRecord:
    """The run.json of a `tracegym train` run directory; a UserError that says how to fix a missing or bad one."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise UserError(
            f"{run_dir}: no {RUN_FILE}, so this is not the run directory of `tracegym train` or it was written by a "
            "tracegym older than run.json; re-run `tracegym train`, or give the model folder itself (its adapter/ or model/) "
            "with the settings it was trained with (--placeholders, --training_judge)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc}); {REWRITE_RUN_FILE}") from None
    return RunRecord.from_dict(data, where=str(path))


# What must stay the same when a run is resumed: the reward, the prompts it scores and the model that learns.
RESUME_MUST_MATCH = ("judge_fingerprint", "framing", "base_model", "use_lora", "max_prompt_length")


def check_resumable(recorded: RunRecord, new: RunRecord, output_dir: Path) -> None:
    """A UserError when resuming `output_dir` with options that contradict the run it continues."""
    differ = [name for name in RESUME_MUST_MATCH if getattr(recorded, name) != getattr(new, name)]
    if not differ:
        return
    shown = "; ".join(
        f"{name}: run {_shown(getattr(recorded, name))}, now {_shown(getattr(new, name))}" for name in differ
    )
    raise UserError(
        f"--resume_from_checkpoint: the options contradict the run in {output_dir} ({shown}); resume with the "
        f"run's own settings (its config.yaml holds them) or start a new run in another --output_dir"
    )


def _shown(value: Any) -> str:
    return value.name if isinstance(value, Framing) else repr(value)


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
    """log.jsonl's records in order (none without the file); a line that is not a JSON object, such as one cut short
    by an interrupted run, is skipped."""
    path = output_dir / "log.jsonl"
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def log_records(run_dir: str | Path, kind: str) -> list[dict[str, Any]]:
    """The run's log.jsonl records of one `kind`, in order."""
    return [record for record in read_log(Path(run_dir)) if record.get("kind") == kind]


JUDGE_TOTALS = "judge_totals"
VALIDATION = "validation"  # one record per validation point (`training.validation.ValidationPoint.record`)


def append_judge_totals(output_dir: Path, totals: dict[str, Any]) -> None:
    """The `judge_totals` record of this invocation (`JudgeReward.totals`, summed over processes)."""
    append_log_record(output_dir, {"kind": JUDGE_TOTALS, **totals})


def read_judge_totals(run_dir: str | Path) -> dict[str, float] | None:
    """What the training judge spent over the whole run: its `judge_totals` records summed (a resumed run has one
    per invocation); None when the log has none (a run cut short, or written by a tracegym before them)."""
    records = log_records(run_dir, JUDGE_TOTALS)
    return summed([{key: value for key, value in record.items() if key != "kind"} for record in records])


def read_validation_spend(run_dir: str | Path) -> dict[str, float] | None:
    """What scoring the validation slice cost over the run, in `judge_totals` terms: its `kind: validation`
    records' `judge_spend` summed (a record written before them counts its prompts as replies and its judge_calls
    and judge_cost_usd); None when the run did not validate."""
    return summed(
        [
            record.get("judge_spend")
            or {
                "replies": record.get("n"),
                "calls": record.get("judge_calls"),
                "cost_usd": record.get("judge_cost_usd"),
            }
            for record in log_records(run_dir, VALIDATION)
        ]
    )


def summed(figures: Sequence[dict[str, Any]]) -> dict[str, float] | None:
    """Each key's values added up over `figures` (a missing or null value counts 0); None when there are none."""
    if not figures:
        return None
    keys = sorted({key for figure in figures for key in figure})
    return {key: sum(figure.get(key) or 0 for figure in figures) for key in keys}


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
    if summary.validation:
        lines.append(f"| validation | {_validation_cell(summary.validation, summary.steps)} |")
    lines += ["", "## Final figures (last logged step)", "", "| figure | value |", "| --- | --- |"]
    lines += [f"| {key} | {_fmt(value)} |" for key, value in summary.final.items()]
    if summary.judge_totals:
        lines += ["", "## Judge totals (all processes)", "", "| figure | value |", "| --- | --- |"]
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


def _validation_cell(validation: dict[str, Any], steps: int) -> str:
    """`24 held-out prompts every 11 steps; best step 22 (judge 0.7412); the weights are step 22's (--keep_best)`."""
    best = validation.get("best_step")
    judge = validation.get("best_judge")
    cell = f"{validation['prompts']} held-out prompts every {validation['every']} steps (see log.jsonl)"
    if best is not None and judge is not None:
        cell += f"; best step {best} (judge {judge:.4f})"
    kept = validation.get("kept_step")
    if kept is not None and kept != steps:
        cell += f"; the weights are step {kept}'s (--keep_best), not the last step's"
    return cell


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
