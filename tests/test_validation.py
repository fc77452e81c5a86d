"""The gaming alarm: `tracegym train --validate_every N` scores a slice held out of GRPO with the judge and the
independent signals, warns when the judge rises while a signal falls, and `--keep_best` saves the best policy."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cli_helpers import assert_user_error, run_cli
from factories import SMALL_STEP, build_tiny_student, model_fixture, restaurant_sample, sample_rows, train_command
from tracegym.evaluation.eval import INDEPENDENT_SIGNALS, JUDGE
from tracegym.evaluation.stats import compare
from tracegym.evaluation.validation import gaming_alarms
from tracegym.training.validation import hold_out_slice

TESTS_DIR = Path(__file__).resolve().parent
WITH_TESTS_ON_PATH = {"PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")]))}
PROMPTS = 30


def values(judge: list[float], **signals: list[float | None]) -> dict[str, list[float | None]]:
    """Per-prompt values of a validation: the judge's, the named signals', and a steady 0.5 for the others."""
    steady: dict[str, list[float | None]] = {name: [0.5] * len(judge) for name, _, _ in INDEPENDENT_SIGNALS}
    return {JUDGE: list(judge), **steady, **signals}


def noisy(centre: float, spread: float, count: int = PROMPTS) -> list[float]:
    """`count` values around `centre`, alternately above and below by up to `spread` (deterministic)."""
    return [centre + spread * ((index % 5) - 2) / 2 * (1 if index % 2 else -1) for index in range(count)]


def test_the_alarm_sounds_when_the_judge_rises_while_chrf_falls():
    first = values(noisy(0.50, 0.1), chrf=noisy(50.0, 4.0))
    now = values(noisy(0.70, 0.1), chrf=noisy(40.0, 4.0))  # judge +0.2, chrF -10 on every prompt
    alarms = gaming_alarms(first, now, step=22)
    assert len(alarms) == 1, alarms
    assert alarms[0].startswith("warning: gaming alarm at step 22:")
    assert "chrF 50 → 40" in alarms[0] and "0.500 → 0.700" in alarms[0]


def test_a_falling_rate_where_lower_is_better_means_rising_broken_text():
    first = values([0.5] * PROMPTS, broken_text_rate=[0.0] * PROMPTS)
    now = values([0.6] * PROMPTS, broken_text_rate=[1.0] * 20 + [0.0] * 10)
    alarms = gaming_alarms(first, now, step=11)
    assert alarms and "broken text rate 0 → 0.667" in alarms[0]
    fewer_broken = values([0.6] * PROMPTS, broken_text_rate=[0.0] * PROMPTS)
    assert gaming_alarms(now, fewer_broken, step=33) == []  # broken text fell: better, no alarm


def test_no_alarm_when_the_judge_falls_too_or_the_signal_only_wobbles():
    first = values(noisy(0.50, 0.1), chrf=noisy(50.0, 4.0))
    both_fall = values(noisy(0.40, 0.1), chrf=noisy(40.0, 4.0))
    assert gaming_alarms(first, both_fall, step=11) == []
    wobble = [value + (0.5 if index % 2 else -0.6) for index, value in enumerate(noisy(50.0, 4.0))]
    judge_up_chrf_wobbles = values(noisy(0.70, 0.1), chrf=wobble)  # mean -0.05, CI across 0
    assert gaming_alarms(first, judge_up_chrf_wobbles, step=11) == []


def test_a_borderline_fall_in_one_of_six_signals_is_no_alarm_once_corrected_for_the_six():
    # chrF 1 lower on 15 of 60 prompts and 1 higher on 5: its 95% CI alone is below 0 (p about 0.02), but p is
    # above Holm's 0.05 / 6.
    first = values([0.5] * 60, chrf=[50.0] * 60)
    now = values([0.6] * 60, chrf=[49.0] * 15 + [51.0] * 5 + [50.0] * 40)
    chrf = compare("chrf", first["chrf"], now["chrf"], seed=0, resamples=2_000)
    assert chrf.significantly_worse and 0.05 / 6 < chrf.p_value < 0.05
    assert gaming_alarms(first, now, step=11) == []
    clear = values([0.6] * 60, chrf=[49.0] * 24 + [51.0] * 4 + [50.0] * 32)  # p about 0
    alarms = gaming_alarms(first, clear, step=11)
    assert len(alarms) == 1 and "chrF 50 → 49.7" in alarms[0] and "Holm-corrected over 6 signals" in alarms[0]


def test_signals_that_do_not_apply_are_left_out_of_the_pairs():
    first = values([0.5] * PROMPTS, act_value_recall=[None] * PROMPTS)
    now = values([0.9] * PROMPTS, act_value_recall=[None] * PROMPTS)
    assert gaming_alarms(first, now, step=11) == []


def test_the_slice_is_whole_dialogues_drawn_by_the_seed():
    samples = [
        restaurant_sample(index, id=f"d{index}-turn{turn}", turn_index=turn) for index in range(10) for turn in (1, 3)
    ]
    kept, held = hold_out_slice(samples, prompts=5, seed=0)
    held_dialogues = {sample.dialogue_id for sample in held}
    assert len(held) == 6 and len(held_dialogues) == 3  # whole dialogues until at least 5 turns
    assert not held_dialogues & {sample.dialogue_id for sample in kept}
    assert [s.id for s in kept] == [s.id for s in samples if s.dialogue_id not in held_dialogues]  # order kept
    assert hold_out_slice(samples, prompts=5, seed=0) == (kept, held)
    assert {s.dialogue_id for s in hold_out_slice(samples, prompts=5, seed=1)[1]} != held_dialogues


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (("--keep_best",), "--keep_best needs --validate_every"),
        (("--validate_every", "1", "--validation_prompts", "99"), "would take all 8 dialogues"),
    ],
)
def test_bad_validation_flags_are_one_error_line(tmp_path, flags, fragment):
    from tracegym.samples import write_jsonl

    write_jsonl(tmp_path / "train.jsonl", sample_rows())
    result = run_cli(
        "train",
        "--train_jsonl",
        tmp_path / "train.jsonl",
        "--model_name",
        TESTS_DIR / "no-such-student",
        "--output_dir",
        tmp_path / "run",
        *flags,
    )
    assert_user_error(result, fragment)  # before the student is even looked for
    assert not (tmp_path / "run").exists()


def test_a_validation_file_must_share_no_dialogue_with_the_train_file(tmp_path):
    from tracegym.samples import write_jsonl

    rows = sample_rows()
    write_jsonl(tmp_path / "train.jsonl", rows)
    write_jsonl(tmp_path / "validation.jsonl", rows[-2:])
    train = ("train", "--train_jsonl", tmp_path / "train.jsonl", "--model_name", TESTS_DIR / "no-such-student")
    flags = ("--output_dir", tmp_path / "run", "--validation_jsonl", tmp_path / "validation.jsonl")
    assert_user_error(run_cli(*train, *flags), "--validation_jsonl needs --validate_every")
    shared = run_cli(*train, *flags, "--validate_every", "1")
    assert_user_error(shared, "--validation_jsonl", "also in --train_jsonl")
    assert not (tmp_path / "run").exists()


@model_fixture
def workspace(tmp_path_factory):
    return build_tiny_student(tmp_path_factory.mktemp("validation"), sample_rows(12))


@pytest.mark.slow
def test_train_validates_every_n_steps_and_keeps_the_best_policy(workspace, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from tracegym.training.rundir import read_run
    from tracegym.training.validation import weights_sha256

    run_dir = tmp_path / "run"
    result = run_cli(
        *train_command(workspace, run_dir),
        *SMALL_STEP,
        "--max_steps",
        "4",
        "--validate_every",
        "2",
        "--validation_prompts",
        "3",
        "--keep_best",
        "--reward_funcs",
        "test_train:reply_length_reward",  # the act judge scores the tiny student's babble 0: this moves it
        env={**WITH_TESTS_ON_PATH, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    points = [record for record in log if record["kind"] == "validation"]
    assert [point["step"] for point in points] == [0, 2, 4]
    for point in points:
        assert point["n"] == 3 and point["judge"] is not None
        assert point["judge_spend"]["calls"] == 0  # the act judge is offline: it makes no requests
        assert {"chrf", "broken_text_rate", "slot_error_rate_t2g2", "act_value_recall"} <= set(point)
        assert point["judge_spend"]["replies"] == 3 and point["judge_spend"]["seconds"] >= 0  # eval's cost per point
    assert "validation @ step 2 (3 prompts" in result.stderr

    validation = read_run(run_dir).validation
    assert validation["steps"] == [0, 2, 4] and validation["prompts"] == 3 and len(validation["dialogues"]) == 3
    best = max(points, key=lambda point: (point["judge"], -point["step"]))  # the earliest wins a tie
    assert validation["best_step"] == validation["kept_step"] == best["step"]
    assert [point["step"] for point in points if point["best"]][-1] == best["step"]
    assert len({point["weights_sha256"] for point in points}) == 3, "training must move the weights between points"

    saved = AutoModelForCausalLM.from_pretrained(run_dir / "model", dtype=torch.float32)
    assert weights_sha256(saved) == best["weights_sha256"]
    if best["step"] != points[-1]["step"]:
        assert weights_sha256(saved) != points[-1]["weights_sha256"]


def test_the_report_draws_the_validation_curve_and_names_the_best_step_and_the_alarms(tmp_path):
    import matplotlib.image

    from test_report import honest_run, result_of
    from tracegym.evaluation.report import write_report

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    signals = {name: 0.5 for name, _, _ in INDEPENDENT_SIGNALS}
    alarm = "warning: gaming alarm at step 22: the judge's validation score rose 0.500 → 0.700 while chrF fell"
    log = [{"kind": "step", "step": step, "reward": 0.3 + 0.01 * step} for step in range(1, 45)]
    log += [
        {"kind": "validation", "step": step, "n": 16, "judge": judge, "best": best, "alarms": alarms, **signals}
        for step, judge, best, alarms in [
            (0, 0.5, True, []),
            (11, 0.6, True, []),
            (22, 0.7, True, [alarm]),
            (33, 0.65, False, []),
            (44, 0.66, False, []),
        ]
    ]
    (run_dir / "log.jsonl").write_text("".join(json.dumps(row) + "\n" for row in log))
    paths = write_report(result_of(honest_run(), run_dir=str(run_dir)), tmp_path / "eval")

    curve = tmp_path / "eval" / "validation_curve.png"
    assert paths["validation_curve"] == curve and matplotlib.image.imread(curve).shape[0] > 100
    assert (tmp_path / "eval" / "training_curves.png").is_file()  # beside the training curves, not instead
    report = paths["report"].read_text()
    assert "](validation_curve.png)" in report
    assert "every 11 steps" in report and "16 train-split prompts" in report and "step 22 (0.7000)" in report
    assert "Gaming alarms during training: 1:" in report and "- gaming alarm at step 22:" in report


def test_no_validation_curve_without_validation_records(tmp_path):
    from test_report import honest_run, result_of
    from tracegym.evaluation.report import write_report

    paths = write_report(result_of(honest_run()), tmp_path / "eval")
    assert "validation_curve" not in paths and "validation_curve" not in paths["report"].read_text()


class ScriptedValidator:
    """A validator that scores the policy by a script of judge means, one per call, and raises an alarm when told."""

    def __init__(self, judges: list[float], alarm_at: int) -> None:
        self.judges, self.alarm_at = iter(judges), alarm_at

    def __call__(self, model, tokenizer, step):
        from tracegym.training.validation import ValidationPoint

        alarms = [f"warning: gaming alarm at step {step}: scripted"] if step == self.alarm_at else []
        return ValidationPoint(step=step, n=4, judge=next(self.judges), signals={"chrf": 50.0}, alarms=alarms)


def test_the_callback_logs_each_point_warns_and_puts_the_best_weights_back(tmp_path):
    """The callback alone, on a one-layer torch model the test moves itself between steps: the best point is step 2,
    and keep_best must give back its weights, not the last step's."""
    from types import SimpleNamespace

    import torch

    from tracegym.training.validation import ValidationOutcome, validation_callback, weights_sha256

    model = torch.nn.Linear(3, 2)
    tokenizer = SimpleNamespace(padding_side="right")
    outcome = ValidationOutcome(every=2, prompts=4, dialogues=["d1"], keep_best=True)
    said: list[str] = []
    callback = validation_callback(
        ScriptedValidator([0.2, 0.6, 0.4, 0.6, 0.3], alarm_at=6), outcome, tmp_path, said.append
    )
    state = SimpleNamespace(global_step=0, is_world_process_zero=True)
    events = dict(args=None, control=None, model=model, processing_class=tokenizer)
    callback.on_train_begin(state=state, **events)
    digests = {}
    for step in range(1, 8):
        with torch.no_grad():
            model.weight.add_(0.1)  # a training step
        state.global_step = step
        callback.on_step_end(state=state, **events)
        digests[step] = weights_sha256(model)
    callback.on_train_end(state=state, **events)

    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    points = [row for row in log if row["kind"] == "validation"]
    assert [(p["step"], p["judge"], p["best"]) for p in points] == [
        (0, 0.2, True),
        (2, 0.6, True),
        (4, 0.4, False),
        (6, 0.6, False),  # a tie: the earliest stays best
        (7, 0.3, False),  # after the last step
    ]
    assert [row["message"] for row in log if row["kind"] == "warning"] == ["warning: gaming alarm at step 6: scripted"]
    assert outcome.alarms == ["warning: gaming alarm at step 6: scripted"] and said.count(outcome.alarms[0]) == 1
    assert (outcome.best_step, outcome.best_judge, outcome.kept_step) == (2, 0.6, 2)
    assert weights_sha256(model) == digests[2] == points[1]["weights_sha256"] != digests[7]
    assert model.training and tokenizer.padding_side == "right"


def test_the_report_says_which_policy_keep_best_kept(tmp_path):
    from factories import a_run_record
    from tracegym.evaluation.validation import kept_policy_line
    from tracegym.training.rundir import write_run

    def line_for(validation: dict) -> str | None:
        write_run(tmp_path, a_run_record(validation=validation))
        return kept_policy_line(tmp_path)

    assert line_for({"keep_best": True, "kept_step": 22, "steps": [0, 11, 22, 33, 44]}).startswith(
        "- **Policy kept:** step 22 of 44"
    )
    assert "the trained model is the base" in line_for({"keep_best": True, "kept_step": 0, "steps": [0, 11, 22]})
    assert line_for({"keep_best": False, "kept_step": 44, "steps": [0, 44]}) is None
    assert kept_policy_line(tmp_path / "no_run") is None
