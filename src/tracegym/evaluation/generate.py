"""Loading a student (hub id, full model dir, LoRA adapter dir, or a `train` run dir) and generating its replies.

Prompts are rendered by `tracegym.training.prompts.render_sample_prompt`, the same function training uses, so the
student is evaluated on exactly the text it was trained on. Generation is batched with left padding and stops where
`tracegym.models.reply_stop_ids` says a reply ends (eos, the generation config's eos ids, the end-of-turn token),
the same set GRPO's `--truncated_reward` check uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracegym.errors import UserError
from tracegym.framing import Framing
from tracegym.hub import first_line
from tracegym.models import load_causal_lm, load_tokenizer, reply_stop_ids
from tracegym.samples import Sample

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


@dataclass(frozen=True)
class ModelLocation:
    """Where a trained student's weights are: `kind` is "adapter" (LoRA, applied to the base) or "full"."""

    kind: str
    weights_dir: Path
    run_dir: Path | None  # the `train` run dir around the weights, when there is one (run.json, log.jsonl)


RUN_MARKERS = ("run.json", "log.jsonl", "config.yaml")


def locate_trained_model(path: str | Path) -> ModelLocation:
    """Resolve `--trained_model_dir`: a LoRA adapter dir, a full model dir, or a run dir holding one of them.

    A folder holding adapter/ or model/ is a run dir when `tracegym train` left its files there (run.json, which
    `tracegym.training.rundir.read_run` reads, or the log and config of an older run); a weights folder is inside a
    run dir when its parent holds run.json.
    """
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"--trained_model_dir {path}: no such directory; give a run dir, an adapter dir or a model dir")
    for kind, name in (("adapter", "adapter"), ("full", "model")):
        inner = path / name
        if inner.is_dir():
            return ModelLocation(kind, inner, path if any((path / m).is_file() for m in RUN_MARKERS) else None)
    run_dir = path.parent if (path.parent / RUN_MARKERS[0]).is_file() else None
    if (path / "adapter_config.json").is_file():
        return ModelLocation("adapter", path, run_dir)
    if (path / "config.json").is_file():
        return ModelLocation("full", path, run_dir)
    raise UserError(
        f"--trained_model_dir {path}: holds no adapter_config.json, config.json, adapter/ or model/; "
        "give the run dir of `tracegym train` or a saved model"
    )


def load_base_model(base_model: str) -> tuple[Any, Any]:
    """(model, tokenizer) of `--base_model`, a hub id or a local dir, in eval mode."""
    model = load_causal_lm(base_model, "--base_model")
    return on_best_device(model).eval(), load_tokenizer(base_model, "--base_model", padding_side="left")


def load_trained_model(location: ModelLocation, base_model: str) -> tuple[Any, Any]:
    """(model, tokenizer) of the trained student; a LoRA adapter is applied to a fresh copy of the base."""
    flag = "--trained_model_dir"
    if location.kind == "full":
        model = load_causal_lm(str(location.weights_dir), flag)
    else:
        from peft import PeftModel

        base = load_causal_lm(base_model, "--base_model")
        try:
            model = PeftModel.from_pretrained(base, str(location.weights_dir)).merge_and_unload()
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise UserError(
                f"{flag} {location.weights_dir}: the LoRA adapter does not fit --base_model {base_model} "
                f"({first_line(exc)}); give the base the adapter was trained on"
            ) from None
    tokenizer_dir = _tokenizer_dir_near(location) or base_model
    return on_best_device(model).eval(), load_tokenizer(str(tokenizer_dir), flag, padding_side="left")


def on_best_device(model: Any) -> Any:
    """The model on the GPU when there is one (generation is most of eval's time), else where it is."""
    import torch

    return model.to("cuda") if torch.cuda.is_available() else model


def _tokenizer_dir_near(location: ModelLocation) -> Path | None:
    for directory in (location.weights_dir, location.run_dir):
        if directory is not None and any((directory / name).is_file() for name in TOKENIZER_FILES):
            return directory
    return None


def render_prompts(tokenizer: Any, samples: Sequence[Sample], max_prompt_length: int | None) -> list[str]:
    from tracegym.training.prompts import render_sample_prompt

    prompts = []
    for sample in samples:
        try:
            prompts.append(render_sample_prompt(tokenizer, sample.to_dict(), max_prompt_length))
        except UserError as exc:
            raise UserError(f"sample {sample.id!r}: {exc}") from None
    return prompts


def generate_replies(
    model: Any,
    tokenizer: Any,
    samples: Sequence[Sample],
    *,
    num_samples: int = 1,
    temperature: float = 0.0,
    max_new_tokens: int = 64,
    max_prompt_length: int | None = 768,
    batch_size: int = 8,
    seed: int = 0,
    framing: Framing | None = None,
    description: str = "generating",
) -> list[list[str]]:
    """`num_samples` replies per sample (greedy when temperature is 0), in sample order, as written (a reply's
    `[n]` placeholders are not filled here).

    With a `framing` that is constrained the replies use each `[n]` the prompt's acts have at most once and no other
    (`tracegym.decoding`)."""
    import torch
    from tqdm import tqdm

    from tracegym.decoding import placeholder_logits_processors, placeholder_token_ids

    if num_samples > 1 and temperature <= 0:
        raise UserError(f"--num_samples {num_samples} needs sampling: give --temperature above 0 (e.g. 0.7)")
    tokenizer.padding_side = "left"
    prompts = render_prompts(tokenizer, samples, max_prompt_length)
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    # Batches of similar length waste less compute on padding; replies go back to sample order at the end.
    order = sorted(range(len(prompts)), key=lambda i: lengths[i])
    sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
    stop_ids = sorted(reply_stop_ids(tokenizer, model.generation_config))
    placeholder_ids = placeholder_token_ids(tokenizer) if framing and framing.constrained else []
    replies: list[list[str]] = [[] for _ in prompts]
    torch.manual_seed(seed)
    progress = tqdm(total=len(prompts), desc=description, unit="prompt", leave=False)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            encoded = tokenizer(
                [prompts[i] for i in batch], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(model.device)
            processors = placeholder_logits_processors(placeholder_ids, encoded["input_ids"].shape[1])
            output = model.generate(
                **encoded,
                logits_processor=processors,
                max_new_tokens=max_new_tokens,
                num_return_sequences=num_samples,
                eos_token_id=stop_ids,
                pad_token_id=tokenizer.pad_token_id,
                **sampling,
            )
            new_tokens = output[:, encoded["input_ids"].shape[1] :]
            texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            for position, index in enumerate(batch):
                chunk = texts[position * num_samples : (position + 1) * num_samples]
                replies[index] = [text.strip() for text in chunk]
            progress.update(len(batch))
    progress.close()
    return replies
