"""Prompts for training and evaluation: a sample's `messages` rendered with the student's own chat template.

    >>> text = render_prompt(tokenizer, sample.messages, max_prompt_tokens=1024)
    >>> rows = prompt_completion_rows(samples, tokenizer, max_prompt_tokens=1024)  # [{"id", "prompt", "completion"}]

The template decides how a system message is shown: Gemma's folds it into the first user turn itself; a template
that refuses a system role gets it folded by us as a fallback (`system text\\n\\nfirst user text`, Gemma's layout).
A prompt longer than `max_prompt_tokens` loses its oldest history turns first, in user/assistant pairs; the system
message (role, schema, service results) and the last user turn are never dropped. Only when those two alone are
too long is the system message's middle cut, and that is counted in `PromptStats.system_truncated` and logged.
A compact sample's system message is only its service and its acts, the very thing the student must say, so
`render_sample_prompt` keeps it whole and cuts the last user turn's middle instead (`PromptStats.last_turn_cut`).

No torch here: the tokenizer is passed in, so data-only code paths stay light.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tracegym.errors import UserError
from tracegym.framing import Framing

logger = logging.getLogger(__name__)

SYSTEM_CUT_MARKER = "\n[… {count} tokens of context cut to fit the prompt length …]\n"
LAST_TURN_CUT_MARKER = " ... "  # short: a compact prompt's budget is 128 tokens, and this is one token there


@dataclass
class PromptStats:
    """What rendering had to do to make prompts fit; pass one in to count, read it after."""

    rendered: int = 0
    history_turns_dropped: int = 0
    prompts_shortened: int = 0
    system_truncated: int = 0  # the warning counter: the last resort was needed this many times
    # prompts whose last user turn's middle was cut first; those still too long count in system_truncated too
    last_turn_cut: int = 0
    still_too_long: int = 0  # even the cut system message plus the last user turn did not fit


def render_prompt(
    tokenizer: Any,
    messages: Sequence[dict[str, str]],
    max_prompt_tokens: int | None,
    stats: PromptStats | None = None,
    *,
    keep_system: bool = False,
) -> str:
    """The prompt text for `messages` (system first, turns ending with a user turn), ready for generation.

    Rendered by `tokenizer.apply_chat_template(..., add_generation_prompt=True)`, shortened to at most
    `max_prompt_tokens` tokens (None: no limit) as the module docstring says. `keep_system`: when the system
    message and the last user turn alone are too long, the last user turn's middle is cut first.
    """
    stats = stats if stats is not None else PromptStats()
    system, turns = _split_system(messages)
    stats.rendered += 1
    full = _render(tokenizer, system, turns)
    if max_prompt_tokens is None or _count_tokens(tokenizer, full) <= max_prompt_tokens:
        return full

    stats.prompts_shortened += 1
    start = _first_history_start_that_fits(tokenizer, system, turns, max_prompt_tokens)
    stats.history_turns_dropped += start
    kept = list(turns[start:])
    text = _render(tokenizer, system, kept)
    if _count_tokens(tokenizer, text) <= max_prompt_tokens or system is None:
        if _count_tokens(tokenizer, text) > max_prompt_tokens:
            stats.still_too_long += 1
        return text

    if keep_system:
        stats.last_turn_cut += 1
        text = _render_with_last_turn_cut_to_fit(tokenizer, system, kept, max_prompt_tokens)
        if _count_tokens(tokenizer, text) <= max_prompt_tokens:
            return text
    stats.system_truncated += 1
    logger.debug("prompt over %d tokens with no history left: cutting the system message's middle", max_prompt_tokens)
    text = _render_with_system_cut_to_fit(tokenizer, system, kept, max_prompt_tokens)
    if _count_tokens(tokenizer, text) > max_prompt_tokens:
        stats.still_too_long += 1
    return text


def prompt_completion_rows(
    samples: Iterable[Any],
    tokenizer: Any,
    max_prompt_tokens: int | None,
    stats: PromptStats | None = None,
) -> list[dict[str, str]]:
    """`{"id", "prompt", "completion"}` per sample (a `Sample` or a dict): the rendered prompt and the reference.

    A sample without `messages` (a seed-style record) is given its `prompt` text as one user turn.
    """
    stats = stats if stats is not None else PromptStats()
    truncated_before = stats.system_truncated
    rows = []
    for sample in samples:
        record = sample if isinstance(sample, dict) else sample.to_dict()
        try:
            prompt = render_sample_prompt(tokenizer, record, max_prompt_tokens, stats)
        except UserError as exc:
            raise UserError(f"sample {record.get('id')!r}: {exc}") from None
        rows.append({"id": record["id"], "prompt": prompt, "completion": record["ground_truth"]})
    if stats.system_truncated > truncated_before:
        logger.warning(
            "%d of %d prompts were over %s tokens with no history left: the middle of their system message was cut; "
            "raise the prompt length if the model allows",
            stats.system_truncated - truncated_before,
            len(rows),
            max_prompt_tokens,
        )
    return rows


def render_sample_prompt(
    tokenizer: Any, record: dict[str, Any], max_prompt_tokens: int | None, stats: PromptStats | None = None
) -> str:
    """A sample's prompt (`record`: `Sample.to_dict()` or a seed-style dict), its system message kept whole when
    the sample's framing is compact (the module docstring says why)."""
    keep_system = Framing.from_dict(record.get("framing"), f"sample {record.get('id')!r}: framing").compact
    return render_prompt(tokenizer, sample_messages(record), max_prompt_tokens, stats, keep_system=keep_system)


def sample_messages(record: dict[str, Any]) -> list[dict[str, str]]:
    """The chat messages a sample gives the student: its `messages`, or its seed `prompt` as one user turn."""
    messages = record.get("messages") or []
    if messages:
        return list(messages)
    return [{"role": "user", "content": record.get("prompt", "")}]


def _split_system(messages: Sequence[dict[str, str]]) -> tuple[dict[str, str] | None, list[dict[str, str]]]:
    if not messages:
        raise UserError("no messages to render; a sample needs `messages` or a `prompt`")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise UserError(f"message {index} is not a {{role, content}} object")
    system = messages[0] if messages[0]["role"] == "system" else None
    turns = list(messages[1:] if system is not None else messages)
    if not turns or turns[-1]["role"] != "user":
        raise UserError("messages must end with a user turn (the turn the student replies to)")
    return system, turns


def _render(tokenizer: Any, system: dict[str, str] | None, turns: Sequence[dict[str, str]]) -> str:
    if getattr(tokenizer, "chat_template", None) is None:
        raise UserError(
            f"the tokenizer of {getattr(tokenizer, 'name_or_path', 'this model')!r} has no chat template; "
            "use an instruction-tuned model or one built by `tracegym student`"
        )
    messages = ([system] if system is not None else []) + list(turns)
    try:
        return _apply_template(tokenizer, messages)
    except Exception as first_error:  # jinja raises TemplateError subclasses, some templates plain exceptions
        if system is None:
            raise UserError(f"the chat template refused the messages: {first_error}") from None
        try:
            return _apply_template(tokenizer, _fold_system_into_first_user(system, turns))
        except Exception as exc:
            raise UserError(f"the chat template refused the messages: {exc}") from None


def _apply_template(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _fold_system_into_first_user(system: dict[str, str], turns: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """For templates with no system role: the system text leads the first user message (Gemma's layout)."""
    folded = [dict(turn) for turn in turns]
    first_user = next(i for i, turn in enumerate(folded) if turn["role"] == "user")
    folded[first_user]["content"] = f"{system['content']}\n\n{folded[first_user]['content']}"
    return folded


def _count_tokens(tokenizer: Any, text: str) -> int:
    # The rendered text already holds the template's special tokens (<bos>), so none are added again.
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _history_starts(turns: Sequence[dict[str, str]]) -> list[int]:
    """Where the kept turns may begin: each user turn, so that what stays still alternates user/assistant.

    Dropping from the front up to the next user turn drops one user/assistant pair at a time. The last entry is
    the last user turn itself (no history kept).
    """
    return [i for i, turn in enumerate(turns) if turn["role"] == "user"]


def _first_history_start_that_fits(
    tokenizer: Any, system: dict[str, str] | None, turns: Sequence[dict[str, str]], max_prompt_tokens: int
) -> int:
    """The earliest start (fewest turns dropped) whose render fits; the last user turn when none does.

    Length falls as more turns are dropped, so a binary search keeps long dialogues cheap to shorten.
    """
    starts = _history_starts(turns)
    last = len(turns) - 1
    if starts[-1] != last:
        starts.append(last)
    low, high = 0, len(starts) - 1
    while low < high:
        middle = (low + high) // 2
        text = _render(tokenizer, system, turns[starts[middle] :])
        if _count_tokens(tokenizer, text) <= max_prompt_tokens:
            high = middle
        else:
            low = middle + 1
    return starts[low]


def _render_with_system_cut_to_fit(
    tokenizer: Any, system: dict[str, str], turns: Sequence[dict[str, str]], max_prompt_tokens: int
) -> str:
    """Cut tokens from the middle of the system message (head and tail kept) until the prompt fits."""
    return _render_with_middle_cut(
        tokenizer,
        system["content"],
        lambda content: _render(tokenizer, {"role": "system", "content": content}, turns),
        max_prompt_tokens,
        margin=16,
        join=lambda head, cut, tail: head + SYSTEM_CUT_MARKER.format(count=cut) + tail,
    )


def _render_with_last_turn_cut_to_fit(
    tokenizer: Any, system: dict[str, str] | None, turns: Sequence[dict[str, str]], max_prompt_tokens: int
) -> str:
    """Cut tokens from the middle of the last user turn (its head and tail kept) until the prompt fits, or the
    turn is down to the marker."""
    *earlier, last = turns
    return _render_with_middle_cut(
        tokenizer,
        last["content"],
        lambda content: _render(tokenizer, system, [*earlier, {**last, "content": content}]),
        max_prompt_tokens,
        margin=1,
        join=lambda head, _cut, tail: (head.rstrip() + LAST_TURN_CUT_MARKER + tail.lstrip()).strip(),
    )


def _render_with_middle_cut(
    tokenizer: Any,
    text: str,
    render: Callable[[str], str],
    max_prompt_tokens: int,
    *,
    margin: int,
    join: Callable[[str, int, str], str],
) -> str:
    """`render(text)` with tokens cut from the middle of `text` until it fits or nothing is left to cut: the head
    and tail kept, joined by `join(head, tokens cut, tail)`; each try cuts the excess plus `margin` tokens."""
    text_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    rendered = render(text)
    excess = _count_tokens(tokenizer, rendered) - max_prompt_tokens
    for _ in range(4):  # re-tokenising the joined text can shift a few tokens; a few tries settle it
        cut = min(len(text_ids), excess + margin)
        keep = len(text_ids) - cut
        head, tail = text_ids[: keep // 2], text_ids[len(text_ids) - (keep - keep // 2) :] if keep else []
        rendered = render(join(tokenizer.decode(head), cut, tokenizer.decode(tail) if tail else ""))
        over = _count_tokens(tokenizer, rendered) - max_prompt_tokens
        if over <= 0 or cut == len(text_ids):
            return rendered
        excess += over
    return rendered
