"""The act judge's score: credit for the reference values and act cues, less the penalties, times the factors
(module docstring of `tracegym.judges.acts`), with the verdict's criteria and reasoning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tracegym.judges.acts.domain import domain_lexicon
from tracegym.judges.acts.form import (
    asks_wrong_kind,
    grammar_slips,
    minor_slips,
    mislabelled_values,
    noise_runs,
    raw_booleans,
    repeats,
    requests_of_unasked_kind,
    stray_ordinals,
    unplanned_req_more,
    wrong_prepositions,
)
from tracegym.judges.acts.lexicon import (
    FAILURE_CUES,
    GOODBYE_CUES,
    GRADER_ADDRESSING,
    REQ_MORE_CUES,
    STRONG_FAILURE_CUES,
    SUCCESS_CUES,
    WORD,
)
from tracegym.judges.acts.reference import (
    context_entities,
    last_user_turn,
    reference_values,
    required_slots,
    slot_candidates,
    value_items,
)
from tracegym.judges.acts.reply import (
    broken_text_marks,
    context_values_stated,
    hallucinated_in,
    hedges,
    list_shaped,
    offers_intent,
    repetition_factor,
    request_options_named,
    requested_slots,
    restates,
    stated_value,
    value_repeats,
    without_values,
    wrong_offers,
)
from tracegym.judges.base import Verdict, fingerprint_of, source_digest, verdicts_one_by_one
from tracegym.judges.values import ReplyIndex
from tracegym.placeholders import UNFILLED_PLACEHOLDER
from tracegym.samples import Sample


@dataclass(frozen=True)
class ActsWeights:
    """Every number that shapes the act judge's score; all of them are part of its fingerprint."""

    value: float = 1.0
    cue: float = 0.4
    missing_or_hallucinated: float = 0.15
    wrong_offer: float = 0.3
    over_informing: float = 0.1
    over_informing_free: int = 2
    off_target_request: float = 0.1
    wrong_polarity: float = 0.3
    hedge: float = 0.3
    unfilled_placeholder: float = 0.3
    value_repeat_factor: float = 0.7  # × for each mention of a value beyond its second
    broken_text_factor: float = 0.7  # × for each stray punctuation mark, and for a reply that stops mid-phrase
    list_shape_factor: float = 0.4
    length_slack_words: int = 15
    length_ratio: float = 2.5
    copy_threshold: float = 0.6
    copy_factor: float = 0.2
    # acts-5: the form of the reply (bench/agreement: what people reject that acts-4 scored ≥ 0.7)
    foreign_word_factor: float = 0.3  # × for each word of another service's domain
    repeated_word_factor: float = 0.3  # × for each word said twice in a row
    repeated_phrase_factor: float = 0.4  # × for each phrase said twice in a row
    grammar_slip_factor: float = 0.3  # × for each kind of grammar slip
    minor_slip_factor: float = 0.9  # × for each kind of slip people let pass once ("a appointment"): acts-6
    mislabelled_value_factor: float = 0.3  # × for each value said as another slot's ("the phone number is <address>")
    unplanned_req_more_factor: float = 0.4  # an "anything else?" no REQ_MORE act asked for
    request_missed_factor: float = 0.3  # a requested slot the reply does not ask for
    wrong_kind_question_factor: float = 0.3  # every question asks for a kind no requested slot takes
    wrong_preposition_factor: float = 0.8  # × for each time after "on"/"in", each date after "at": acts-12
    # acts-13: × once for a reply that states a value nothing grounds or misses one, on top of the penalty the two
    # share (the same for both, so dropping values never pays; once, as "the 14th" is two candidate dates). People
    # rejected all 33 agreement-set replies stating such a value; at −0.15 alone "moderate is the 14th." scored 0.7.
    value_error_factor: float = 0.5


@dataclass
class Assessment:
    """Everything the judge found in one reply; the verdict's criteria and reasoning come from it."""

    value_total: float = 0.0
    value_matched: float = 0.0
    cue_total: float = 0.0
    cue_matched: float = 0.0
    missing: list[str] | None = None
    hallucinated: list[str] | None = None
    wrong_offers: list[str] | None = None
    over_informed: int = 0
    hedged: list[str] | None = None
    list_shaped: bool = False
    off_target_requests: list[str] | None = None
    wrong_polarity: bool = False
    length_factor: float = 1.0
    repetition_factor: float = 1.0
    copy_factor: float = 1.0
    addresses_grader: bool = False
    unfilled_placeholders: int = 0
    broken_text: int = 0
    foreign_words: list[str] | None = None
    repeated_words: int = 0
    repeated_phrases: int = 0
    grammar_slips: list[str] | None = None
    minor_slips: list[str] | None = None
    mislabelled_values: list[str] | None = None
    unplanned_req_more: bool = False
    requests_missed: list[str] | None = None
    wrong_kind_question: bool = False
    wrong_prepositions: list[str] | None = None


def assess(sample: Sample, reply: str, weights: ActsWeights) -> Assessment:
    index = ReplyIndex.of(reply)
    found = Assessment(missing=[], hallucinated=[], wrong_offers=[], off_target_requests=[], hedged=[])
    items = value_items(sample)
    user_turn = last_user_turn(sample)
    candidates = slot_candidates(sample)
    reference = reference_values(sample)
    for item in items:
        found.value_total += weights.value
        if not stated_value(index, item, user_turn):
            found.missing.append(f"{item.slot}={item.canonical}")
        elif hedges(index, item, candidates.get(item.slot, set()), reference):
            found.hedged.append(f"{item.slot}={item.canonical}")
        else:
            found.value_matched += weights.value
    assess_cues(sample, reply, index, found, weights)
    found.hallucinated = hallucinated_in(sample, index)
    found.wrong_offers = wrong_offers(sample, index, items)
    found.over_informed = max(len(found.hallucinated), len(context_values_stated(sample, index)))
    gold_words = len(WORD.findall(sample.ground_truth or ""))
    reply_words = len(WORD.findall(reply.lower()))
    limit = max(gold_words * weights.length_ratio, gold_words + weights.length_slack_words)
    found.length_factor = min(1.0, limit / reply_words) if reply_words else 1.0
    found.repetition_factor = repetition_factor(reply) * weights.value_repeat_factor ** value_repeats(reply, items)
    found.list_shaped = list_shaped(without_values(reply, reference))
    if restates(reply, last_user_turn(sample), weights.copy_threshold):
        found.copy_factor = weights.copy_factor
    found.addresses_grader = bool(GRADER_ADDRESSING.search(reply))
    found.unfilled_placeholders = len(UNFILLED_PLACEHOLDER.findall(reply))
    found.broken_text = broken_text_marks(reply)
    found.foreign_words = domain_lexicon().foreign_words(sample, reply)
    repeated = repeats(reply)
    found.repeated_words, found.repeated_phrases = repeated.words, repeated.phrases
    found.grammar_slips = (
        grammar_slips(reply) + noise_runs(sample, reply) + raw_booleans(sample, reply) + stray_ordinals(sample, reply)
    )
    found.minor_slips = minor_slips(reply)
    found.mislabelled_values = mislabelled_values(sample, reply)
    found.unplanned_req_more = unplanned_req_more(sample, reply)
    found.wrong_kind_question = asks_wrong_kind(sample, reply)
    found.wrong_prepositions = wrong_prepositions(sample, reply)
    return found


def assess_cues(sample: Sample, reply: str, index: ReplyIndex, found: Assessment, weights: ActsWeights) -> None:
    lowered = index.lowered
    kinds = [act.act for act in sample.acts]
    requested = [act.slot for act in sample.acts if act.act == "REQUEST" and act.slot]
    if requested:
        acceptable = required_slots(sample) | set(requested)
        all_slots = acceptable | set(context_entities(sample))
        schema_slots = {slot.name for slot in sample.schema.slots} if sample.schema else set()
        offered = [v for act in sample.acts if act.act in ("OFFER", "CONFIRM") for v in act.values]
        # requested_slots decides each candidate slot on its own, so one call over the schema's slots too gives
        # both what is asked among the slots in play and whether a requested slot is asked at all.
        asked_any = requested_slots(reply, all_slots | schema_slots, offered, set(requested)) | request_options_named(
            index, sample
        )
        asked = asked_any & all_slots
        right = asked & set(requested)
        also_fine = (asked & acceptable) - set(requested)
        found.cue_total += weights.cue * len(requested)
        found.cue_matched += weights.cue * min(len(requested), len(right) + len(also_fine))
        found.off_target_requests = sorted(asked - acceptable)
        found.requests_missed = sorted((set(requested) - asked_any) | set(requests_of_unasked_kind(sample, reply)))
    strong_failure = bool(STRONG_FAILURE_CUES.search(lowered))
    if "NOTIFY_SUCCESS" in kinds:
        found.cue_total += weights.cue
        if SUCCESS_CUES.search(lowered) and not strong_failure:
            found.cue_matched += weights.cue
        found.wrong_polarity = strong_failure
    if "NOTIFY_FAILURE" in kinds:
        found.cue_total += weights.cue
        if FAILURE_CUES.search(lowered):
            found.cue_matched += weights.cue
        else:
            found.wrong_polarity = bool(SUCCESS_CUES.search(lowered))
    for act, pattern in (("REQ_MORE", REQ_MORE_CUES), ("GOODBYE", GOODBYE_CUES)):
        if act in kinds:
            found.cue_total += weights.cue
            if pattern.search(lowered):
                found.cue_matched += weights.cue
    if "OFFER_INTENT" in kinds:
        found.cue_total += weights.cue
        if offers_intent(lowered, sample):
            found.cue_matched += weights.cue


def final_score(found: Assessment, weights: ActsWeights) -> float:
    if found.addresses_grader:
        return 0.0
    total = found.value_total + found.cue_total
    credit = (found.value_matched + found.cue_matched) / total if total else 0.0
    penalty = weights.missing_or_hallucinated * max(len(found.missing or []), len(found.hallucinated or []))
    penalty += weights.wrong_offer * len(found.wrong_offers or [])
    penalty += weights.over_informing * max(0, found.over_informed - weights.over_informing_free)
    penalty += weights.off_target_request * len(found.off_target_requests or [])
    penalty += weights.wrong_polarity * found.wrong_polarity
    penalty += weights.hedge * len(found.hedged or [])
    penalty += weights.unfilled_placeholder * found.unfilled_placeholders
    score = max(0.0, credit - penalty) * form_factor(found, weights)
    score *= weights.mislabelled_value_factor ** len(found.mislabelled_values or [])
    score *= weights.wrong_preposition_factor ** len(found.wrong_prepositions or [])
    if found.hallucinated or found.missing:
        score *= weights.value_error_factor
    if found.unplanned_req_more:
        score *= weights.unplanned_req_more_factor
    if found.requests_missed:
        score *= weights.request_missed_factor
    if found.wrong_kind_question:
        score *= weights.wrong_kind_question_factor
    return round(min(1.0, max(0.0, score)), 4)


def form_factor(found: Assessment, weights: ActsWeights) -> float:
    """The factors of the score that read the reply's form, not what it says: length, repeats, copying, list shape,
    broken text, other domains' words, grammar. 1 for a reply that reads well, whatever its content."""
    factor = found.length_factor * found.repetition_factor * found.copy_factor
    if found.list_shaped:
        factor *= weights.list_shape_factor
    factor *= weights.broken_text_factor**found.broken_text
    factor *= weights.foreign_word_factor ** len(found.foreign_words or [])
    factor *= weights.repeated_word_factor**found.repeated_words
    factor *= weights.repeated_phrase_factor**found.repeated_phrases
    factor *= weights.grammar_slip_factor ** len(found.grammar_slips or [])
    factor *= weights.minor_slip_factor ** len(found.minor_slips or [])
    return factor


def criteria_of(found: Assessment, weights: ActsWeights) -> dict[str, float]:
    return {
        "value_credit": found.value_matched / found.value_total if found.value_total else 1.0,
        "act_cues": found.cue_matched / found.cue_total if found.cue_total else 1.0,
        "missing_values": float(len(found.missing or [])),
        "hallucinated_values": float(len(found.hallucinated or [])),
        "wrong_offers": float(len(found.wrong_offers or [])),
        "off_target_requests": float(len(found.off_target_requests or [])),
        "wrong_polarity": float(found.wrong_polarity),
        "hedged_values": float(len(found.hedged or [])),
        "list_shaped": float(found.list_shaped),
        "length_factor": round(found.length_factor, 4),
        "repetition_factor": round(found.repetition_factor, 4),
        "copy_factor": found.copy_factor,
        "addresses_grader": float(found.addresses_grader),
        "unfilled_placeholders": float(found.unfilled_placeholders),
        "broken_text": float(found.broken_text),
        "foreign_words": float(len(found.foreign_words or [])),
        "repeated_words": float(found.repeated_words),
        "repeated_phrases": float(found.repeated_phrases),
        "grammar_slips": float(len(found.grammar_slips or [])),
        "minor_slips": float(len(found.minor_slips or [])),
        "mislabelled_values": float(len(found.mislabelled_values or [])),
        "unplanned_req_more": float(found.unplanned_req_more),
        "requests_missed": float(len(found.requests_missed or [])),
        "wrong_kind_question": float(found.wrong_kind_question),
        "wrong_prepositions": float(len(found.wrong_prepositions or [])),
    }


def explain(found: Assessment, score: float) -> str:
    parts = [f"values {found.value_matched:g}/{found.value_total:g}", f"cues {found.cue_matched:g}/{found.cue_total:g}"]
    if found.missing:
        parts.append("missing " + ", ".join(found.missing[:4]))
    if found.hallucinated:
        parts.append("not grounded " + ", ".join(found.hallucinated[:4]))
    if found.wrong_offers:
        parts.append("wrong offer " + ", ".join(found.wrong_offers[:2]))
    if found.off_target_requests:
        parts.append("asks for " + ", ".join(found.off_target_requests[:3]))
    if found.wrong_polarity:
        parts.append("success/failure polarity flipped")
    if found.hedged:
        parts.append("hedged between candidates for " + ", ".join(found.hedged[:3]))
    if found.list_shaped:
        parts.append("a list of values, not a reply")
    if found.length_factor < 1:
        parts.append("too long")
    if found.repetition_factor < 1:
        parts.append("repetitive")
    if found.copy_factor < 1:
        parts.append("copies the user's turn")
    if found.unfilled_placeholders:
        parts.append(f"{found.unfilled_placeholders} unfilled placeholder(s)")
    if found.broken_text:
        parts.append(f"broken text ({found.broken_text}: stray punctuation or a dangling last word)")
    if found.foreign_words:
        parts.append("words of another domain: " + ", ".join(found.foreign_words[:3]))
    if found.repeated_words or found.repeated_phrases:
        parts.append(f"said twice in a row ({found.repeated_words} words, {found.repeated_phrases} phrases)")
    if found.grammar_slips:
        parts.append("grammar: " + "; ".join(found.grammar_slips[:2]))
    if found.minor_slips:
        parts.append("small slip: " + "; ".join(found.minor_slips))
    if found.mislabelled_values:
        parts.append("value said as another slot's: " + "; ".join(found.mislabelled_values[:2]))
    if found.wrong_prepositions:
        parts.append("wrong preposition: " + "; ".join(found.wrong_prepositions[:2]))
    if found.unplanned_req_more:
        parts.append('an "anything else?" no act asked for')
    if found.requests_missed:
        parts.append("does not ask for " + ", ".join(found.requests_missed[:3]))
    if found.wrong_kind_question:
        parts.append("asks for the wrong kind of answer")
    if found.addresses_grader:
        parts.append("addresses the grader")
    return f"{score:.2f}: " + "; ".join(parts)


# --- the judge's own view of two evaluation figures (bench/acts_gold.py; evaluation/metrics.py has its own) ------


def act_value_recall(sample: Sample, reply: str) -> float | None:
    """Share of the reference INFORM / OFFER / CONFIRM / INFORM_COUNT values the reply states (typed matching);
    None when the turn has no such value."""
    items = value_items(sample)
    if not items:
        return None
    index = ReplyIndex.of(reply or "")
    user_turn = last_user_turn(sample)
    return sum(1 for item in items if stated_value(index, item, user_turn)) / len(items)


def hallucinated_values(sample: Sample, reply: str) -> list[str]:
    """Typed values (times, dates, numbers, money) and result/schema entities the reply states that are in no
    reference act and not in the dialogue history."""
    return hallucinated_in(sample, ReplyIndex.of(reply or ""))


# acts-11: a bare number with no word of its role ("It's in 6.9?"); "True"/"False" pasted in. acts-12: an ordinal of
# no day ("It's in 1st."), a count followed by another value ("I found 8 $46"), a time after "on", a date after "at".
# acts-13: a value nothing grounds costs a factor too ("What date would you like the appointment on 110?"). acts-14: a
# hedge between the label and the value hides no longer ("The humidity is around 5 miles per hour." for the wind).
# acts-15: a requested place, date, time, count or kind that no part of the questions asks for is missed ("When do
# you want to pick it up and when will you return it?" for the pickup city too). acts-16: a date or time followed
# by a count, money followed by transfers or passengers ("a table for 1 for today people", "has $24 transfers").
VERSION = "acts-16"


def rule_files() -> list[Path]:
    """What the act judge's verdicts depend on besides VERSION and the weights: its own code (this package and the
    typed values it matches, the placeholders it counts as unfilled) and the bundled train split its domain words are
    learned from (domain.py)."""
    from tracegym import placeholders
    from tracegym.judges import values
    from tracegym.traces.sgd import bundled_sgd_train_root

    words_from = sorted(path for path in (bundled_sgd_train_root() / "train").iterdir() if path.is_file())
    code = [Path(values.__file__), Path(placeholders.__file__)]
    return sorted(Path(__file__).parent.glob("*.py")) + code + words_from


class ActsJudge:
    """Scores a reply against the reference turn's dialogue acts; pure CPU, no model, deterministic."""

    name = "acts"
    version = VERSION

    def __init__(self, weights: ActsWeights | None = None) -> None:
        self.weights = weights or ActsWeights()
        self.fingerprint = fingerprint_of(
            self.name, version=VERSION, rules=source_digest(rule_files()), weights=asdict(self.weights)
        )

    @classmethod
    def from_settings(cls, settings: Any) -> ActsJudge:
        return cls()

    async def score(self, samples: Sequence[Sample], responses: Sequence[str]) -> list[Verdict]:
        return verdicts_one_by_one(self.verdict, samples, responses)

    def verdict(self, sample: Sample, response: str) -> Verdict:
        if not sample.acts:
            return Verdict.failure(f"sample {sample.id}: no reference acts; the acts judge needs SGD-style acts")
        assessment = assess(sample, response or "", self.weights)
        score = final_score(assessment, self.weights)
        return Verdict(
            score=score, reasoning=explain(assessment, score), criteria=criteria_of(assessment, self.weights)
        )
