"""The SFT student shipped for the demo (src/tracegym/data/student/): small, described, and what the demo expects."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from tracegym.demo import BUNDLED_STUDENT, DemoConfig, bundled_base_conflicts

MAX_BYTES = 10 * 1024 * 1024  # issue 13: a shipped student stays within 10 MB
BUILD_SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "build_student.py"


def test_the_shipped_student_stays_within_10_mb():
    assert sum(path.stat().st_size for path in BUNDLED_STUDENT.iterdir()) <= MAX_BYTES


def test_its_record_matches_the_demo_defaults_and_its_model_card():
    record = json.loads((BUNDLED_STUDENT / "student.json").read_text())
    assert bundled_base_conflicts(DemoConfig()) == []
    card = " ".join((BUNDLED_STUDENT / "README.md").read_text().split())
    assert record["command"].startswith("python bench/build_student.py") and record["command"] in card
    assert f"{record['sft_steps']:,} steps" in card and f"{record['train_turns']:,} system turns" in card


def test_it_loads_with_the_auto_classes_and_writes_placeholders():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    record = json.loads((BUNDLED_STUDENT / "student.json").read_text())
    model = AutoModelForCausalLM.from_pretrained(BUNDLED_STUDENT)
    tokenizer = AutoTokenizer.from_pretrained(BUNDLED_STUDENT)
    assert sum(p.numel() for p in model.parameters()) == record["parameters"]
    assert len(tokenizer.tokenize("[1] [16]")) <= 3  # each placeholder one token (a space may be one more)


def test_its_rebuild_command_names_every_setting_that_is_not_the_default():
    spec = importlib.util.spec_from_file_location("build_student", BUILD_SCRIPT)
    build_student = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_student)
    record = json.loads((BUNDLED_STUDENT / "student.json").read_text())

    assert record["command"] == build_student.rebuild_command(record["seed"], record["sft_steps"])
    assert build_student.rebuild_command(0, build_student.SFT_STEPS) == "python bench/build_student.py"
    assert build_student.rebuild_command(1, 12000) == "python bench/build_student.py --seed 1 --sft_steps 12000"
