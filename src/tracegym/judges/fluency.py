"""Fluency: how much a reply reads like the traces' own system turns, by an n-gram language model made from them.

The model is manufactured at no network cost from the system turns of a train split (by default the bundled SGD
train split, 22,939 turns): each turn is delexicalised (the values of its acts and slot spans become `<v>`,
numbers `<n>`), and an interpolated Kneser-Ney trigram model (Chen & Goodman, 1998) is counted over the tokens. A
reply is delexicalised the same way with its sample's values and scored by its per-token log-probabilities.
Broken grammar ("What city are you like to visit?"), stuck loops ("found found found") and token salad ("There is
2 ticket is 275 …") hold word sequences that no system turn has, so their rarest trigrams are far less likely than
a reference's.

The score maps the reply's statistic onto [0, 1] against the same statistic of the corpus's own held-out turns
(every tenth dialogue is kept out of the counts): 1 at or above their 10% quantile, 0 at or below their 1%
quantile, linear between. Why not nltk.lm or KenLM: nltk is not a dependency and its model is pure-Python too,
and KenLM needs a compiler; the counting here is 60 lines.

What it is worth, measured (bench/judge_agreement.py, BENCHMARKS.md): a weak signal on its own. Its AUC against
the labelled set is 0.61–0.65 (the raw statistic ranks at 0.80–0.96: the clipping above ties most replies at
1.0), and at any mapping that keeps SGD's own references ≥ 0.7 most unacceptable student replies pass: a student's broken replies are mostly common word
sequences in a wrong order, which a trigram model sees only at their seams. It gave the act judge nothing on top of
its form rules, so `acts` does not use it; it is the offline reward for traces without acts (chat logs), in a
mixture such as `similarity+fluency`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tracegym.errors import UserError
from tracegym.judges.base import Verdict, fingerprint_of, verdicts_one_by_one
from tracegym.samples import Sample, iter_jsonl

TOKEN = re.compile(r"<[nv]>|[a-z]+(?:'[a-z]+)?|[^\sa-z\d]")
NUMBER = re.compile(r"[$£€]?\d[\d,:.]*(?:\s?(?:am|pm|a\.m\.|p\.m\.))?", re.IGNORECASE)
BOUNDARY = ("<s>", "<s>")
END = "</s>"
VERSION = "fluency-2"  # 2: the bigram level divides by its continuation counts, not its types


def delexicalised(text: str, values: Iterable[str]) -> list[str]:
    """The text's tokens with each value (longest first, whole words, any case) as `<v>` and numbers as `<n>`."""
    for value in sorted({v for v in values if len(v.strip()) > 1}, key=len, reverse=True):
        if value.lower() in ("true", "false", "dontcare"):
            continue
        text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", " <v> ", text, flags=re.IGNORECASE)
    return TOKEN.findall(NUMBER.sub(" <n> ", text).lower())


def sample_values(sample: Sample) -> list[str]:
    """The values a reply to this sample may state: its acts', its service results' and its calls' parameters."""
    values = [v for act in sample.acts for v in (*act.values, *act.canonical_values)]
    for result in sample.service_results or []:
        values += [str(v) for v in result.values()]
    for call in sample.calls:
        values += [str(v) for v in call.parameters.values()]
    return values


@dataclass
class TrigramModel:
    """Interpolated Kneser-Ney trigram counts with absolute discount `discount`; unseen words back off to an
    add-half unigram of continuation counts."""

    discount: float = 0.75
    trigrams: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._context: Counter[tuple[str, str]] = Counter()
        self._context_types: Counter[tuple[str, str]] = Counter()
        self._bigram_continuations: Counter[tuple[str, str]] = Counter()
        self._middle: Counter[str] = Counter()
        self._middle_types: Counter[str] = Counter()
        self._unigram_continuations: Counter[str] = Counter()
        self._continuation_total = 0

    @classmethod
    def counted(cls, sentences: Iterable[Sequence[str]], discount: float = 0.75) -> TrigramModel:
        model = cls(discount=discount)
        for tokens in sentences:
            padded = [*BOUNDARY, *tokens, END]
            model.trigrams.update(zip(padded, padded[1:], padded[2:]))
        for (a, b, c), count in model.trigrams.items():
            model._context[(a, b)] += count
            model._context_types[(a, b)] += 1
            model._bigram_continuations[(b, c)] += 1
        for (b, c), continuations in model._bigram_continuations.items():
            model._middle[b] += continuations  # Σ_c N1+(• b c): the middle order's denominator
            model._middle_types[b] += 1  # N1+(b •): how many words follow b, for the back-off weight
            model._unigram_continuations[c] += 1
        model._continuation_total = sum(model._unigram_continuations.values())
        return model

    def _unigram(self, word: str) -> float:
        vocabulary = len(self._unigram_continuations) + 1
        return (self._unigram_continuations.get(word, 0) + 0.5) / (self._continuation_total + 0.5 * vocabulary)

    def _bigram(self, previous: str, word: str) -> float:
        total = self._middle.get(previous, 0)
        if not total:
            return self._unigram(word)
        seen = max(self._bigram_continuations.get((previous, word), 0) - self.discount, 0.0) / total
        return seen + self.discount * self._middle_types[previous] / total * self._unigram(word)

    def probability(self, first: str, second: str, word: str) -> float:
        total = self._context.get((first, second), 0)
        if not total:
            return self._bigram(second, word)
        seen = max(self.trigrams.get((first, second, word), 0) - self.discount, 0.0) / total
        return seen + self.discount * self._context_types[(first, second)] / total * self._bigram(second, word)

    def log_probabilities(self, tokens: Sequence[str]) -> list[float]:
        """log2 P(token | two before) for each token and the end of the sentence."""
        padded = [*BOUNDARY, *tokens, END]
        return [math.log2(self.probability(*padded[i - 2 : i + 1])) for i in range(2, len(padded))]


def reply_statistic(log_probabilities: Sequence[float], worst: int = 3) -> float:
    """The mean of the `worst` lowest token log-probabilities: a reply is as fluent as its least likely words."""
    lowest = sorted(log_probabilities)[:worst]
    return sum(lowest) / len(lowest)


@dataclass
class FluencyModel:
    """A trigram model of delexicalised system turns, with the statistic's quantiles on held-out turns."""

    model: TrigramModel
    lower: float
    upper: float
    corpus_digest: str
    turns: int

    def reading(self, reply: str, values: Iterable[str]) -> tuple[float, float]:
        """(statistic, score in [0, 1]) of one reply."""
        tokens = delexicalised(reply, values)
        if not tokens:
            return float("-inf"), 0.0
        statistic = reply_statistic(self.model.log_probabilities(tokens))
        return statistic, min(1.0, max(0.0, (statistic - self.lower) / (self.upper - self.lower)))


LOWER_QUANTILE = 0.01
UPPER_QUANTILE = 0.10


@lru_cache(maxsize=4)  # one model per corpus per process: counting 23k turns takes seconds, and judges are many
def fluency_model(corpus: str | None = None) -> FluencyModel:
    """The fluency model of `corpus` (an SGD folder, whose train split is read, or a samples JSONL, whose
    ground_truth replies are read); None is the bundled SGD train split."""
    turns = corpus_turns(corpus)
    if len(turns) < 50:
        raise UserError(
            f"fluency corpus {corpus or 'bundled'}: {len(turns)} system turns; the fluency model needs at least 50 "
            "(give --fluency_corpus an SGD folder with a train split, or a samples JSONL with ground_truth replies)"
        )
    counted = [tokens for dialogue, tokens in turns if not held_out_of_counts(dialogue)]
    held_out = [tokens for dialogue, tokens in turns if held_out_of_counts(dialogue) and tokens]
    model = TrigramModel.counted(counted)
    statistics = sorted(reply_statistic(model.log_probabilities(tokens)) for tokens in held_out)
    digest = hashlib.sha256("\n".join(" ".join(t) for _, t in turns).encode()).hexdigest()[:16]
    return FluencyModel(
        model=model,
        lower=_quantile(statistics, LOWER_QUANTILE),
        upper=_quantile(statistics, UPPER_QUANTILE),
        corpus_digest=digest,
        turns=len(turns),
    )


def held_out_of_counts(dialogue_id: str) -> bool:
    """Every tenth dialogue is held out of the counts, to place the reference quantiles."""
    return int(hashlib.sha256(dialogue_id.encode()).hexdigest(), 16) % 10 == 0


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def corpus_turns(corpus: str | None) -> list[tuple[str, list[str]]]:
    """(dialogue id, delexicalised tokens) of every system turn of the corpus."""
    if corpus is None:
        from tracegym.traces.sgd import bundled_sgd_train_root

        return _sgd_turns(bundled_sgd_train_root())
    path = Path(corpus)
    if path.is_dir():
        return _sgd_turns(path)
    if path.is_file():
        return _sample_turns(path)
    raise UserError(
        f"--fluency_corpus {corpus}: no such file or folder; give an SGD folder (with train/) or a samples JSONL"
    )


def _sgd_turns(root: Path) -> list[tuple[str, list[str]]]:
    from tracegym.traces.sgd import iter_dialogues

    turns: list[tuple[str, list[str]]] = []
    for _path, _index, dialogue in iter_dialogues(root, "train"):
        for turn in dialogue["turns"]:
            if turn["speaker"] == "SYSTEM":
                turns.append((dialogue["dialogue_id"], delexicalised(turn["utterance"], _turn_values(turn))))
    return turns


def _turn_values(turn: Any) -> list[str]:
    utterance = turn["utterance"]
    values: list[str] = []
    for frame in turn["frames"]:
        values += [utterance[s["start"] : s["exclusive_end"]] for s in frame.get("slots", [])]
        values += [v for action in frame.get("actions", []) for v in action.get("values", [])]
        values += [str(v) for result in frame.get("service_results", []) for v in result.values()]
    return values


def _sample_turns(path: Path) -> list[tuple[str, list[str]]]:
    turns: list[tuple[str, list[str]]] = []
    for row in iter_jsonl(path):
        reply = row.get("ground_truth")
        if not isinstance(reply, str) or not reply.strip():
            continue
        values = [v for act in row.get("acts") or [] for v in act.get("values", [])]
        turns.append((str(row.get("dialogue_id") or row.get("id")), delexicalised(reply, values)))
    return turns


class FluencyJudge:
    """Scores how fluent a reply reads against the traces' own system turns; no reference acts needed, so it
    works on any traces, chat logs included, alone or in a mixture (`similarity+fluency`, `acts` uses it too)."""

    name = "fluency"
    version = VERSION

    def __init__(self, corpus: str | None = None) -> None:
        self.corpus = corpus
        self.model = fluency_model(corpus)
        self.fingerprint = fingerprint_of(self.name, version=VERSION, corpus=self.model.corpus_digest)

    @classmethod
    def from_settings(cls, settings: Any) -> FluencyJudge:
        return cls(getattr(settings, "fluency_corpus", None))

    async def score(self, samples: Sequence[Sample], responses: Sequence[str]) -> list[Verdict]:
        return verdicts_one_by_one(self.verdict, samples, responses)

    def verdict(self, sample: Sample, response: str) -> Verdict:
        statistic, score = self.model.reading(response or "", sample_values(sample))
        return Verdict(
            score=round(score, 4),
            reasoning=f"{score:.2f}: rarest words' mean log2-probability {statistic:.2f} "
            f"(references: {self.model.lower:.2f} at the {LOWER_QUANTILE:.1%} quantile, "
            f"{self.model.upper:.2f} at {UPPER_QUANTILE:.0%})",
            criteria={"fluency_statistic": round(statistic, 4) if math.isfinite(statistic) else -99.0},
        )
