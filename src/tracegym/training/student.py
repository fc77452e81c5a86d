"""The offline student: a byte-level BPE tokenizer trained on the traces and a tiny Gemma-3 model, no hub needed.

    >>> config = StudentConfig(out_dir="student")
    >>> build_student(texts_of_samples(samples), config)      # writes a folder the Auto classes load
    >>> AutoModelForCausalLM.from_pretrained("student"); AutoTokenizer.from_pretrained("student")

The tokenizer speaks Gemma's chat format (`<start_of_turn>user\\n…<end_of_turn>\\n<start_of_turn>model\\n`, the
system text folded into the first user turn by Gemma 3's own Jinja template), so everything downstream treats
the student exactly like `google/gemma-3-270m-it` and the same commands work for a hub model on a GPU.

Pre-tokenisation splits every digit into its own token, and keeps runs of letters apart from punctuation. A
reply must copy facts it was given (`4:30 pm`, `$42`, `377 Santana Row`, phone numbers): with single digits a
number the student has never seen is still a sequence of tokens it knows how to copy one at a time, whereas
merged multi-digit tokens would make every time and price a rare token of its own. The weights start random;
`tracegym sft` gives them a warm start.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tracegym.errors import UserError
from tracegym.options import option, positive_int
from tracegym.placeholders import MAX_PLACEHOLDER, placeholder_text

BOS, EOS, PAD, UNK = "<bos>", "<eos>", "<pad>", "<unk>"
START_OF_TURN, END_OF_TURN = "<start_of_turn>", "<end_of_turn>"
# Gemma's order of ids (pad 0, eos 1, bos 2, unk 3); the turn markers follow.
SPECIAL_TOKENS = (PAD, EOS, BOS, UNK, START_OF_TURN, END_OF_TURN)

# Gemma 3's chat template, verbatim (google/gemma-3-*-it tokenizer_config.json): a system message becomes the
# prefix of the first user turn; roles must alternate user/model.
GEMMA3_CHAT_TEMPLATE = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
"""


@dataclass
class StudentConfig:
    """The shape of the student. Defaults give about 1.7M parameters (mostly the tied embedding)."""

    out_dir: str = option(help="folder to write the model and tokenizer to", output="dir")
    vocab_size: int = option(6000, "BPE vocabulary size", type=positive_int)
    hidden_size: int = option(128, "model width", type=positive_int)
    num_layers: int = option(4, "decoder layers", type=positive_int)
    num_heads: int = option(4, "attention heads", type=positive_int)
    num_kv_heads: int = option(1, "key/value heads", type=positive_int)
    head_dim: int | None = None  # None: hidden_size // num_heads
    intermediate_size: int | None = None  # None: 4 × hidden_size
    max_position_embeddings: int = 4096
    sliding_window: int = 512
    placeholder_tokens: int = option(
        0,
        "make the value placeholders [1] … [N] one token each, for a student trained with --placeholders",
        metavar="N",
    )
    seed: int = option(0, "random seed")

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise UserError(
                f"--hidden_size {self.hidden_size} is not a multiple of --num_heads {self.num_heads}; "
                "pick sizes that divide"
            )
        if self.num_heads % self.num_kv_heads:
            raise UserError(
                f"--num_heads {self.num_heads} is not a multiple of --num_kv_heads {self.num_kv_heads}; "
                "pick sizes that divide"
            )
        if not 0 <= self.placeholder_tokens <= MAX_PLACEHOLDER:
            raise UserError(
                f"--placeholder_tokens {self.placeholder_tokens}: must be from 0 to {MAX_PLACEHOLDER} (placeholders are "
                f"[1] to [{MAX_PLACEHOLDER}])"
            )
        if self.vocab_size < 300:
            raise UserError(f"--vocab_size {self.vocab_size} is too small: a byte-level BPE needs at least 300")


@dataclass
class StudentSummary:
    out_dir: str
    parameters: int
    vocab_size: int
    texts: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def texts_of_samples(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Every piece of text the student will read or write: system messages, turns and reference replies.

    System messages repeat across the turns of a dialogue, so each distinct text is yielded once.
    """
    seen: set[str] = set()
    for row in rows:
        pieces = [message.get("content", "") for message in row.get("messages") or []]
        if not row.get("messages"):
            pieces.append(row.get("prompt", ""))
        pieces.append(row.get("ground_truth", ""))
        for piece in pieces:
            if isinstance(piece, str) and piece and piece not in seen:
                seen.add(piece)
                yield piece


def train_tokenizer(texts: Iterable[str], vocab_size: int, placeholder_tokens: int = 0) -> Any:
    """A byte-level BPE `PreTrainedTokenizerFast` with Gemma's special tokens and chat template, and the value
    placeholders `[1]` … `[placeholder_tokens]` as tokens of their own."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            # One token per digit: numbers, times and prices stay composable and copyable (module docstring).
            pre_tokenizers.Split(Regex(r"\d"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        # The end of a reply is <end_of_turn>: TRL masks a completion after the tokenizer's eos, and SFT appends it.
        eos_token=END_OF_TURN,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=[START_OF_TURN, EOS],
        chat_template=GEMMA3_CHAT_TEMPLATE,
        padding_side="left",
        model_max_length=4096,
        clean_up_tokenization_spaces=False,
    )
    # Split digit by digit, `[2]` would be three tokens and the student would have to count its way to the right
    # digit; as one token it copies `[2]` from the acts in its prompt like any other token (an induction copy).
    fast.add_tokens([placeholder_text(number) for number in range(1, placeholder_tokens + 1)])
    return fast


def build_model(tokenizer: Any, config: StudentConfig) -> Any:
    """A randomly initialised Gemma-3 text model sized by `config`, tied embeddings, ids from `tokenizer`."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, GenerationConfig

    torch.manual_seed(config.seed)
    ids = _special_ids(tokenizer)
    model_config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size or 4 * config.hidden_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_kv_heads,
        head_dim=config.head_dim or config.hidden_size // config.num_heads,
        max_position_embeddings=config.max_position_embeddings,
        sliding_window=config.sliding_window,
        # Gemma 3 interleaves 5 local layers with 1 global; a 4-layer student would get none global, so its last
        # layer is made global: a reply can then still see a schema more than a window away.
        layer_types=["sliding_attention"] * (config.num_layers - 1) + ["full_attention"],
        # Gemma 3 scales queries by a fixed 256 tuned for its own head size; the student's heads are smaller.
        query_pre_attn_scalar=config.head_dim or config.hidden_size // config.num_heads,
        tie_word_embeddings=True,
        pad_token_id=ids["pad"],
        bos_token_id=ids["bos"],
        eos_token_id=[ids["end_of_turn"], ids["eos"]],
    )
    model = Gemma3ForCausalLM(model_config)
    model.generation_config = GenerationConfig(
        bos_token_id=ids["bos"],
        pad_token_id=ids["pad"],
        eos_token_id=[ids["end_of_turn"], ids["eos"]],
        max_new_tokens=64,
    )
    return model


def build_student(texts: Iterable[str], config: StudentConfig) -> StudentSummary:
    """Train the tokenizer on `texts`, build the model, save both to `config.out_dir`; return a summary."""
    texts = list(texts)
    if not texts:
        raise UserError("no text to train the student's tokenizer on; give samples with messages and ground_truth")
    tokenizer = train_tokenizer(texts, config.vocab_size, config.placeholder_tokens)
    model = build_model(tokenizer, config)
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    summary = StudentSummary(
        out_dir=str(out_dir),
        parameters=sum(p.numel() for p in model.parameters()),
        vocab_size=len(tokenizer),
        texts=len(texts),
    )
    (out_dir / "student.json").write_text(
        json.dumps({"config": vars(config), **summary.to_dict()}, indent=2) + "\n", encoding="utf-8"
    )
    return summary


def _special_ids(tokenizer: Any) -> dict[str, int]:
    return {
        "pad": tokenizer.convert_tokens_to_ids(PAD),
        "bos": tokenizer.convert_tokens_to_ids(BOS),
        "eos": tokenizer.convert_tokens_to_ids(EOS),
        "end_of_turn": tokenizer.convert_tokens_to_ids(END_OF_TURN),
    }
