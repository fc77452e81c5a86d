"""What the tests build, in one place: samples, tiny students, and local judge servers.

Samples: `act` (one act of a reference reply), `restaurant_sample` (a `Sample` with every field a test may
override), `sample_rows` (GRPO rows as `tracegym prepare` writes them), `sft_rows` (SFT rows with a system
prompt that names values). Students: `build_tiny_student` runs `tracegym student` (a few thousand parameters).
Run records: `a_run_record` (a run.json `RunRecord` with every field set). Servers: `FakeLLMServer` and its scorers (tests/fake_servers.py speaks the Gemini and OpenAI wire formats).

`model_fixture` makes a pytest fixture that builds, trains or generates with a model; tests/conftest.py marks every
test that uses one slow, so it stays out of the fast tier (`pytest -m "not slow"`).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import run_cli
from fake_servers import FakeLLMServer, Step, keyword_scorer, obedient_scorer
from tracegym.framing import Framing
from tracegym.samples import Sample, write_jsonl
from tracegym.training.rundir import RunRecord

__all__ = [
    "FakeLLMServer",
    "Step",
    "keyword_scorer",
    "obedient_scorer",
    "SMALL_STEP",
    "train_command",
    "TINY_STUDENT",
    "a_run_record",
    "act",
    "build_tiny_student",
    "free_port",
    "model_fixture",
    "restaurant_sample",
    "sample_rows",
    "sft_rows",
]

# ------------------------------------------------------------------------------------------------------ samples

CITIES = ("San Jose", "Oakland", "Fresno", "Berkeley")
RESERVATION_SYSTEM = (
    "You are an assistant of Restaurants_2 (a service to find and book restaurants), helping the user reserve a "
    "table.\nToday is Friday, 2019-03-01.\nCall 1: ReserveRestaurant(restaurant_name=Sino, time=16:30, "
    "party_size=4) -> results: restaurant_name=Sino, street_address=377 Santana Row, phone_number=408-555-1234"
)
RESERVATION_REPLIES = (
    "Sino is at 377 Santana Row.",
    "Your table for 4 at Sino is booked for 4:30 pm.",
    "You can call them at 408-555-1234.",
    "Is there anything else I can help with?",
)


def act(kind: str, slot: str = "", *values: str, canonical: tuple[str, ...] | None = None) -> dict[str, Any]:
    """One act of a reference reply, as `Sample.acts` holds it."""
    return {"act": kind, "slot": slot, "values": list(values), "canonical_values": list(canonical or values)}


def restaurant_sample(index: int = 0, **fields: Any) -> Sample:
    """Sample `d{index}-turn1`: a user asks for a table at Sino, the reference gives its address; `fields` override."""
    defaults: dict[str, Any] = {
        "id": f"d{index}-turn1",
        "dialogue_id": f"d{index}",
        "turn_index": 1,
        "prompt": "User: I want a table at Sino for 2 people.",
        "ground_truth": "Sino is at 377 Santana Row. Shall I book it for 2 people?",
        "rubric": "- says the address 377 Santana Row\n- offers to book for 2 people",
        "messages": [
            {"role": "system", "content": "You help users reserve tables."},
            {"role": "user", "content": "I want a table at Sino for 2 people."},
        ],
        "acts": [act("INFORM", "street_address", "377 Santana Row")],
    }
    return Sample(**{**defaults, **fields})


def sample_rows(count: int = 8) -> list[dict[str, Any]]:
    """`count` GRPO rows with every field `tracegym prepare` writes (no schema): a restaurant in one of four cities."""
    rows = []
    for index in range(count):
        city = CITIES[index % len(CITIES)]
        user = f"I want to eat in {city}. Anything good?"
        rows.append(
            {
                "id": f"d{index}-turn1",
                "dialogue_id": f"d{index}",
                "turn_index": 1,
                "prompt": f"User: {user}",
                "ground_truth": f"Sino is a nice place in {city}. Anything else?",
                "rubric": "- offers a restaurant\n- names the city",
                "task_description": "Find a restaurant",
                "messages": [
                    {"role": "system", "content": "You help the user find a restaurant.\nToday is Friday, 2019-03-01."},
                    {"role": "user", "content": user},
                ],
                "split": "train",
                "service": "Restaurants_1",
                "unseen_service": False,
                "acts": [act("OFFER", "restaurant_name", "Sino"), act("INFORM", "city", city)],
                "service_call": None,
                "service_results": None,
                "source": "sgd",
                "metadata": {},
                "schema": None,
                "intent": None,
                "calls": [],
                "framing": {"acts": False, "placeholders": False, "constrained": False},
            }
        )
    return rows


def sft_rows(count: int = 24) -> list[dict[str, Any]]:
    """`count` SFT rows: a reservation at Sino, its call results in the system prompt, one of four references."""
    rows = []
    for index in range(count):
        turns = [
            {"role": "user", "content": "I want a table at Sino for 4 people."},
            {"role": "assistant", "content": "What time would you like?"},
            {"role": "user", "content": f"At 4:30 pm please, request {index}."},
        ]
        rows.append(
            {
                "id": f"d{index}-turn3",
                "dialogue_id": f"d{index}",
                "turn_index": 3,
                "prompt": "\n".join(f"{t['role'].title()}: {t['content']}" for t in turns),
                "ground_truth": RESERVATION_REPLIES[index % len(RESERVATION_REPLIES)],
                "messages": [{"role": "system", "content": RESERVATION_SYSTEM}, *turns],
            }
        )
    return rows


# ----------------------------------------------------------------------------------------------------- students

# One thread: on a shared 2-core machine, two OpenMP threads competing with other processes run many times slower.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}
TINY_STUDENT = ("--hidden_size", "32", "--num_layers", "2", "--num_heads", "2", "--num_kv_heads", "1")
# One GRPO step on a tiny student: 2 prompts x 4 generations of 12 tokens.
SMALL_STEP = (
    "--num_generations",
    "4",
    "--per_device_train_batch_size",
    "8",
    "--gradient_accumulation_steps",
    "1",
    "--max_completion_length",
    "12",
    "--max_prompt_length",
    "96",
    "--learning_rate",
    "0.01",
)


def train_command(workspace: Path, output_dir: Path, *flags: object) -> list[object]:
    """`tracegym train` on a workspace of `build_tiny_student` (its train.jsonl and student/) into `output_dir`."""
    return [
        "train",
        "--train_jsonl",
        workspace / "train.jsonl",
        "--model_name",
        workspace / "student",
        "--output_dir",
        output_dir,
        *flags,
    ]


def build_tiny_student(
    root: Path, rows: list[dict], *extra: str, vocab_size: int = 300, env: dict[str, str] | None = None
) -> Path:
    """`root/train.jsonl` from `rows` and a tiny student (`tracegym student`, a few thousand parameters) in
    `root/student`; `extra` flags go to `tracegym student` after the tiny sizes. Returns `root`."""
    write_jsonl(root / "train.jsonl", rows)
    result = run_cli(
        "student",
        "--train_jsonl",
        root / "train.jsonl",
        "--out_dir",
        root / "student",
        "--vocab_size",
        str(vocab_size),
        *TINY_STUDENT,
        *extra,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return root


def model_fixture(function: Callable[..., Any] | None = None, *, scope: str = "module") -> Any:
    """`@pytest.fixture(scope=...)` for a fixture that builds, trains or generates with a model: every test that
    uses it, directly or through another fixture, is marked slow (tests/conftest.py)."""

    def decorate(fixture_function: Callable[..., Any]) -> Any:
        fixture_function.makes_a_model = True  # type: ignore[attr-defined]
        return pytest.fixture(scope=scope)(fixture_function)

    return decorate(function) if function is not None else decorate


# ------------------------------------------------------------------------------------------------------ servers


def free_port() -> int:
    """A TCP port of 127.0.0.1 that the OS just handed out, for a server a test starts itself (accelerate's
    rendezvous): never a fixed one, so concurrent sessions and pytest-xdist workers do not collide."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def a_run_record(**changes) -> RunRecord:
    """A run.json record of an acts-judged run, with `changes` over it."""
    record = RunRecord(
        judge_name="acts",
        judge_fingerprint="acts:00ff00ff00ff00ff",
        framing=Framing.named("acts"),
        max_prompt_length=512,
        max_completion_length=40,
        seed=0,
        data_seed=None,
        base_model="runs/demo/base",
        use_lora=False,
        train_jsonl="runs/demo/train.jsonl",
        config_sha256="ab" * 32,
        tracegym_version="0.1.0",
    )
    return replace(record, **changes)
