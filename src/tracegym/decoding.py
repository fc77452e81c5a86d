"""Placeholder-constrained decoding: the student may write `[n]` only for a value the prompt's acts have, once.

In act-conditioned mode the prompt numbers each value of the reference acts (`OFFER(restaurant_name=Sino [1])`)
and the student's `[n]` are filled in from them (`tracegym.placeholders`). A placeholder the acts lack cannot be
filled and reads as an invented value; a placeholder written twice repeats a value ("Hobbs and Shaw, Hobbs and
Shaw, …"), which a greedy few-million-parameter student does in about a third of its replies, and the reference
replies almost never do (9 of the bundled sample's 753 training turns). Template-based NLG fills each slot once;
this does the same at decoding time, by masking those tokens' logits, so every reply the student writes, in GRPO
sampling and in eval alike, is one the tool can fill. It needs `[1]` … `[N]` to be one token each
(`tracegym student --placeholder_tokens N`); with another tokenizer there is nothing to constrain.

In GRPO the mask changes only which tokens are sampled: TRL's loss still uses the model's own (unmasked)
log-probabilities of the sampled tokens, so the student is pushed towards the good constrained replies and the
masked tokens simply never occur.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from tracegym.placeholders import MAX_PLACEHOLDER, placeholder_text


def placeholder_token_ids(tokenizer: Any) -> list[int]:
    """The ids of the placeholders `[1]`, `[2]`, … that are one token each in `tokenizer`'s vocabulary."""
    vocab = tokenizer.get_vocab()
    spellings = (placeholder_text(number) for number in range(1, MAX_PLACEHOLDER + 1))
    return [vocab[text] for text in spellings if text in vocab]


class PlaceholderConstraint(LogitsProcessor):
    """Masks each placeholder token that the row's prompt does not hold, or that the row's reply already holds.

    `prompt_length` is the (left-padded) prompt width of the batch `generate` was called with: the tokens before it
    are the prompt, the ones after it the reply so far.
    """

    def __init__(self, placeholder_ids: Sequence[int], prompt_length: int) -> None:
        self.placeholder_ids = torch.tensor(list(placeholder_ids), dtype=torch.long)
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        ids = self.placeholder_ids.to(input_ids.device)
        offered = (input_ids[:, : self.prompt_length, None] == ids).any(dim=1)
        used = (input_ids[:, self.prompt_length :, None] == ids).any(dim=1)
        columns = scores[:, ids].masked_fill(~offered | used, float("-inf"))
        scores = scores.clone()
        scores[:, ids] = columns
        return scores


def placeholder_logits_processors(placeholder_ids: Sequence[int], prompt_length: int) -> LogitsProcessorList:
    """A list with the constraint for prompts `prompt_length` tokens wide (empty without placeholder ids)."""
    return LogitsProcessorList([PlaceholderConstraint(placeholder_ids, prompt_length)] if placeholder_ids else [])


def constrain_generate(model: Any, tokenizer: Any) -> bool:
    """Make `model.generate` placeholder-constrained, for callers that call it themselves (TRL's GRPOTrainer).

    Replaces the bound method on this one instance, as transformers itself does to install a `custom_generate`.
    False, and nothing changed, when the tokenizer has no placeholder tokens.
    """
    placeholder_ids = placeholder_token_ids(tokenizer)
    if not placeholder_ids:
        return False
    model.generate = _constrained(model.generate, placeholder_ids)
    return True


def _constrained(generate: Callable[..., Any], placeholder_ids: Sequence[int]) -> Callable[..., Any]:
    @functools.wraps(generate)
    def constrained_generate(*args: Any, **kwargs: Any) -> Any:
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        processors = LogitsProcessorList(kwargs.pop("logits_processor", None) or [])
        processors.extend(placeholder_logits_processors(placeholder_ids, input_ids.shape[1]))
        return generate(*args, logits_processor=processors, **kwargs)

    return constrained_generate
