"""run.json: what a training run was, written once by `train` and read back by one function (eval, resuming)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from factories import a_run_record
from tracegym.errors import UserError
from tracegym.framing import Framing
from tracegym.training.rundir import check_resumable, read_run, write_run


def test_a_record_reads_back_as_written(tmp_path):
    write_run(tmp_path, a_run_record())
    assert read_run(tmp_path) == a_run_record()
    stored = json.loads((tmp_path / "run.json").read_text())
    assert stored["framing"] == {"acts": True, "placeholders": True, "constrained": True, "compact": False}
    assert a_run_record().training_judge() == "acts (acts:00ff00ff00ff00ff)"


def test_a_missing_run_file_says_how_to_fix_it(tmp_path):
    with pytest.raises(UserError, match=r"no run\.json.*re-run `tracegym train`"):
        read_run(tmp_path)


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda text: text[:-5], "not valid JSON"),
        (lambda text: "[1, 2]", "expected a JSON object"),
        (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "framing"}), "missing framing"),
        (lambda text: json.dumps({**json.loads(text), "colour": "red"}), "unknown colour"),
        (lambda text: json.dumps({**json.loads(text), "framing": {"acts": "yes"}}), "must be true or false"),
        (lambda text: json.dumps({**json.loads(text), "max_prompt_length": "512"}), "max_prompt_length"),
        (lambda text: json.dumps({**json.loads(text), "format": 99}), "format 99"),
    ],
)
def test_a_malformed_run_file_is_one_clear_user_error(tmp_path, edit, fragment):
    write_run(tmp_path, a_run_record())
    path = tmp_path / "run.json"
    path.write_text(edit(path.read_text()))
    with pytest.raises(UserError, match=fragment) as caught:
        read_run(tmp_path)
    assert str(path) in str(caught.value)


def test_resuming_refuses_a_different_judge_framing_or_model_and_allows_more_steps(tmp_path):
    recorded = a_run_record()
    check_resumable(recorded, replace(recorded, config_sha256="cd" * 32, seed=1), tmp_path)  # other settings: fine
    for changed, fragment in [
        ({"judge_fingerprint": "acts:1111111111111111"}, "judge_fingerprint"),
        ({"framing": Framing()}, "framing: run acts, now end2end"),
        ({"base_model": "other"}, "base_model"),
        ({"use_lora": True}, "use_lora"),
        ({"max_prompt_length": 256}, "max_prompt_length"),
    ]:
        with pytest.raises(UserError, match=fragment):
            check_resumable(recorded, replace(recorded, **changed), tmp_path)
