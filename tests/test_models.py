"""`tracegym.models`: one reading of a model name, and one answer to "what ends a reply" for GRPO, eval and SFT."""

from __future__ import annotations

import pytest

from tracegym.errors import UserError
from tracegym.models import (
    check_model_reference,
    end_of_reply_id,
    ends_reply,
    looks_like_hub_id,
    reply_stop_ids,
)


@pytest.fixture(scope="module")
def student_tokenizer():
    """The offline student's tokenizer: Gemma's specials, eos = <end_of_turn>, <eos> a token of its own."""
    from tracegym.training.student import train_tokenizer

    texts = ["How about Sino in San Jose?", "Which city?", "I want to eat in Oakland."] * 20
    return train_tokenizer(texts, vocab_size=300, placeholder_tokens=3)


@pytest.mark.parametrize("name", ["gpt2", "google/gemma-3-270m-it", "Qwen/Qwen2.5-0.5B-Instruct", "org/name.v2"])
def test_hub_ids_are_recognised(name):
    assert looks_like_hub_id(name)


@pytest.mark.parametrize("name", ["/abs/model", "./student", "../student", "runs/demo/base", "~/model", "a/../b", ""])
def test_paths_are_not_hub_ids_and_a_missing_one_is_a_user_error(name, tmp_path):
    assert not looks_like_hub_id(name)
    if name:
        with pytest.raises(UserError, match="no such model folder"):
            check_model_reference(name, "--model_name")


def test_a_folder_passes_and_a_file_is_refused(tmp_path):
    check_model_reference(str(tmp_path), "--base_model")
    (tmp_path / "weights.bin").write_text("x")
    with pytest.raises(UserError, match="is a file, not a model folder"):
        check_model_reference(str(tmp_path / "weights.bin"), "--base_model")


def test_a_reply_ends_at_eos_the_generation_configs_eos_ids_or_the_end_of_turn_token_never_at_pad(student_tokenizer):
    from transformers import GenerationConfig

    tokenizer = student_tokenizer
    vocab = tokenizer.get_vocab()
    end_of_turn, eos, pad = vocab["<end_of_turn>"], vocab["<eos>"], vocab["<pad>"]
    # The student as `tracegym student` saves it: eos is <end_of_turn>, its generation config adds <eos>.
    student = reply_stop_ids(tokenizer, GenerationConfig(eos_token_id=[end_of_turn, eos]))
    assert student == {end_of_turn, eos}
    # A hub-style tokenizer whose eos is <eos> and no generation config: <end_of_turn> still closes the turn.
    tokenizer.eos_token = "<eos>"
    try:
        hub_style = reply_stop_ids(tokenizer)
        assert hub_style == {end_of_turn, eos}
        assert end_of_reply_id(tokenizer) == end_of_turn, "SFT teaches the end-of-turn token, one of the stops"
    finally:
        tokenizer.eos_token = "<end_of_turn>"
    assert pad not in student and pad not in hub_style
    # The truncation check of GRPO's --truncated_reward reads these same ids.
    assert ends_reply([5, 9, end_of_turn], student) and ends_reply([5, eos], student)
    assert not ends_reply([5, 9, pad], student) and not ends_reply([5, 9], student) and not ends_reply([], student)


def test_without_an_end_of_turn_token_eos_ends_a_reply(student_tokenizer):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    plain = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"<s>": 0, "</s>": 1, "<pad>": 2, "hi": 3}, unk_token="<pad>")),
        eos_token="</s>",
        pad_token="<pad>",
    )
    assert reply_stop_ids(plain) == {1}
    assert end_of_reply_id(plain) == 1
