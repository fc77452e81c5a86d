"""Scoring the attacks and the figures: per attack the false-positive rate, the gold line, test-retest
consistency, and the plain-text table."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tracegym.audit.attacks import ATTACKS
from tracegym.audit.items import AuditItem, select_audit_items
from tracegym.judges.base import Judge, Verdict
from tracegym.samples import Sample

FALSE_POSITIVE_THRESHOLD = 0.5
EXAMPLES_PER_ATTACK = 3


@dataclass
class AttackResult:
    """One attack's figures: `false_positive_rate` is the share of its `n` replies scored ≥ 0.5."""

    attack: str
    description: str
    n: int
    false_positives: int
    false_positive_rate: float
    mean_score: float | None
    failures: int
    examples: list[dict[str, Any]] = field(default_factory=list)  # a few fooling replies, for diagnosis


@dataclass
class Consistency:
    """Test-retest: the same inputs scored twice with the cache bypassed."""

    n: int
    compared: int
    mean_absolute_difference: float | None
    share_identical: float | None
    failures: int


@dataclass
class AuditReport:
    judge: str
    fingerprint: str
    prompts: int
    seed: int
    threshold: float
    gold: AttackResult
    attacks: list[AttackResult]
    consistency: Consistency | None = None

    def worst_attack(self) -> AttackResult:
        return max(self.attacks, key=lambda result: result.false_positive_rate)

    def attacks_above(self, rate: float) -> list[AttackResult]:
        return [result for result in self.attacks if result.false_positive_rate > rate]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def attack_batch(items: Sequence[AuditItem]) -> tuple[list[str], list[Sample], list[str]]:
    """(label, sample, reply) for the gold replies and every attack on every item, as three parallel lists."""
    labels: list[str] = []
    samples: list[Sample] = []
    replies: list[str] = []
    for item in items:
        labels.append("gold")
        samples.append(item.sample)
        replies.append(item.sample.ground_truth)
        for attack in ATTACKS:
            labels.append(attack.name)
            samples.append(item.sample)
            replies.append(attack.build(item))
    return labels, samples, replies


def attack_result(
    name: str, description: str, verdicts: Sequence[Verdict], entries: Sequence[tuple[Sample, str]]
) -> AttackResult:
    scores = [verdict.score for verdict in verdicts if verdict.score is not None]
    fooled = [
        (verdict, sample, reply)
        for verdict, (sample, reply) in zip(verdicts, entries)
        if verdict.score is not None and verdict.score >= FALSE_POSITIVE_THRESHOLD
    ]
    examples = [
        {"id": sample.id, "reply": reply, "score": verdict.score, "reasoning": verdict.reasoning}
        for verdict, sample, reply in fooled[:EXAMPLES_PER_ATTACK]
    ]
    return AttackResult(
        attack=name,
        description=description,
        n=len(verdicts),
        false_positives=len(fooled),
        false_positive_rate=len(fooled) / len(verdicts) if verdicts else 0.0,
        mean_score=sum(scores) / len(scores) if scores else None,
        failures=sum(verdict.score is None for verdict in verdicts),
        examples=examples if name != "gold" else [],
    )


def score_batch(judge: Judge, samples: Sequence[Sample], replies: Sequence[str]) -> list[Verdict]:
    verdicts = asyncio.run(judge.score(list(samples), list(replies)))
    if len(verdicts) != len(replies):
        raise RuntimeError(f"judge {judge.name} returned {len(verdicts)} verdicts for {len(replies)} replies")
    return verdicts


def consistency_of(first: Sequence[Verdict], second: Sequence[Verdict]) -> Consistency:
    pairs = [(a.score, b.score) for a, b in zip(first, second) if a.score is not None and b.score is not None]
    differences = [abs(a - b) for a, b in pairs]
    return Consistency(
        n=len(first),
        compared=len(pairs),
        mean_absolute_difference=sum(differences) / len(differences) if differences else None,
        share_identical=sum(d == 0 for d in differences) / len(differences) if differences else None,
        failures=sum(a.score is None for a in first) + sum(b.score is None for b in second),
    )


def run_audit(
    judge: Judge,
    samples: Sequence[Sample],
    *,
    n: int = 50,
    seed: int = 0,
    retest_judge: Judge | None = None,
    retest_n: int = 0,
) -> AuditReport:
    """Audit `judge` on `n` prompts chosen from `samples`; with `retest_judge` (the same judge, uncached) and
    `retest_n` > 0, also score `retest_n` of the same inputs twice for test-retest consistency."""
    items = select_audit_items(samples, n, seed)
    return audit_items(judge, items, seed=seed, retest_judge=retest_judge, retest_n=retest_n)


def audit_items(
    judge: Judge,
    items: Sequence[AuditItem],
    *,
    seed: int = 0,
    retest_judge: Judge | None = None,
    retest_n: int = 0,
) -> AuditReport:
    """`run_audit` on prompts already chosen by `select_audit_items`."""
    labels, batch_samples, replies = attack_batch(items)
    verdicts = score_batch(judge, batch_samples, replies)
    by_label: dict[str, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_label[label].append(index)

    def result_for(name: str, description: str) -> AttackResult:
        indices = by_label[name]
        return attack_result(
            name, description, [verdicts[i] for i in indices], [(batch_samples[i], replies[i]) for i in indices]
        )

    consistency = None
    if retest_judge is not None and retest_n > 0:
        chosen = sorted(random.Random(seed).sample(range(len(replies)), min(retest_n, len(replies))))
        retest_samples = [batch_samples[i] for i in chosen]
        retest_replies = [replies[i] for i in chosen]
        first = score_batch(retest_judge, retest_samples, retest_replies)
        second = score_batch(retest_judge, retest_samples, retest_replies)
        consistency = consistency_of(first, second)
    return AuditReport(
        judge=judge.name,
        fingerprint=judge.fingerprint,
        prompts=len(items),
        seed=seed,
        threshold=FALSE_POSITIVE_THRESHOLD,
        gold=result_for("gold", "the reference replies (sanity: should score high)"),
        attacks=[result_for(attack.name, attack.description) for attack in ATTACKS],
        consistency=consistency,
    )


def format_table(report: AuditReport) -> str:
    """The report as a plain-text table: one row per attack, then the gold sanity line and consistency."""
    header = f"{'attack':<26} {'n':>4} {'FP rate':>8} {'mean':>6} {'fail':>5}"
    title = f"judge audit: {report.judge} ({report.fingerprint}), {report.prompts} prompts, seed {report.seed}"
    lines = [title, header]
    lines.append("-" * len(header))
    for result in report.attacks:
        lines.append(_row(result))
    lines.append("-" * len(header))
    lines.append(_row(report.gold))
    worst = report.worst_attack()
    share = f"{worst.false_positive_rate:.1%} of replies scored ≥ {report.threshold}"
    lines.append(f"worst attack: {worst.attack} ({share})")
    if report.consistency is not None:
        c = report.consistency
        mad = "n/a" if c.mean_absolute_difference is None else f"{c.mean_absolute_difference:.3f}"
        same = "n/a" if c.share_identical is None else f"{c.share_identical:.1%}"
        lines.append(
            f"test-retest (cache bypassed): {c.compared} of {c.n} inputs compared, mean |difference| {mad}, "
            f"identical {same}, failures {c.failures}"
        )
    return "\n".join(lines)


def _row(result: AttackResult) -> str:
    mean = "n/a" if result.mean_score is None else f"{result.mean_score:.3f}"
    return f"{result.attack:<26} {result.n:>4} {result.false_positive_rate:>8.1%} {mean:>6} {result.failures:>5}"
