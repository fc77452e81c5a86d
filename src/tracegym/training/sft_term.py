"""A supervised term in GRPO's loss: the reference replies' cross-entropy, InstructGPT's PPO-ptx.

Ouyang et al. (2022) mix the pretraining gradient into PPO ("PPO-ptx") so that the policy keeps what it knew while
the reward moves it: the "alignment tax" on tasks the reward does not cover. Here the student's SFT data plays that
part. With `--sft_coef c`, each GRPO micro-batch adds c × the mean reply cross-entropy (`sft.reply_loss`) of
`--sft_batch_size` turns of `--sft_jsonl` to TRL's loss, scaled for gradient accumulation as TRL scales its own
auxiliary loss. The turns come in `sft.BatchPlan`'s seeded, length-bucketed order, so the same seed replays the same
turns.

The KL term holds the policy near the SFT student only on the replies GRPO samples, for the prompts GRPO trains on.
This term is meant to hold it on turns GRPO never sees, which is where the demo's GRPO students broke replies the
SFT student had right. On the demo it did not (BENCHMARKS.md, demo, fourteenth session): at weight 0.5 the replayed
turns' cross-entropy stayed at the SFT student's (about 1.0), and held-out BLEU, chrF and the judge's gain all came
out lower than without it, while repetition stayed above the SFT student's. It is off by default.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tracegym.training.prompts import PromptStats


@dataclass
class SFTTerm:
    """The term's weight and its endless stream of padded batches."""

    coef: float
    batches: Iterator[dict[str, Any]]

    def loss(self, model: Any) -> Any:
        """The next batch's mean reply cross-entropy under `model`."""
        from tracegym.training.sft import reply_loss

        batch = next(self.batches)
        device = next(model.parameters()).device
        return reply_loss(model, {key: value.to(device) for key, value in batch.items()})


def build_sft_term(
    samples: list[Any],
    tokenizer: Any,
    coef: float,
    batch_size: int,
    max_prompt_length: int,
    max_completion_length: int,
    placeholders: bool,
    seed: int,
) -> SFTTerm:
    """The term over `samples`, tokenized as `tracegym sft` tokenizes them."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from tracegym.training.sft import BatchPlan, SFTSettings, tokenize_examples, training_rows

    settings = SFTSettings(
        model_name="",
        train_jsonl="",
        output_dir="",
        max_prompt_length=max_prompt_length,
        max_completion_length=max_completion_length,
        placeholders=placeholders,
    )
    examples = tokenize_examples(samples, tokenizer, settings, PromptStats())
    collate = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id)
    plan = BatchPlan(examples, batch_size, seed)
    return SFTTerm(coef, (collate(training_rows(batch)) for batch in plan.forever()))
