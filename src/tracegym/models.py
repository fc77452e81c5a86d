"""Loading a student, a base model or a judge model by folder or hub id, and what ends a reply: one home for both.

    >>> tokenizer = load_tokenizer("runs/demo/base", "--base_model")          # pad set, a UserError if missing
    >>> model = load_causal_lm("runs/demo/base", "--base_model")
    >>> stops = reply_stop_ids(tokenizer, model.generation_config)          # eos, <end_of_turn>, …

SFT, GRPO, eval and the hf judge load through here, so a name is read the same way everywhere: an existing folder,
or something shaped like a hub id (`name` or `owner/name`); any other text is a missing folder, said at once,
before the hub is asked. torch and transformers are imported inside the functions.

What ends a reply (`reply_stop_ids`): the tokenizer's eos, every eos id of the model's generation config (Gemma's
`<end_of_turn>` among them), and the chat template's end-of-turn token when the vocabulary has one (a hub
tokenizer whose eos is `<eos>` still closes a turn with `<end_of_turn>`). The pad token is not an end: generation
never stops at it, so a reply that ends in pad was cut off like any other. GRPO's `--truncated_reward` check and
eval's generation use this one set; SFT teaches the student to close a reply with `end_of_reply_id`, one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tracegym.errors import UserError
from tracegym.hub import first_line, hub_logs_quiet

# End-of-turn tokens of common chat templates: Gemma, ChatML (Qwen, SmolLM), Llama 3, Phi-3.
END_OF_TURN_TOKENS = ("<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|end|>")
# `name` or `owner/name`: letters, digits, `-`, `_`, `.`; neither part starts with a dot (hub naming rules).
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


def looks_like_hub_id(name: str) -> bool:
    """Whether `name` is shaped like a hub model id (`gpt2`, `google/gemma-3-270m-it`) rather than a local path."""
    return bool(HUB_ID.fullmatch(name)) and ".." not in name and not name.endswith(".git")


def check_model_reference(name_or_path: str, flag: str) -> None:
    """A UserError unless `name_or_path` is an existing folder or shaped like a hub id; a file is never a model."""
    path = Path(name_or_path)
    if path.is_dir():
        return
    if path.exists():
        raise UserError(f"{flag} {name_or_path}: is a file, not a model folder; give the folder that holds config.json")
    if not looks_like_hub_id(name_or_path):
        raise UserError(
            f"{flag} {name_or_path}: no such model folder; build one with `tracegym student --out_dir DIR` "
            "(or `tracegym sft`), or give a hub model id (owner/name)"
        )


def _from_pretrained(loader: Any, name_or_path: str, flag: str, what: str, **kwargs: Any) -> Any:
    check_model_reference(name_or_path, flag)
    try:
        with hub_logs_quiet():
            return loader.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(
            f"{flag} {name_or_path}: cannot load {what} ({first_line(exc)}); give a folder made by "
            "`tracegym student`/`sft`/`train`, or a hub id that is in the local cache or reachable"
        ) from None


def load_tokenizer(name_or_path: str, flag: str = "--model_name", padding_side: str | None = None) -> Any:
    """The tokenizer at `name_or_path`, with a pad token (its eos when it has none) and, if given, a padding side."""
    from transformers import AutoTokenizer

    tokenizer = _from_pretrained(AutoTokenizer, name_or_path, flag, "its tokenizer")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if padding_side is not None:
        tokenizer.padding_side = padding_side
    return tokenizer


def load_causal_lm(name_or_path: str, flag: str = "--model_name", dtype: Any = None) -> Any:
    """The causal LM at `name_or_path` (`dtype`: e.g. torch.float32; None: as saved)."""
    from transformers import AutoModelForCausalLM

    kwargs = {"dtype": dtype} if dtype is not None else {}
    return _from_pretrained(AutoModelForCausalLM, name_or_path, flag, "the model", **kwargs)


def check_model_loads(name_or_path: str, flag: str = "--model_name") -> None:
    """A UserError unless the model's config loads: checked before a run writes anything, without the weights."""
    from transformers import AutoConfig

    _from_pretrained(AutoConfig, name_or_path, flag, "the model")


def generation_config_of(name_or_path: str) -> Any:
    """The model's saved generation config, or None when it has none (no generation_config.json)."""
    from transformers import GenerationConfig

    try:
        with hub_logs_quiet():
            return GenerationConfig.from_pretrained(name_or_path)
    except (OSError, ValueError):
        return None


def end_of_turn_id(tokenizer: Any) -> int | None:
    """The id of the chat template's end-of-turn token (`<end_of_turn>`, `<|im_end|>`, …), when the vocabulary has one."""
    vocab = tokenizer.get_vocab()
    return next((vocab[token] for token in END_OF_TURN_TOKENS if token in vocab), None)


def reply_stop_ids(tokenizer: Any, generation_config: Any = None) -> frozenset[int]:
    """The ids that end a reply (module docstring): eos, the generation config's eos ids, the end-of-turn token."""
    ids: set[int | None] = {tokenizer.eos_token_id, end_of_turn_id(tokenizer)}
    eos = getattr(generation_config, "eos_token_id", None)
    ids.update(eos if isinstance(eos, Iterable) else [eos])
    return frozenset(i for i in ids if i is not None)


def end_of_reply_id(tokenizer: Any) -> int:
    """The token SFT appends to close a reply: the end-of-turn token when the vocabulary has one, else eos."""
    token_id = end_of_turn_id(tokenizer)
    return token_id if token_id is not None else tokenizer.eos_token_id


def ends_reply(ids: Iterable[int], stop_ids: frozenset[int]) -> bool:
    """Whether a reply's token ids (as generated, pad already removed) end with one of `stop_ids`."""
    ids = list(ids)
    return bool(ids) and ids[-1] in stop_ids
