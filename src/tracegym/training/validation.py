"""The gaming alarm's training side: a validation slice held out of GRPO, scored every N steps, the best policy kept.

`tracegym train --validate_every N` holds whole dialogues of the training JSONL out of GRPO (`hold_out_slice`, by
the run's seed), and a `TrainerCallback` (`validation_callback`) asks a validator to score the policy on them
before the first step, every N steps and after the last. What the validator measures (greedy replies, the
training judge, the independent signals, the alarm's rule) is evaluation's: `tracegym.evaluation.validation`
builds it, and the commands hand it in (`grpo.run(config, validator_factory=…)`), because training may not import
evaluation (evaluation reads training's run directory; the dependency runs one way). Each point goes to log.jsonl
(`kind: validation`) and to the console; with `--keep_best` the callback keeps a copy of the trainable weights of
the best point (validation judge mean; the earliest wins a tie) and puts them back when training ends, so the
trainer saves that policy into adapter/ or model/, and run.json names its step.
"""

from __future__ import annotations

import hashlib
import random
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tracegym.errors import UserError
from tracegym.framing import Framing
from tracegym.judges.base import Judge
from tracegym.samples import Sample
from tracegym.training import rundir


@dataclass
class ValidationSlice:
    """What training hands the validator: the held-out samples and how the run frames and judges them."""

    samples: list[Sample]
    judge: Judge
    framing: Framing
    max_prompt_length: int
    max_new_tokens: int
    seed: int
    # Runs a coroutine to its end: on TRL's own event loop, where the reward's judge calls run (a client bound to
    # that loop cannot be used from another one).
    run_async: Callable[[Coroutine[Any, Any, Any]], Any]


@dataclass
class ValidationPoint:
    """One validation: the judge's mean and each independent signal's mean on the slice, and the alarms it raised."""

    step: int
    n: int
    judge: float | None
    signals: dict[str, float | None]
    judge_failures: int = 0
    # What scoring the slice cost, as a `judge_totals` record has it (the judge's Ledger and its seconds; not in the
    # reward's judge_totals): eval's cost per point counts it as the validation stage.
    judge_spend: dict[str, float] = field(default_factory=dict)
    alarms: list[str] = field(default_factory=list)
    seconds: float = 0.0
    weights_sha256: str = ""  # of the trainable weights scored here; the kept policy's digest is this one's
    best: bool = False

    def record(self) -> dict[str, Any]:
        """The log.jsonl record: `kind: validation`, the judge mean as `judge`, each signal under its own name."""
        row = {key: value for key, value in asdict(self).items() if key != "signals"}
        return {"kind": rundir.VALIDATION, "time": round(time.time(), 3), **row, **self.signals}


class Validator(Protocol):
    def __call__(self, model: Any, tokenizer: Any, step: int) -> ValidationPoint: ...


ValidatorFactory = Callable[[ValidationSlice], Validator]


@dataclass
class ValidationOutcome:
    """What run.json says about the run's validation (its `validation` field)."""

    every: int
    prompts: int
    dialogues: list[str]
    keep_best: bool
    steps: list[int] = field(default_factory=list)
    best_step: int | None = None
    best_judge: float | None = None
    kept_step: int | None = None  # the step whose policy adapter/ or model/ holds (the last one without keep_best)
    alarms: list[str] = field(default_factory=list)
    judge_calls: int = 0  # summed over the validations; the reward's spend is log.jsonl's judge_totals
    judge_cost_usd: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def hold_out_slice(samples: list[Sample], prompts: int, seed: int) -> tuple[list[Sample], list[Sample]]:
    """(GRPO's samples, the validation slice): whole dialogues, drawn in a seeded order until their turns number at
    least `prompts`, leave GRPO; the rest keep their order. A UserError when nothing would be left to train on."""
    dialogues = sorted({sample.dialogue_id or sample.id for sample in samples})
    random.Random(seed).shuffle(dialogues)
    turns: dict[str, int] = {}
    for sample in samples:
        turns[sample.dialogue_id or sample.id] = turns.get(sample.dialogue_id or sample.id, 0) + 1
    held: set[str] = set()
    for dialogue in dialogues:
        if sum(turns[d] for d in held) >= prompts:
            break
        held.add(dialogue)
    if len(held) >= len(dialogues):
        raise UserError(
            f"--validation_prompts {prompts}: the validation slice would take all {len(dialogues)} dialogues of "
            "--train_jsonl; give a smaller --validation_prompts or more samples"
        )
    kept = [sample for sample in samples if (sample.dialogue_id or sample.id) not in held]
    slice_ = [sample for sample in samples if (sample.dialogue_id or sample.id) in held]
    return kept, slice_


def weights_sha256(model: Any) -> str:
    """sha256 of the trainable parameters by name (the LoRA adapter, or every weight of a full fine-tune)."""
    digest = hashlib.sha256()
    for name, parameter in sorted(model.named_parameters()):
        if parameter.requires_grad:
            digest.update(name.encode())
            digest.update(parameter.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def trainable_copy(model: Any) -> dict[str, Any]:
    return {name: p.detach().to("cpu", copy=True) for name, p in model.named_parameters() if p.requires_grad}


def restore_trainable(model: Any, copy: dict[str, Any]) -> None:
    import torch

    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name in copy:
                parameter.copy_(copy[name].to(parameter.device))


def validate_policy(validator: Validator, model: Any, tokenizer: Any, step: int) -> ValidationPoint:
    """One validation that leaves training as it was: train mode, the tokenizer's padding side and the random
    generators (torch's, Python's) restored, so validating does not change what GRPO samples next."""
    import torch

    was_training, padding_side = model.training, tokenizer.padding_side
    started = time.perf_counter()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    python_state = random.getstate()
    with torch.random.fork_rng(devices=devices):
        model.eval()
        try:
            point = validator(model, tokenizer, step)
        finally:
            model.train(was_training)
            tokenizer.padding_side = padding_side
    random.setstate(python_state)
    point.seconds = round(time.perf_counter() - started, 2)
    point.weights_sha256 = weights_sha256(model)
    return point


def console_line(point: ValidationPoint, first: ValidationPoint | None) -> str:
    """`validation @ step 11 (24 prompts, 3.1 s): judge 0.712 (+0.013), chrf 45.10 (-0.40), …`."""

    def shown(name: str, value: float | None, start: float | None) -> str:
        if value is None:
            return f"{name} –"
        places = 2 if name in ("chrf", "reply_length_words") else 3
        change = f" ({value - start:+.{places}f})" if start is not None and first is not point else ""
        return f"{name} {value:.{places}f}{change}"

    parts = [shown("judge", point.judge, first.judge if first else None)]
    parts += [
        shown(name, value, first.signals.get(name) if first else None)
        for name, value in point.signals.items()
        if value is not None and name != "reply_length_words"
    ]
    best = ", best so far" if point.best else ""
    return f"validation @ step {point.step} ({point.n} prompts, {point.seconds:.1f} s{best}): " + ", ".join(parts)


def validation_callback(
    validator: Validator, outcome: ValidationOutcome, output_dir: Path, say: Callable[[str], None] | None = None
) -> Any:
    """A TrainerCallback that validates before the first step, every `outcome.every` steps and after the last,
    logs each point, and with `outcome.keep_best` puts the best policy's weights back when training ends."""
    from transformers import TrainerCallback

    say = say or _say

    class ValidationCallback(TrainerCallback):
        def __init__(self) -> None:
            self.first: ValidationPoint | None = None
            self.best: ValidationPoint | None = None
            self.best_weights: dict[str, Any] | None = None
            self.last_step: int | None = None

        def validate(self, state: Any, model: Any, tokenizer: Any) -> None:
            if not state.is_world_process_zero or state.global_step == self.last_step:
                return
            point = validate_policy(validator, model, tokenizer, state.global_step)
            self.last_step = point.step
            self.first = self.first or point
            if point.judge is not None and (self.best is None or point.judge > (self.best.judge or 0.0)):
                point.best, self.best = True, point
                if outcome.keep_best:
                    self.best_weights = trainable_copy(model)
            outcome.steps.append(point.step)
            outcome.judge_calls += int(point.judge_spend.get("calls", 0))
            outcome.judge_cost_usd += point.judge_spend.get("cost_usd", 0.0)
            rundir.append_log_record(output_dir, point.record())
            say(console_line(point, self.first))
            for alarm in point.alarms:
                outcome.alarms.append(alarm)
                rundir.append_log_record(output_dir, {"kind": "warning", "step": point.step, "message": alarm})
                say(alarm)

        def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
            self.validate(state, model, processing_class)

        def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
            if state.global_step % outcome.every == 0:
                self.validate(state, model, processing_class)

        def on_train_end(self, args, state, control, model=None, processing_class=None, **kwargs):
            self.validate(state, model, processing_class)
            if not state.is_world_process_zero:
                return
            if self.best is not None:
                outcome.best_step, outcome.best_judge = self.best.step, self.best.judge
            outcome.kept_step = state.global_step
            if outcome.keep_best and self.best is not None and self.best_weights is not None:
                restore_trainable(model, self.best_weights)
                outcome.kept_step = self.best.step
                say(f"keep_best: saving the policy of step {self.best.step} (validation judge {self.best.judge:.4f})")

    return ValidationCallback()


def _say(line: str) -> None:
    """A line on stderr that does not tear the progress bar."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)
