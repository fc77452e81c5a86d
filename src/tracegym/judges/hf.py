"""`--judge hf --judge_model PATH`: a local transformers causal LM as judge, G-Eval style.

The model reads a prompt that asks for a rating from 1 to 5 and we read its next-token distribution over the
rating tokens "1".."5" instead of sampling: score = (expected rating − 1) / 4, in [0, 1]. No sampling, so the
same inputs always give the same score. Replies are scored in batches of `--concurrency`.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tracegym.errors import UserError
from tracegym.judges.base import Verdict, fingerprint_of
from tracegym.judges.guard import GUARD_VERSION, screen
from tracegym.judges.llm import PROMPTS_DIR, fenced, read_custom_template, template_fields
from tracegym.samples import Sample

RATINGS = (1, 2, 3, 4, 5)
PROMPT_NAME = "hf_v1"


class HFJudge:
    name = "hf"

    def __init__(
        self,
        model_path: str,
        criteria: str | None = None,
        judge_prompt: str | None = None,
        batch_size: int = 8,
        guard: bool = True,
    ) -> None:
        self.model_path = model_path
        self.criteria = criteria
        self.batch_size = batch_size
        self.guard = guard
        self.template = (
            read_custom_template(judge_prompt)
            if judge_prompt
            else (PROMPTS_DIR / f"{PROMPT_NAME}.txt").read_text(encoding="utf-8")
        ).rstrip()
        self.fingerprint = fingerprint_of(
            self.name,
            model=str(Path(model_path).resolve()) if Path(model_path).exists() else model_path,
            prompt=PROMPT_NAME if not judge_prompt else "custom",
            prompt_digest=hashlib.sha256(self.template.encode()).hexdigest()[:16],
            criteria=criteria,
            guard=GUARD_VERSION if guard else None,
            ratings=list(RATINGS),
        )
        self._loaded: tuple[Any, Any, list[list[int]]] | None = None
        self._load_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HFJudge(model={self.model_path!r}, fingerprint={self.fingerprint!r})"

    @classmethod
    def from_settings(cls, settings: Any) -> HFJudge:
        if not settings.judge_model:
            raise UserError(
                "the hf judge needs --judge_model PATH: a local transformers causal LM folder (or a hub name)"
            )
        return cls(
            settings.judge_model,
            criteria=settings.criteria,
            judge_prompt=settings.judge_prompt,
            batch_size=settings.concurrency,
        )

    async def score(self, samples: Sequence[Sample], responses: Sequence[str]) -> list[Verdict]:
        screened = screen(responses) if self.guard else [None] * len(responses)
        pending = [i for i, verdict in enumerate(screened) if verdict is None]
        prompts = [self.prompt_for(samples[i], responses[i]) for i in pending]
        # The forward passes run in a worker thread so the event loop (and a trainer's other rewards) keep going.
        distributions = await asyncio.to_thread(self.rating_distributions, prompts) if prompts else []
        verdicts: list[Verdict | None] = list(screened)
        for index, distribution in zip(pending, distributions):
            verdicts[index] = verdict_from(distribution)
        return [v if v is not None else Verdict.failure("no verdict produced") for v in verdicts]

    def prompt_for(self, sample: Sample, response: str) -> str:
        # A boundary derived from the reply itself: unguessable by the reply, yet the same on every run.
        boundary = hashlib.sha256(f"{sample.id}\0{response}".encode()).hexdigest()[:16]
        return self.template.format(**template_fields(sample, self.criteria, fenced("reply", response, boundary)))

    def rating_distributions(self, prompts: Sequence[str]) -> list[list[float]]:
        """For each prompt, the probabilities of the ratings 1..5 as the next token, renormalised over them."""
        import torch

        model, tokenizer, rating_ids = self._model()
        results: list[list[float]] = []
        for start in range(0, len(prompts), self.batch_size):
            texts = [self._as_model_input(tokenizer, p) for p in prompts[start : start + self.batch_size]]
            batch = tokenizer(
                texts,
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=_max_length(model, tokenizer),
                add_special_tokens=tokenizer.chat_template is None,
            ).to(model.device)
            # Left padding shifts each row; positions counted from the first real token keep a row's
            # distribution the same whatever it is batched with.
            positions = (batch["attention_mask"].cumsum(dim=-1) - 1).clamp_min(0)
            with torch.no_grad():
                logits = model(**batch, position_ids=positions).logits[:, -1, :].float()
            probabilities = torch.softmax(logits, dim=-1)
            mass = torch.stack([probabilities[:, ids].sum(dim=-1) for ids in rating_ids], dim=-1)
            mass = mass / mass.sum(dim=-1, keepdim=True).clamp_min(1e-12)
            results.extend(mass.cpu().tolist())
        return results

    @staticmethod
    def _as_model_input(tokenizer: Any, prompt: str) -> str:
        if tokenizer.chat_template:
            return tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
            )
        return prompt

    def _model(self) -> tuple[Any, Any, list[list[int]]]:
        with self._load_lock:
            if self._loaded is None:
                self._loaded = _load(self.model_path)
            return self._loaded


def verdict_from(distribution: Sequence[float]) -> Verdict:
    expected = sum(p * r for p, r in zip(distribution, RATINGS))
    score = min(1.0, max(0.0, (expected - RATINGS[0]) / (RATINGS[-1] - RATINGS[0])))
    shown = ", ".join(f"{r}: {p:.2f}" for r, p in zip(RATINGS, distribution))
    return Verdict(score=score, reasoning=f"expected rating {expected:.2f} of 5 ({shown})")


def _load(model_path: str) -> tuple[Any, Any, list[list[int]]]:
    from tracegym.models import load_causal_lm, load_tokenizer

    # Left padding: the next token is read at the last position of every row.
    tokenizer = load_tokenizer(model_path, "--judge_model", padding_side="left")
    model = load_causal_lm(model_path, "--judge_model")
    model.eval()
    tokenizer.truncation_side = "left"  # a long dialogue loses its oldest part, never the question
    return model, tokenizer, _rating_token_ids(tokenizer, model_path)


def _rating_token_ids(tokenizer: Any, model_path: str) -> list[list[int]]:
    """The single-token spellings ("4", " 4") of each rating."""
    rating_ids = []
    for rating in RATINGS:
        ids = set()
        for spelling in (str(rating), f" {rating}"):
            encoded = tokenizer.encode(spelling, add_special_tokens=False)
            if len(encoded) == 1 and encoded[0] != tokenizer.unk_token_id:
                ids.add(encoded[0])
        if not ids:
            raise UserError(
                f"--judge_model {model_path}: the tokenizer has no single token for the rating {rating}; use a model whose vocabulary has the digits"
            )
        rating_ids.append(sorted(ids))
    return rating_ids


def _max_length(model: Any, tokenizer: Any) -> int:
    limit = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None) or 2048
    return min(int(limit), int(tokenizer.model_max_length or limit))
