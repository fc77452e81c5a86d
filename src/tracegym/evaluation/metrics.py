"""Independent signals: figures that do not come from the judge, so a student that games the judge shows up.

- chrF against the reference (sacrebleu), per reply and for the corpus.
- Slot error rate as Kale & Rastogi (2020, "Template Guided Text Generation for Task-Oriented Dialogue", T2G2)
  define it for SGD: a reply is wrong when any value of a non-categorical slot in its acts is not a lowercase
  substring of the reply. Only replies whose acts hold such values count.
  Which slots are categorical comes from the schema in the sample's system message (DESIGN.md §4): a slot is
  categorical when the schema line that declares it lists possible values. Slots that are not schema slots
  (`intent`, `count`) and slots the system message does not declare (chat traces) are left out.
- Typed act-value recall and hallucinated values, from the act judge (`tracegym.judges.acts`).
- Reply length in words.
- Broken text: a stray punctuation mark (" .") or a dangling last word ("… at 10 at"), the act judge's rule
  (`acts-4`); with another judge it is independent of it, with the act judge it shows what that penalty let through.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tracegym.samples import Sample

NOT_SCHEMA_SLOTS = frozenset({"", "intent", "count"})
# How the schema in the system message lists a categorical slot's values (traces/render.py: "(possible values: a, b)").
POSSIBLE_VALUES_PATTERN = re.compile(r"\(possible values:", re.IGNORECASE)


def chrf(reply: str, reference: str) -> float:
    """Sentence chrF (0-100) of `reply` against `reference`."""
    from sacrebleu.metrics import CHRF

    return float(CHRF().sentence_score(reply, [reference]).score)


def corpus_chrf(replies: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF (0-100): character n-gram statistics pooled over all replies before the F-score."""
    from sacrebleu.metrics import CHRF

    if not replies:
        return float("nan")
    return float(CHRF().corpus_score(list(replies), [list(references)]).score)


def reply_length_words(reply: str) -> int:
    return len(reply.split())


def system_text(sample: Sample) -> str:
    """The sample's system message (its schema and service results), or "" when it has none."""
    for message in sample.messages:
        if message.get("role") == "system":
            return message.get("content", "")
    return ""


def slot_is_categorical(slot: str, schema_text: str) -> bool | None:
    """True / False from the schema line that declares `slot` (`- slot: description (possible values: a, b)`,
    as `tracegym prepare` writes it); None when no line declares it."""
    declaration = re.compile(rf"^\s*-\s*{re.escape(slot)}\s*:(.*)$", re.MULTILINE)
    found = declaration.search(schema_text)
    if found is None:
        return None
    return POSSIBLE_VALUES_PATTERN.search(found.group(1)) is not None


def non_categorical_values(sample: Sample) -> list[str]:
    """The values of the non-categorical slots in the sample's acts: what a T2G2-correct reply must contain."""
    schema_text = system_text(sample)
    values: list[str] = []
    for act in sample.acts:
        slot = str(act.get("slot") or "")
        if slot in NOT_SCHEMA_SLOTS or slot_is_categorical(slot, schema_text) is not False:
            continue
        values.extend(str(value) for value in act.get("values") or [] if str(value).strip())
    return values


def slot_error(sample: Sample, reply: str) -> float | None:
    """1.0 when a non-categorical slot value of the acts is missing from the reply (lowercase substring), else
    0.0; None when the acts hold no such value (the example does not count)."""
    values = non_categorical_values(sample)
    if not values:
        return None
    lowered = reply.lower()
    return 0.0 if all(value.lower() in lowered for value in values) else 1.0


def act_types(sample: Sample) -> list[str]:
    """The distinct act types of the sample's reference turn, in order (`INFORM`, `REQUEST`, ...)."""
    seen: list[str] = []
    for act in sample.acts:
        name = str(act.get("act") or "")
        if name and name not in seen:
            seen.append(name)
    return seen


@dataclass(frozen=True)
class ReplyMetrics:
    """Every independent signal for one reply. None: the signal does not apply to this sample."""

    chrf: float
    slot_error: float | None
    act_value_recall: float | None
    hallucinated_values: list[str] | None
    length_words: int
    broken_text: float | None = None  # 1.0 when the reply has a stray punctuation mark or a dangling last word

    @property
    def hallucinated(self) -> float | None:
        """1.0 when the reply states at least one value that is in neither the context nor the acts."""
        if self.hallucinated_values is None:
            return None
        return 1.0 if self.hallucinated_values else 0.0

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["hallucinated"] = self.hallucinated
        return row


def reply_metrics(sample: Sample, reply: str) -> ReplyMetrics:
    recall, hallucinated = _act_signals(sample, reply)
    return ReplyMetrics(
        chrf=chrf(reply, sample.ground_truth),
        slot_error=slot_error(sample, reply),
        act_value_recall=recall,
        hallucinated_values=hallucinated,
        length_words=reply_length_words(reply),
        broken_text=broken_text(reply),
    )


def broken_text(reply: str) -> float:
    """1.0 when the reply has a stray punctuation mark or stops on a word no sentence ends with, else 0.0."""
    from tracegym.judges.acts import broken_text_marks

    return 1.0 if broken_text_marks(reply) else 0.0


def _act_signals(sample: Sample, reply: str) -> tuple[float | None, list[str] | None]:
    """Typed act-value recall and hallucinated values from the act judge; (None, None) without acts."""
    if not sample.acts:
        return None, None
    from tracegym.judges.acts import act_value_recall, hallucinated_values

    return act_value_recall(sample, reply), list(hallucinated_values(sample, reply))
