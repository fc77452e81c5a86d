"""GRPO on a CPU scores only the completion tokens through TRL's fused LM head, with the same log-probabilities."""

from __future__ import annotations

import contextlib

import pytest

torch = pytest.importorskip("torch")
trl_utils = pytest.importorskip("trl.trainer.utils")

from factories import model_fixture  # noqa: E402
from tracegym.demo import BUNDLED_STUDENT  # noqa: E402
from tracegym.training.cpu_logprobs import CHOICE, completion_tokens_only  # noqa: E402

PROMPT, COMPLETION = 24, 6


@model_fixture
def student():
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(BUNDLED_STUDENT)
    trl_utils.add_fused_lm_head(model, temperature=0.7, outputs=("log_probs", "entropy"))
    return model


def scored(model, monkeypatch, completion_only: bool):
    """The head's log-probabilities of a 2-row batch and how many positions the kernel was handed."""
    from trl.kernels import ChunkedLogProbFunction

    rows: list[int] = []
    apply = ChunkedLogProbFunction.apply

    def counting_apply(hidden, *args):
        rows.append(hidden.shape[0])
        return apply(hidden, *args)

    monkeypatch.setattr(ChunkedLogProbFunction, "apply", counting_apply)
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, model.config.vocab_size, (2, PROMPT + COMPLETION), generator=generator)
    labels = input_ids.masked_fill(torch.arange(PROMPT + COMPLETION) < PROMPT, -100)
    with torch.no_grad(), completion_tokens_only() if completion_only else contextlib.nullcontext(True) as switched:
        assert switched
        outputs = model(input_ids=input_ids, labels=labels, fused_lm_head=True)
    monkeypatch.undo()
    return outputs.log_probs[:, PROMPT - 1 :], rows


def test_only_the_completion_positions_reach_the_kernel_with_the_same_log_probabilities(student, monkeypatch):
    every, every_rows = scored(student, monkeypatch, completion_only=False)
    completion, completion_rows = scored(student, monkeypatch, completion_only=True)

    assert every_rows == [2 * (PROMPT + COMPLETION - 1)]
    assert completion_rows == [2 * COMPLETION]
    assert torch.allclose(every, completion, atol=1e-5)


def test_the_switch_is_undone_after_the_block_even_on_an_error():
    original = getattr(trl_utils, CHOICE)
    with pytest.raises(RuntimeError), completion_tokens_only():
        assert getattr(trl_utils, CHOICE)(torch.device("cpu"))
        raise RuntimeError("a failed step")
    assert getattr(trl_utils, CHOICE) is original
    assert not original(torch.device("cpu"))
