"""The whole loop offline, on bundled SGD: prepare → base → focus → GRPO → eval → report.

The student learns from the bundled train split (2,478 dialogues, every fifth SGD train file) and is evaluated on
the bundled held-out split (400 SGD dev and test dialogues, 2,981 turns, seen and unseen services); `--sgd_root`
takes all three from a clone.
Its SFT warm start ships in the package (`data/student`: 6,000 SFT steps, a quarter hour on 2 cores, rebuilt by
`python bench/build_student.py`); `--base scratch` builds the student and runs SFT here instead (prepare → student
→ SFT → …), as any other data or framing needs.

Each stage is one short function over the library (the same code the subcommands run), so the demo is also a
readable recipe. Everything it makes lands in `out_dir`:

    train.jsonl, eval.jsonl   the samples (eval: dev + test, unseen services marked), compact framing by default
    validation.jsonl          whole train dialogues held out of SFT and GRPO: the gaming alarm's slice
    grpo.jsonl                GRPO's turns: those of 2,000 drawn train turns whose greedy SFT reply scores below 1
    demo.json                 the exact `tracegym prepare` arguments, the settings, stage timings, headline figures
    student/                  --base scratch: the freshly built tokenizer + Gemma3 student (random weights)
    base/                     the SFT warm start, the "base" of the comparison: the bundled one (its model card
                              README.md with it) or, with --base scratch, the one SFT made here
    trained/                  the GRPO run directory (adapter or model, log.jsonl, model card); its log holds the
                              validation points (every 11 steps)
    eval/                     results.json, generations.jsonl, report.md, plots (the validation curve among them)
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracegym.errors import UserError
from tracegym.framing import NAMED, Framing
from tracegym.options import non_negative_float, non_negative_int, option, positive_float, positive_int
from tracegym.samples import write_json, write_jsonl

if TYPE_CHECKING:
    from tracegym.evaluation.eval import EvalConfig
    from tracegym.training.config import RunConfig
    from tracegym.training.sft import SFTSettings
    from tracegym.training.student import StudentConfig

EVAL_SPLITS = ("dev", "test")
BUNDLED_STUDENT = Path(__file__).resolve().parent / "data" / "student"
BASES = ("bundled", "scratch")
# Value placeholders [1] … [16] get a token each; no SGD turn has more than 16 values (the bundled sample: 7).
PLACEHOLDER_TOKENS = 16


@dataclass
class DemoConfig:
    """The demo's knobs, and `tracegym demo`'s flags. Defaults fit the 10-minute budget on a 2-core CPU."""

    out_dir: str = option("runs/demo", "where everything goes", output="dir")
    sgd_root: str | None = option(
        None, "an SGD clone (train/ dev/ test/) instead of the bundled train and held-out (dev + test) splits"
    )
    seed: int = option(0, "random seed for every stage")
    train_dialogues: int | None = option(
        None, "train on N train dialogues, chosen by --seed (default: all of them)", type=positive_int
    )
    framing: str = option(
        "compact",
        "what the student is given: compact (the service, the reference acts with [n] placeholders, the last user "
        "turn), acts (the same acts in the full context: schema, calls, history) or end2end (no acts)",
        choices=tuple(NAMED),
    )
    base: str = option(
        "bundled",
        "the SFT warm start: bundled (shipped in the package: 6,000 SFT steps on the bundled train split with the "
        "compact framing; its model card says how it was made) or scratch (build the student here and run "
        "--sft_steps of SFT: needed for --sgd_root, --train_dialogues, another framing or other lengths)",
        choices=BASES,
    )
    # Stages stop on steps, so a seed gives the same figures on any machine; the minutes are only a safety cap,
    # and the demo and its report say so when one fires (on a 2-core CPU the steps take about 3.5 and 6 minutes; GRPO
    # 6.0–6.3 minutes since 3fc5bfb on a machine losing a third of its CPU to the host, where before it hit its cap).
    sft_steps: int = option(1500, "--base scratch: SFT warm-start optimizer steps (16 turns each)", type=positive_int)
    sft_minutes: float = option(
        6.0, "--base scratch: SFT safety cap in minutes (a run it stops is not repeatable)", type=positive_float
    )
    grpo_steps: int = option(44, "GRPO steps", type=positive_int)
    # 8 turns a step moved acts-11's held-out score by +0.001 / +0.012 / +0.008 on seeds 0 / 1 / 2 and its validation
    # curve up and down between checks; 16 (seed 0) by +0.013, the curve rising at every check, broken text lower
    # (BENCHMARKS.md, demo). Twice the GRPO time.
    grpo_prompts_per_step: int = option(
        16,
        "GRPO: train turns per optimizer step, each with 8 sampled replies (gradient accumulation makes up the batch)",
        type=positive_int,
    )
    grpo_minutes: float = option(
        9.0, "GRPO safety cap in minutes (a run it stops is not repeatable)", type=positive_float
    )
    # On the shipped student (seed 7, the 567-turn sample), 5e-5 and 1e-4 moved the judge by +0.006 and +0.013 (CIs
    # across 0); 2e-4 by +0.03, its validation best at step 22 (BENCHMARKS.md, demo).
    grpo_learning_rate: float = option(2e-4, "GRPO learning rate", type=positive_float)
    # LoRA at lr 1e-3 (seed 0): Δ +0.002, CI across 0; it learned less and forgot no less (BENCHMARKS.md, demo,
    # twelfth session).
    use_lora: bool = option(
        False, "GRPO trains a LoRA adapter (tracegym's LoraConfig defaults) instead of every weight"
    )
    # `learned` (the act judge times P(a person accepts), fitted on the bundled labels) agrees better with people but
    # did not make a better student: by hand 207 / 215 / 205 of 300 against acts-16's 208 / 212 / 203, BLEU −1.05 on
    # seed 2, chrF warnings on seeds 0 and 2 (BENCHMARKS.md, demo, eleventh session).
    # `acts+form` at 0.9,0.1 (seed 0): repetition 14 → 12 replies of 2,981 (SFT 5), Δ +0.011 against +0.013, broken
    # text 0.07% → 0.17% (BENCHMARKS.md, demo, thirteenth session).
    reward: str = option(
        "acts",
        "GRPO's reward, a judge spec: acts, learned (the act judge times the chance, learned from the bundled "
        "labelled replies, that a person accepts the reply), or a mixture such as `acts+form` (form: the act "
        "judge's form factors alone, so a wrong reply that repeats itself earns less than a wrong one that reads "
        "well); eval always scores with the act judge",
    )
    reward_weights: str | None = option(None, "weights of a --reward mixture, comma separated: 0.8,0.2")
    # On the 567 turns the demo held out before sgd_heldout: seed 0 at 0.04, Δ +0.006, BLEU −1.2 (GRPO's gains where
    # the SFT student was wrong cancelled by its losses where it was right); at 0.2, Δ +0.013, BLEU −0.15 (seeds 1
    # and 2: Δ +0.000 and +0.012, BLEU −1.1 and −1.0). BENCHMARKS.md, demo.
    beta: float = option(0.2, "GRPO KL coefficient to the SFT base: keeps the policy near it")
    temperature: float = option(0.7, "GRPO sampling temperature", type=positive_float)
    sft_coef: float = option(
        0.0,
        "GRPO: weight of the SFT replies' cross-entropy (train.jsonl's turns) added to each micro-batch's loss, "
        "InstructGPT's PPO-ptx; 0: off",
        type=non_negative_float,
    )
    # batch: Δ +0.018 / +0.011 / +0.012 against group's +0.013 / +0.008 / +0.012, but by hand 210 / 210 / 200 of 300
    # against 208 / 212 / 203 and repetition higher still (BENCHMARKS.md, demo, twelfth session).
    scale_rewards: str = option(
        "group",
        "GRPO advantages divided by the rewards' standard deviation in each group (group), in the whole batch (batch) "
        "or not at all (none): GRPOConfig.scale_rewards",
        choices=("group", "batch", "none"),
    )
    constrain_placeholders: bool = option(
        True,
        "acts framing: each [n] of the acts at most once and no other, in GRPO sampling and in eval",
    )
    validate_every: int = option(
        11,
        "GRPO: score a slice of train dialogues held out of GRPO every N steps with the judge and independent "
        "signals, warning when the judge rises while one falls (the gaming alarm); 0: off",
        type=non_negative_int,
    )
    # The first shipped student's slice, 71 turns, jumped by up to 0.025 between neighbouring GRPO steps: too few
    # to tell steps apart. 604 give a smooth curve for about 6 s of scoring per point on 2 cores (BENCHMARKS.md).
    validation_prompts: int = option(
        600, "GRPO: turns in the validation slice (whole train dialogues, never trained on)", type=positive_int
    )
    focus_pool: int = option(
        2000,
        "GRPO trains on the turns, among this many drawn from the train split, whose greedy SFT reply the judge "
        "scores below 1 (a perfect reply gives GRPO groups of equal rewards: nothing to learn); 0: every train turn",
        type=non_negative_int,
    )
    # 1.0: the drop on right turns barely moved (−0.031, −0.037 on seeds 0 and 1) and seed 1's gain lost its CI.
    focus_anchors: float = option(
        0.0,
        "with --focus_pool: for each turn kept, this many of the drawn turns whose greedy SFT reply scores 1 join "
        "GRPO's turns too, so its steps also see the replies the SFT student already gets right",
        type=non_negative_float,
    )
    keep_best: bool = option(
        True, "GRPO: keep the policy best on the validation slice instead of the last (off with --validate_every 0)"
    )
    eval_n: int | None = option(None, "held-out turns to evaluate (default all)", type=positive_int)
    max_prompt_length: int = option(128, "prompt tokens", type=positive_int)
    max_completion_length: int = option(40, "reply tokens", type=positive_int)
    reuse_base: bool = option(True, "keep an SFT student made with the same settings by an earlier run")

    def __post_init__(self) -> None:
        Framing.named(self.framing)  # an unknown name is a UserError
        for name in (
            "sft_steps",
            "sft_minutes",
            "grpo_minutes",
            "grpo_steps",
            "max_prompt_length",
            "max_completion_length",
        ):
            if getattr(self, name) <= 0:
                raise UserError(f"--{name} {getattr(self, name)}: must be positive")
        for name in ("eval_n", "train_dialogues"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise UserError(f"--{name} {getattr(self, name)}: must be positive")
        if self.base == "bundled":
            conflicts = bundled_base_conflicts(self)
            if conflicts:
                raise UserError(
                    f"--base bundled: the shipped student was trained {conflicts[0]}; add --base scratch to build "
                    "and train one for these settings"
                )

    @property
    def student_framing(self) -> Framing:
        """The typed framing every stage uses: the named one, its constraint switched off by --no_constrain_placeholders."""
        named = Framing.named(self.framing)
        return replace(named, constrained=named.constrained and self.constrain_placeholders)

    @property
    def placeholders(self) -> bool:
        return self.student_framing.placeholders

    @property
    def placeholder_tokens(self) -> int:
        return PLACEHOLDER_TOKENS if self.placeholders else 0

    def base_digest(self) -> str:
        """What the SFT student depends on; a stored base with the same digest is reused."""
        keys = (
            "sgd_root",
            "seed",
            "train_dialogues",
            "validate_every",  # with validation_prompts: the train dialogues SFT holds out for validation
            "validation_prompts",
            "framing",
            "sft_steps",
            "sft_minutes",
            "max_prompt_length",
            "max_completion_length",
        )
        shape = {"placeholder_tokens": self.placeholder_tokens}
        canonical = json.dumps({**{key: getattr(self, key) for key in keys}, **shape}, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def bundled_base_record() -> dict[str, Any]:
    """What the shipped student was trained with (`data/student/student.json`, written by bench/build_student.py)."""
    return json.loads((BUNDLED_STUDENT / "student.json").read_text())


def bundled_base_conflicts(config: DemoConfig) -> list[str]:
    """How `config` differs from what the shipped student was trained with, each as "with --flag X, not Y"."""
    record = bundled_base_record()
    wanted = {"sgd_root": None, "train_dialogues": None}
    wanted |= {key: record[key] for key in ("framing", "max_prompt_length", "max_completion_length")}
    wanted |= {"validation_prompts": record["validation_prompts"]}
    return [
        f"with --{key} {want}, not {getattr(config, key)}" if want is not None else f"without --{key}"
        for key, want in wanted.items()
        if getattr(config, key) != want
    ]


@dataclass
class DemoRun:
    """What the demo did: paths, timings, and the evaluation's result."""

    config: DemoConfig
    out_dir: Path
    timings: dict[str, float] = field(default_factory=dict)
    prepare_commands: list[list[str]] = field(default_factory=list)
    reused_base: bool = False
    student: Any = None  # StudentSummary, when this run built the student
    sft: Any = None  # SFTResult, when this run trained the base
    result: Any = None
    warnings: list[str] = field(default_factory=list)  # a safety cap that fired: said now, and in the report


def warn(demo: DemoRun, say: Callable[[str], None], line: str) -> None:
    """Say `line` now and keep it for the report's warnings and demo.json."""
    demo.warnings.append(line)
    say(line)


def run_demo(config: DemoConfig, say: Callable[[str], None] | None = None) -> DemoRun:
    """Run every stage in order (the bundled base or student + SFT) and write `demo.json`; returns the run (its
    `result` is the EvalResult)."""
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    check_sgd_roots(config)
    _quiet_library_progress()
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    demo = DemoRun(config=config, out_dir=out_dir)
    stages: list[tuple[str, Stage]] = [("prepare", prepare_stage)]
    if config.base == "bundled":
        stages.append(("base", bundled_base_stage))
    else:
        stages += [("student", student_stage), ("sft", sft_stage)]
    stages += [("focus", focus_stage), ("grpo", grpo_stage), ("eval", eval_stage)]
    run_stages(demo, stages, say)
    write_json(out_dir / "demo.json", demo_record(demo))
    return demo


Stage = Callable[[DemoRun, Callable[[str], None]], None]


def run_stages(demo: DemoRun, stages: list[tuple[str, Stage]], say: Callable[[str], None]) -> None:
    """Each stage in order, its wall time in `demo.timings` (bench/gpu.py runs its own list through this too)."""
    for number, (name, stage) in enumerate(stages, start=1):
        say(f"[{number}/{len(stages)}] {name} …")
        started = time.perf_counter()
        stage(demo, say)
        demo.timings[name] = round(time.perf_counter() - started, 1)
        say(f"[{number}/{len(stages)}] {name} done in {demo.timings[name]:.0f} s")


def _quiet_library_progress() -> None:
    """The stages say what they do; transformers' per-file loading bars would bury that."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


def check_sgd_roots(config: DemoConfig) -> None:
    """Every split the demo reads must be there before anything starts (a UserError names what is missing)."""
    from tracegym.traces.sgd import read_schema

    read_schema(train_root(config), "train")
    for split in EVAL_SPLITS:
        read_schema(held_out_root(config), split)


def train_root(config: DemoConfig) -> Path:
    """Where the train split comes from: --sgd_root, else the bundled train split."""
    from tracegym.traces.sgd import bundled_sgd_train_root

    return Path(config.sgd_root) if config.sgd_root else bundled_sgd_train_root()


def held_out_root(config: DemoConfig) -> Path:
    """Where dev and test come from: --sgd_root, else the bundled held-out split."""
    from tracegym.traces.sgd import bundled_sgd_heldout_root

    return Path(config.sgd_root) if config.sgd_root else bundled_sgd_heldout_root()


def prepare_stage(demo: DemoRun, say: Callable[[str], None]) -> None:
    from tracegym.traces.compile import CompileOptions, compile_sgd
    from tracegym.traces.sgd import train_service_names

    config = demo.config
    framing = config.student_framing
    # Unseen means absent from the train split the student learns from, wherever dev and test come from.
    options = CompileOptions(
        include_acts=framing.acts,
        compact=framing.compact,
        seed=config.seed,
        seen_services=train_service_names(train_root(config)),
    )
    train = list(compile_sgd(train_root(config), "train", replace(options, max_dialogues=config.train_dialogues)))
    held_out = [sample for split in EVAL_SPLITS for sample in compile_sgd(held_out_root(config), split, options)]
    validation: list[Any] = []
    if config.validate_every or config.base == "bundled":
        from tracegym.training.validation import hold_out_slice

        train, validation = hold_out_slice(train, config.validation_prompts, validation_seed(config))
    write_jsonl(demo.out_dir / "train.jsonl", train)
    write_jsonl(demo.out_dir / "validation.jsonl", validation)
    write_jsonl(demo.out_dir / "eval.jsonl", held_out)
    flags = ["--include_acts"] * framing.acts + ["--compact"] * framing.compact
    demo.prepare_commands = [
        [
            "tracegym",
            "prepare",
            "--sgd_root",
            str(train_root(config) if split == "train" else held_out_root(config)),
            "--split",
            split,
            *(["--max_dialogues", str(config.train_dialogues)] if split == "train" and config.train_dialogues else []),
            *([] if split == "train" else ["--seen_in", str(train_root(config))]),
            *flags,
            "--seed",
            str(config.seed),
            "--out_path",
            f"{split}.jsonl",
        ]
        for split in ("train", *EVAL_SPLITS)
    ]
    unseen = sum(sample.unseen_service for sample in held_out)
    say(
        f"    {len(train)} train turns, {len(validation)} more for validation; {len(held_out)} held-out turns "
        f"(dev + test), {unseen} on unseen services"
    )


def validation_seed(config: DemoConfig) -> int:
    """The seed that draws the validation slice: the shipped student's own, whose SFT never saw that slice, or
    --seed's when SFT runs here."""
    return bundled_base_record()["validation_seed"] if config.base == "bundled" else config.seed


def bundled_base_stage(demo: DemoRun, say: Callable[[str], None]) -> None:
    """The shipped SFT student into base/, its model card with it."""
    import shutil

    shutil.copytree(BUNDLED_STUDENT, demo.out_dir / "base", dirs_exist_ok=True)
    record = bundled_base_record()
    say(
        f"    the bundled student: {record['parameters'] / 1e6:.2f}M parameters, {record['sft_steps']:,} SFT steps on "
        f"{record['train_turns']:,} train turns (base/README.md says how it was made)"
    )


def student_config(demo: DemoRun) -> StudentConfig:
    """The demo's student: `build_student`'s default shape, placeholder tokens as the framing needs."""
    from tracegym.training.student import StudentConfig

    return StudentConfig(
        out_dir=str(demo.out_dir / "student"),
        placeholder_tokens=demo.config.placeholder_tokens,
        seed=demo.config.seed,
    )


def student_stage(demo: DemoRun, say: Callable[[str], None], student: StudentConfig | None = None) -> None:
    """Build the tokenizer and student (`student`: another shape than `student_config`'s, e.g. bench/gpu.py's)."""
    if _stored_base_matches(demo):
        demo.reused_base = True
        say("    reusing the student and SFT base of an earlier run with the same settings")
        return
    from tracegym.placeholders import delexicalize
    from tracegym.samples import read_samples
    from tracegym.training.student import build_student, texts_of_samples

    samples = read_samples(demo.out_dir / "train.jsonl")
    rows = [sample.to_dict() for sample in samples]
    if demo.config.placeholders:
        # The tokenizer must know the placeholder spellings the student will write.
        rows += [{"ground_truth": delexicalize(s.ground_truth, s.acts)} for s in samples]
    demo.student = build_student(texts_of_samples(rows), student or student_config(demo))
    say(f"    {demo.student.parameters / 1e6:.2f}M parameters, vocabulary {demo.student.vocab_size}")


def sft_settings(demo: DemoRun) -> SFTSettings:
    from tracegym.training.sft import SFTSettings

    config = demo.config
    return SFTSettings(
        model_name=str(demo.out_dir / "student"),
        train_jsonl=str(demo.out_dir / "train.jsonl"),
        output_dir=str(demo.out_dir / "base"),
        max_steps=config.sft_steps,
        max_minutes=config.sft_minutes,
        max_prompt_length=config.max_prompt_length,
        max_completion_length=config.max_completion_length,
        seed=config.seed,
        placeholders=config.placeholders,
    )


def sft_stage(demo: DemoRun, say: Callable[[str], None], settings: SFTSettings | None = None) -> None:
    """The SFT warm start into base/ (`settings`: other than `sft_settings`', e.g. bench/gpu.py's batch and bf16)."""
    if demo.reused_base:
        return
    from tracegym.training.sft import run_sft

    config = demo.config
    demo.sft = result = run_sft(settings or sft_settings(demo))
    if settings is None:  # a base made with other settings than the digest covers is never reused
        (demo.out_dir / "base" / "demo_base.json").write_text(json.dumps({"digest": config.base_digest()}) + "\n")
    say(
        f"    {result.steps} steps, loss {result.first_loss:.2f} → {result.final_loss:.2f}, {result.tokens_per_second:,.0f} tokens/s"
    )
    if result.stopped_by == "max_minutes":
        warn(
            demo,
            say,
            f"warning: SFT stopped at its {config.sft_minutes:g}-minute safety cap after {result.steps} of "
            f"{config.sft_steps} steps: this machine is slower than the demo's budget assumes, and this run's "
            "figures will not repeat; raise --sft_minutes for a repeatable run",
        )


def focus_stage(demo: DemoRun, say: Callable[[str], None]) -> None:
    """GRPO's turns (grpo.jsonl): every train turn, or with --focus_pool N those of N drawn turns whose greedy SFT
    reply scores below 1 (`evaluation.focus`), with --focus_anchors times as many of the drawn turns it scores 1."""
    import random

    from tracegym.evaluation.focus import turns_to_learn, with_anchors
    from tracegym.judges import JudgeSettings
    from tracegym.samples import read_samples

    config = demo.config
    samples = read_samples(demo.out_dir / "train.jsonl")
    if config.focus_pool:
        draw = random.Random(config.seed)
        pool = sorted(draw.sample(range(len(samples)), min(config.focus_pool, len(samples))))
        drawn = [samples[i] for i in pool]
        focus = turns_to_learn(
            str(demo.out_dir / "base"),
            drawn,
            JudgeSettings(judge="acts"),
            config.student_framing,
            max_prompt_length=config.max_prompt_length,
            max_new_tokens=config.max_completion_length,
            seed=config.seed,
        )
        say(f"    {len(focus.kept)} of {focus.looked_at} train turns drawn have a greedy SFT reply scored below 1")
        chosen = with_anchors(focus.scores, config.focus_anchors, draw)
        if len(chosen) > len(focus.kept):
            say(f"    {len(chosen) - len(focus.kept)} turns it answers perfectly join them (--focus_anchors)")
        samples = [drawn[i] for i in chosen]
    write_jsonl(demo.out_dir / "grpo.jsonl", samples)


def grpo_run_config(
    demo: DemoRun, output_dir: Path | None = None, use_lora: bool = False, grpo: dict[str, Any] | None = None
) -> RunConfig:
    """The demo's GRPO run: the act judge on the SFT base into `output_dir` (default trained/); `grpo`: GRPOConfig
    keys over the demo's own (bench/gpu.py's batch shape and bf16)."""
    from tracegym.judges import JudgeSettings
    from tracegym.training.config import GRPO_DEFAULTS, TrainOptions, run_config

    config = demo.config
    framing = config.student_framing
    options = TrainOptions(
        train_jsonl=str(demo.out_dir / "grpo.jsonl"),
        model_name=str(demo.out_dir / "base"),
        use_lora=use_lora or config.use_lora,
        overwrite=True,
        max_minutes=config.grpo_minutes,
        max_prompt_length=config.max_prompt_length,
        placeholders=framing.placeholders,
        constrain_placeholders=framing.constrained if framing.placeholders else TrainOptions.constrain_placeholders,
        # A reply cut off at the cap scores 0 and stays in the loss: masked out instead (TRL's
        # mask_truncated_completions), it never pushes back, and replies grew longer and more repetitive.
        truncated_reward=0.0,
        sft_coef=config.sft_coef,
        sft_jsonl=str(demo.out_dir / "train.jsonl") if config.sft_coef else None,
        validate_every=config.validate_every,
        validation_jsonl=str(demo.out_dir / "validation.jsonl") if config.validate_every else None,
        keep_best=config.keep_best and bool(config.validate_every),
    )
    completions_per_step = config.grpo_prompts_per_step * GRPO_DEFAULTS["num_generations"]
    keys = {
        "output_dir": str(output_dir or demo.out_dir / "trained"),
        "max_steps": config.grpo_steps,
        "gradient_accumulation_steps": -(-completions_per_step // GRPO_DEFAULTS["per_device_train_batch_size"]),
        "learning_rate": config.grpo_learning_rate,
        "beta": config.beta,
        "temperature": config.temperature,
        "scale_rewards": config.scale_rewards,
        "max_completion_length": config.max_completion_length,
        "seed": config.seed,
        "report_to": ["none"],
    }
    reward = JudgeSettings(judge=config.reward, judge_weights=config.reward_weights)
    return run_config(options, reward, {**keys, **(grpo or {})})


def grpo_stage(demo: DemoRun, say: Callable[[str], None], run: RunConfig | None = None) -> None:
    """GRPO on the SFT base with the act judge (`run`: other than `grpo_run_config(demo)`'s)."""
    from tracegym.evaluation.validation import SliceValidator
    from tracegym.training.grpo import run as run_grpo

    config = demo.config
    summary = run_grpo(run or grpo_run_config(demo), validator_factory=SliceValidator)
    if summary is not None:
        reward = summary.final.get("reward")
        say(f"    {summary.steps} GRPO steps, final reward {reward if reward is None else round(reward, 3)}")
        if summary.validation:
            say(
                f"    validation slice ({summary.validation['prompts']} prompts): best judge at step "
                f"{summary.validation['best_step']}, {len(summary.validation['alarms'])} gaming alarm(s)"
            )
        if summary.steps < config.grpo_steps:
            warn(
                demo,
                say,
                f"warning: GRPO stopped at its {config.grpo_minutes:g}-minute safety cap after {summary.steps} of "
                f"{config.grpo_steps} steps: this run's figures will not repeat; raise --grpo_minutes for a "
                "repeatable run",
            )


def eval_config(demo: DemoRun, trained_dir: Path | None = None) -> EvalConfig:
    """Base vs the GRPO student in `trained_dir` (default trained/) on every held-out turn, or --eval_n of them."""
    from tracegym.evaluation.eval import EvalConfig
    from tracegym.judges import JudgeSettings
    from tracegym.samples import read_samples

    config = demo.config
    eval_path = demo.out_dir / "eval.jsonl"
    return EvalConfig(
        eval_jsonl=str(eval_path),
        base_model=str(demo.out_dir / "base"),
        trained_model_dir=str(trained_dir or demo.out_dir / "trained"),
        n=config.eval_n or len(read_samples(eval_path)),
        # the demo's caps, also for a trained_dir that is a bare model with no run.json to read them from
        max_new_tokens=config.max_completion_length,
        max_prompt_length=config.max_prompt_length,
        judge=JudgeSettings(judge="acts"),
        seed=config.seed,
        batch_size=32,
        framing=config.student_framing,
    )


def eval_stage(
    demo: DemoRun, say: Callable[[str], None], config: EvalConfig | None = None, report_dir: Path | None = None
) -> None:
    """Evaluate and write the report into `report_dir` (default eval/); the result is `demo.result`."""
    from tracegym.evaluation.eval import evaluate
    from tracegym.evaluation.report import write_report

    demo.result = evaluate(config or eval_config(demo))
    demo.result.warnings.extend(demo.warnings)
    write_report(demo.result, report_dir or demo.out_dir / "eval")


def demo_record(demo: DemoRun) -> dict[str, Any]:
    result = demo.result
    return {
        "config": asdict(demo.config),
        "prepare_commands": [" ".join(command) for command in demo.prepare_commands],
        "reused_base": demo.reused_base,
        "warnings": demo.warnings,
        "timings_s": demo.timings,
        "total_s": round(sum(demo.timings.values()), 1),
        "results": str(demo.out_dir / "eval" / "results.json") if result is not None else None,
        "report": str(demo.out_dir / "eval" / "report.md") if result is not None else None,
    }


def _stored_base_matches(demo: DemoRun) -> bool:
    if not demo.config.reuse_base:
        return False
    marker = demo.out_dir / "base" / "demo_base.json"
    try:
        return json.loads(marker.read_text())["digest"] == demo.config.base_digest()
    except (OSError, ValueError, KeyError):
        return False
