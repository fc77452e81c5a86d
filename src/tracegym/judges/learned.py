"""The learned judge (`--judge learned`): the act judge, recalibrated by people's labels.

The act judge's rules are written one hole at a time, and each GRPO student finds new ones: on the replies of
students trained after a rule round was frozen, acts accepts about a quarter of what people reject. This judge
keeps the act judge's grounding and learns, from replies people labelled acceptable or not, how much to trust it:

    score = acts score × P(a person accepts the reply)

P is a logistic regression, fitted when the judge is built (about 20 s on 2 cores, no network, no weights shipped),
on the labelled replies and on REFERENCES SGD train references labelled acceptable (without them it learned its words
from student replies alone and rejected three in ten of SGD's own references), with features of each reply: the act judge's score and every criterion it counts (missing and ungrounded values, broken
text, repeated phrases, …), the fluency model's reading, and the word 1- to 3-grams of the reply with the sample's
values cut out (`<v>`) and numbers as `<n>`, kept when at least MIN_COUNT labelled replies hold them. The n-grams
are what a rule round would add by hand: "for <v> in <v>", "account of checking", "and where ?". Their weights are
held at or below 0, so no phrase can buy acceptance; the price is a lean towards short replies, since each n-gram a
reply adds can only lower P.

The labels default to the bundled agreement set (`data/agreement/items.jsonl`: replies of the demo's students to
dev and test turns of the bundled held-out split, each labelled blind by two or more people following
bench/agreement/GUIDELINES.md). Those turns are the demo's held-out turns, so this judge is a training reward only:
the demo's evaluation stays with the act judge and with people. `--judge_labels` takes another set in the same
form.

What it is worth, measured on the labels of students that came after the ones it was fitted on: bench/fit_learned.py
(BENCHMARKS.md, "learned judge"). As the demo's GRPO reward it made no better student than acts (same section).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from tracegym.errors import UserError
from tracegym.judges.acts import ActsJudge
from tracegym.judges.base import Verdict, fingerprint_of, verdicts_one_by_one
from tracegym.judges.fluency import delexicalised, fluency_model, sample_values
from tracegym.samples import Sample, iter_jsonl

VERSION = "learned-2"  # 2: SGD train references among the acceptable replies
MIN_COUNT = 2  # an n-gram held by one labelled reply would only memorise that reply
L2 = 1.0  # per labelled reply; set once before the first measurement, not tuned
NGRAM_SIZES = (1, 2, 3)
REFERENCES = 1000  # SGD train references added as acceptable replies (reference_replies)
BOS, EOS = "<s>", "</s>"


def default_labels() -> Path:
    return Path(str(files("tracegym") / "data" / "agreement" / "items.jsonl"))


@dataclass(frozen=True)
class Labelled:
    """One labelled reply with the sample it answers."""

    sample: Sample
    reply: str
    label: int


def reply_ngrams(reply: str, values: Sequence[str]) -> list[str]:
    """The reply's word 1- to 3-grams, values cut out, each once."""
    tokens = [BOS, *delexicalised(reply, values), EOS]
    grams = {" ".join(tokens[i : i + n]) for n in NGRAM_SIZES for i in range(len(tokens) - n + 1)}
    return sorted(grams - {BOS, EOS})


def numeric_features(acts: Verdict, fluency: tuple[float, float]) -> dict[str, float]:
    """The act judge's score and criteria and the fluency reading, on comparable scales."""
    score = acts.score or 0.0
    statistic, fluency_score = fluency
    features = {"acts": score, "acts_accepts": float(score >= 0.7), "fluency": fluency_score}
    features["fluency_statistic"] = max(statistic, -25.0) / 10 if math.isfinite(statistic) else -2.5
    features |= {f"acts.{name}": min(float(value), 5.0) for name, value in sorted(acts.criteria.items())}
    return features


@dataclass(frozen=True)
class LabelModel:
    """A fitted logistic regression: weights by feature name, the bias and what it was fitted on."""

    weights: dict[str, float]
    bias: float
    labels: int
    digest: str

    def probability(self, features: dict[str, float]) -> tuple[float, list[tuple[float, str]]]:
        """P(accept) and each feature's contribution to the logit."""
        contributions = [(self.weights[name] * value, name) for name, value in features.items() if name in self.weights]
        logit = self.bias + sum(c for c, _ in contributions)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, logit)))), contributions


def features_of(acts_judge: ActsJudge, sample: Sample, reply: str) -> tuple[Verdict, dict[str, float]]:
    """The act verdict and the feature values of one reply (n-grams as 1.0)."""
    verdict = acts_judge.verdict(sample, reply)
    values = sample_values(sample)
    features = numeric_features(verdict, fluency_model().reading(reply, values))
    features |= {f"ngram:{gram}": 1.0 for gram in reply_ngrams(reply, values)}
    return verdict, features


def fit(
    rows: Sequence[dict[str, float]], labels: Sequence[int], l2: float = L2, iterations: int = 3000
) -> tuple[dict[str, float], float]:
    """L2-regularised logistic regression (numpy; deterministic), n-gram weights held at or below 0: a phrase can
    count against a reply, never for it, so a policy cannot buy acceptance by saying certain words. n-grams that
    fewer than MIN_COUNT rows hold are left out."""
    counts = Counter(name for row in rows for name in row if name.startswith("ngram:"))
    names = sorted({name for row in rows for name in row if not name.startswith("ngram:") or counts[name] >= MIN_COUNT})
    column = {name: j for j, name in enumerate(names)}
    entries = [(i, column[name], value) for i, row in enumerate(rows) for name, value in row.items() if name in column]
    rows_a, cols_a = np.array([e[0] for e in entries]), np.array([e[1] for e in entries])
    data_a = np.array([e[2] for e in entries], dtype=np.float64)
    y = np.array(labels, dtype=np.float64)
    n, d = len(rows), len(names)
    capped = np.append(np.array([name.startswith("ngram:") for name in names]), False)

    def loss_and_gradient(theta: Any) -> tuple[float, Any]:
        w, b = theta[:d], theta[d]
        z = np.bincount(rows_a, weights=data_a * w[cols_a], minlength=n) + b
        residual = (1.0 / (1.0 + np.exp(-z)) - y) / n
        loss = float(np.mean(np.logaddexp(0.0, z) - y * z) + l2 * w @ w / n)
        gradient = np.bincount(cols_a, weights=data_a * residual[rows_a], minlength=d) + 2 * l2 * w / n
        return loss, np.append(gradient, residual.sum())

    def projected(theta: Any) -> Any:
        return np.where(capped, np.minimum(theta, 0.0), theta)

    theta = _projected_descent(loss_and_gradient, projected, np.zeros(d + 1), iterations)
    return {name: float(theta[j]) for name, j in column.items()}, float(theta[d])


def _projected_descent(loss_and_gradient: Any, projected: Any, theta: Any, iterations: int) -> Any:
    """Projected gradient descent with a backtracking (Armijo) step that grows again after each accepted step."""
    loss, gradient = loss_and_gradient(theta)
    step = 1.0
    for _ in range(iterations):
        while True:
            candidate = projected(theta - step * gradient)
            new_loss, new_gradient = loss_and_gradient(candidate)
            moved = candidate - theta
            if new_loss <= loss + gradient @ moved + moved @ moved / (2 * step) or step < 1e-12:
                break
            step /= 2
        converged = loss - new_loss < 1e-12
        theta, loss, gradient, step = candidate, new_loss, new_gradient, step * 2
        if converged:
            break
    return theta


def read_labels(path: Path) -> list[Labelled]:
    """The labelled replies of a set in the agreement set's form: split and sample_id of a turn of the bundled
    held-out split, the reply, and label 1 (acceptable) or 0."""
    from tracegym.traces.compile import samples_by_turn
    from tracegym.traces.sgd import bundled_sgd_heldout_root

    if not path.is_file():
        raise UserError(
            f"--judge_labels {path}: no such file; give a JSONL of labelled replies (bench/agreement/README.md)"
        )
    items = list(iter_jsonl(path))
    samples = samples_by_turn(bundled_sgd_heldout_root())
    labelled = []
    for number, item in enumerate(items, 1):
        key = (item.get("split"), item.get("sample_id"))
        if key not in samples or item.get("label") not in (0, 1) or not isinstance(item.get("reply"), str):
            raise UserError(
                f"--judge_labels {path}, line {number}: needs split (dev or test) and sample_id of a turn of the "
                'bundled held-out split, a string "reply" and "label" 0 or 1'
            )
        labelled.append(Labelled(samples[key], item["reply"], item["label"]))
    if len({item.label for item in labelled}) < 2:
        raise UserError(f"--judge_labels {path}: needs acceptable (1) and unacceptable (0) replies to learn from")
    return labelled


def reference_replies(number: int = REFERENCES) -> list[Labelled]:
    """`number` SGD references from the bundled train split, labelled acceptable: spread evenly over the dialogues
    the fluency model holds out of its counts (so their fluency reading is not in-sample). Without them every feature
    is learned from students' replies, and the judge rejects three in ten of SGD's own dev references."""
    from tracegym.judges.fluency import held_out_of_counts
    from tracegym.traces.compile import compile_sgd
    from tracegym.traces.sgd import bundled_sgd_train_root

    turns = [s for s in compile_sgd(bundled_sgd_train_root(), "train") if s.acts and held_out_of_counts(s.dialogue_id)]
    step = max(1, len(turns) // number)
    return [Labelled(sample, sample.ground_truth, 1) for sample in turns[::step][:number]]


@lru_cache(maxsize=2)  # fitting takes seconds; one model per label set per process
def label_model(path: str) -> LabelModel:
    """The model fitted on the labelled replies in `path` and on REFERENCES train references."""
    labelled = read_labels(Path(path)) + reference_replies()
    acts_judge = ActsJudge()
    rows = [features_of(acts_judge, item.sample, item.reply)[1] for item in labelled]
    weights, bias = fit(rows, [item.label for item in labelled])
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    return LabelModel(weights=weights, bias=bias, labels=len(labelled), digest=digest)


class LearnedJudge:
    """The act judge's score times the probability, learned from labelled replies, that a person accepts the reply."""

    name = "learned"
    version = VERSION

    def __init__(self, labels: str | None = None) -> None:
        self.acts = ActsJudge()
        self.model = label_model(str(labels or default_labels()))
        self.fingerprint = fingerprint_of(
            self.name,
            version=VERSION,
            acts=self.acts.fingerprint,
            labels=self.model.digest,
            references=REFERENCES,
            fluency=fluency_model().corpus_digest,
            l2=L2,
            min_count=MIN_COUNT,
        )

    @classmethod
    def from_settings(cls, settings: Any) -> LearnedJudge:
        return cls(getattr(settings, "judge_labels", None))

    async def score(self, samples: Sequence[Sample], responses: Sequence[str]) -> list[Verdict]:
        return verdicts_one_by_one(self.verdict, samples, responses)

    def verdict(self, sample: Sample, response: str) -> Verdict:
        acts, features = features_of(self.acts, sample, response or "")
        if acts.score is None:
            return acts
        probability, contributions = self.model.probability(features)
        score = round(acts.score * probability, 4)
        against = [
            name.removeprefix("ngram:")
            for c, name in sorted(contributions)[:3]
            if c < -0.5 and name.startswith("ngram:")
        ]
        reasoning = f"{score:.2f}: acts {acts.score:.2f} × P(a person accepts) {probability:.2f}"
        if against:
            reasoning += f"; words people rejected: {', '.join(repr(g) for g in against)}"
        return Verdict(
            score=score,
            reasoning=f"{reasoning} | acts: {acts.reasoning}",
            criteria={**acts.criteria, "p_accept": round(probability, 4)},
        )
