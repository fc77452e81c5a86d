"""`--judge similarity`: a reply scored by its similarity to the reference reply, with no model and no acts.

Every trace has a reference, the turn the real system said (`ground_truth`), chat logs included, so this is the
offline reward for traces that carry no SGD acts. `--similarity_metric` chooses the measure; `bleu` and `rouge_l`
are named as OpenAI's RFT `text_similarity` grader names its `evaluation_metric`:

    chrf     character n-gram F-score (sacrebleu's chrF2, the default, as `tracegym eval` reports it): forgiving
             of inflection and tokenisation, and works in any script
    bleu     sentence-level BLEU (sacrebleu's `sentence_bleu`: effective order and exponential smoothing, since a
             short reply has no 3- or 4-gram in common with its reference and plain BLEU would give it 0)
    rouge_l  ROUGE-L F1: the longest common subsequence of words, over the reply's and the reference's lengths

Each is in [0, 1] (sacrebleu counts to 100). A reply identical to the reference scores 1.0 and an empty one 0.0;
a sample whose reference is empty is a failure (score None): with nothing to compare, 0 would be a lie.

Similarity rewards the reference's wording, not its meaning: a correct reply worded differently scores low and a
reference with a wrong value scores high (SGD dev references with their digits deleted keep a mean chrF of 0.86;
`tracegym audit` passes 74% of its swapped-value replies). Use it where nothing else fits, or beside a judge of
content: `--judge similarity+acts --judge_weights 0.5,0.5` (2% of swapped values pass).

ROUGE-L is computed here rather than through Google's `rouge-score`: that package has had no release since 2022,
brings nltk, absl-py and numpy for one dynamic programme, and its tokenizer keeps only ASCII [a-z0-9], so a reply in
any other script has no words at all. The words here are rouge-score's on ASCII text (lower-cased runs of letters
and digits, without stemming, its default) and runs of Unicode letters and digits elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from tracegym.errors import UserError
from tracegym.judges.base import Verdict, fingerprint_of, verdicts_one_by_one
from tracegym.samples import Sample

METRICS = ("chrf", "bleu", "rouge_l")
VERSION = 1  # bump when the scoring here changes, so cached verdicts of the old scoring are not reused
ROUGE_L_SIGNATURE = "words:lower-alnum|stem:no|f1"
WORD = re.compile(r"[^\W_]+")

Measure = Callable[[str, str], float]


class SimilarityJudge:
    """Scores a reply by `metric` against the sample's `ground_truth`; pure CPU, deterministic."""

    name = "similarity"

    def __init__(self, metric: str = "chrf") -> None:
        self.metric = metric
        self.measure, signature = measure_of(metric)
        self.fingerprint = fingerprint_of(self.name, version=VERSION, metric=metric, signature=signature)

    def __repr__(self) -> str:
        return f"SimilarityJudge(metric={self.metric!r}, fingerprint={self.fingerprint!r})"

    @classmethod
    def from_settings(cls, settings: Any) -> SimilarityJudge:
        return cls(settings.similarity_metric)

    async def score(self, samples: Sequence[Sample], responses: Sequence[str]) -> list[Verdict]:
        return verdicts_one_by_one(self.verdict, samples, responses)

    def verdict(self, sample: Sample, response: str) -> Verdict:
        reference = (sample.ground_truth or "").strip()
        if not reference:
            return Verdict.failure(
                f"sample {sample.id}: empty ground_truth; the similarity judge needs a reference reply to compare with"
            )
        reply = (response or "").strip()
        score = similarity(self.measure, reply, reference)
        return Verdict(
            score=score, reasoning=f"{self.metric} {score:.3f} against the reference", criteria={self.metric: score}
        )


def similarity(measure: Measure, reply: str, reference: str) -> float:
    """`measure` in [0, 1], with the two ends fixed whatever the metric's tokens: an empty reply scores 0 and the
    reference itself 1 (ROUGE-L finds no words in "👍" or "?!")."""
    if not reply:
        return 0.0
    if reply == reference:
        return 1.0
    return min(1.0, max(0.0, measure(reply, reference)))


def measure_of(metric: str) -> tuple[Measure, str]:
    """The function that scores (reply, reference) for `metric`, and a signature of its settings and version
    (sacrebleu's own), which goes into the fingerprint."""
    if metric not in METRICS:
        raise UserError(f"--similarity_metric {metric!r}: choose one of {', '.join(METRICS)}")
    if metric == "rouge_l":
        return rouge_l_f1, ROUGE_L_SIGNATURE
    try:
        from sacrebleu.metrics import BLEU, CHRF
    except ImportError:
        raise UserError(
            f"the similarity judge's {metric} needs the package 'sacrebleu'; install it with "
            "`pip install 'tracegym[eval]'` (or use --similarity_metric rouge_l, which needs nothing)"
        ) from None
    scorer = CHRF() if metric == "chrf" else BLEU(effective_order=True)

    def measure(reply: str, reference: str) -> float:
        return scorer.sentence_score(reply, [reference]).score / 100.0

    scorer.sentence_score("a", ["a"])  # sacrebleu's signature needs the number of references, known after a score
    return measure, str(scorer.get_signature())


def rouge_l_f1(reply: str, reference: str) -> float:
    """ROUGE-L F1 over words: the longest common subsequence against both lengths, 0 when either has no words."""
    candidate, target = words(reply), words(reference)
    common = lcs_length(candidate, target) if candidate and target else 0
    if not common:
        return 0.0
    precision, recall = common / len(candidate), common / len(target)
    return 2 * precision * recall / (precision + recall)


def words(text: str) -> list[str]:
    """Lower-cased runs of letters and digits: "Don't, 3:30pm!" → ["don", "t", "3", "30pm"]."""
    return WORD.findall(text.lower())


def lcs_length(first: Sequence[str], second: Sequence[str]) -> int:
    """The length of the longest common subsequence, in O(len(first) × len(second)) time and O(len(second)) space."""
    previous = [0] * (len(second) + 1)
    for item in first:
        current = [0]
        for j, other in enumerate(second):
            current.append(previous[j] + 1 if item == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]
