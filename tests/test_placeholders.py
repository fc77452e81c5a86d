"""[n] placeholders: delexicalise a reference by its numbered act values, fill a reply back in, refuse unfair use."""

from __future__ import annotations

import json

import pytest

from cli_helpers import assert_user_error, run_cli
from tracegym.errors import UserError
from tracegym.placeholders import check_act_conditioned, delexicalize, lexicalize, numbered_values
from tracegym.samples import Act
from tracegym.traces.compile import CompileOptions, compile_sgd
from tracegym.traces.sgd import bundled_sgd_root

ACTS = [
    Act("OFFER", "restaurant_name", ("Sino",), ("Sino",)),
    Act("OFFER", "time", ("11:30 am",), ("11:30",)),
    Act("REQUEST", "city"),
    Act("INFORM_COUNT", "count", ("3",), ("3",)),
]


def test_values_are_numbered_in_act_order_and_requests_are_skipped():
    assert [(number, value) for number, value, _ in numbered_values(ACTS)] == [(1, "Sino"), (2, "11:30 am"), (3, "3")]


def test_reference_round_trips_through_placeholders():
    reference = "I found 3 places. How about Sino at 11:30 am?"
    template = delexicalize(reference, ACTS)
    assert template == "I found [3] places. How about [1] at [2]?"
    assert lexicalize(template, ACTS) == reference


def test_canonical_form_is_delexicalised_too_and_unknown_numbers_stay():
    assert delexicalize("Sino at 11:30", ACTS) == "[1] at [2]"
    assert lexicalize("[1] has [7] seats", ACTS) == "Sino has [7] seats"


def test_prompt_shows_the_same_numbers_the_placeholders_use():
    samples = list(compile_sgd(bundled_sgd_root(), "dev", CompileOptions(include_acts=True, max_samples=60)))
    checked = 0
    for sample in samples:
        system = sample.messages[0]["content"]
        for number, value, _ in numbered_values(sample.acts):
            assert f"{value} [{number}]" in system
            checked += 1
    assert checked > 20


def test_placeholders_refuse_samples_that_do_not_show_the_acts():
    samples = list(compile_sgd(bundled_sgd_root(), "dev", CompileOptions(max_samples=5)))
    assert not any(sample.framing.acts for sample in samples)
    with pytest.raises(UserError, match="--include_acts"):
        check_act_conditioned(samples)
    shown = list(compile_sgd(bundled_sgd_root(), "dev", CompileOptions(include_acts=True, max_samples=5)))
    assert all(sample.framing.acts for sample in shown)
    check_act_conditioned(shown)
    # The framing recorded with the sample decides, not the system message's text.
    shown[0].messages[0]["content"] = "You are an assistant."
    check_act_conditioned(shown)


def test_sft_with_placeholders_on_end_to_end_samples_is_a_user_error(tmp_path):
    samples = tmp_path / "train.jsonl"
    assert run_cli("prepare", "--split", "train", "--max_samples", "5", "--out_path", samples).returncode == 0
    result = run_cli(
        "sft",
        "--model_name",
        tmp_path / "student",
        "--train_jsonl",
        samples,
        "--output_dir",
        tmp_path / "out",
        "--placeholders",
    )
    assert_user_error(result, "--include_acts")
    assert not (tmp_path / "out").exists()
    assert json.loads(samples.read_text().splitlines()[0])["acts"] is not None
