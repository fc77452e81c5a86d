"""The act-grounded judge (`--judge acts`): a reward with no model at all.

A reply is scored against the reference turn's dialogue acts and the sample's context, in [0, 1]:

    credit   = matched weight / total weight, over the values of INFORM / OFFER / CONFIRM / INFORM_COUNT
               (weight 1 each, typed matching, see values.py) and the act cues (lower weight): REQUEST of the
               right slot (or of a still-missing required slot), NOTIFY_SUCCESS / FAILURE polarity, REQ_MORE,
               GOODBYE, OFFER_INTENT
    score    = (credit − penalties) × length × repetition × copying,   0 when the reply addresses the grader

Penalties: `max(missing values, hallucinated values)` × a unit (so omitting a required value costs exactly what
stating a wrong one costs: dropping numbers never pays), a wrong offer (another result's entity for the offered
slot), over-informing (many context values beyond the reference), requests for slots nobody needs, a polarity
flip (failure words on a success), and each value placeholder left unfilled ("[4]", "[2": a number the acts do not
have, which `--placeholders` leaves as written; unlike a missing value it is never paired with one). It is the
default GRPO reward, so every rule here closes a way to game it.

    >>> judge = ActsJudge()
    >>> [verdict] = score_sync(judge, [sample], ["Sino is at 377 Santana Row."])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tracegym.judges.base import Verdict, fingerprint_of
from tracegym.judges.values import (
    ReplyIndex,
    digits_of,
    extract_dates,
    extract_numbers,
    extract_times,
    normalise_text,
    parse_number,
    value_kind,
)
from tracegym.placeholders import UNFILLED_PLACEHOLDER
from tracegym.samples import Sample

VERSION = "acts-4"
VALUE_ACTS = ("INFORM", "OFFER", "CONFIRM", "INFORM_COUNT")
CUE_ACTS = ("REQUEST", "NOTIFY_SUCCESS", "NOTIFY_FAILURE", "REQ_MORE", "GOODBYE", "OFFER_INTENT")


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


# Words that tell a slot apart in a question; the slot name's own words are added to these.
SLOT_WORD_CUES: dict[str, tuple[str, ...]] = {
    "location": ("city", "where", "location", "area", "branch", "place", "neighborhood"),
    "city": ("city", "where", "area", "location", "place", "metropolis", "town"),
    "area": ("area", "where", "city"),
    "destination": ("destination", "where", "going", "headed", "ending", "arriv", "visit", "city"),
    "origin": ("leaving", "departing", "where", "origin", "starting", "departure", "city"),
    "from": ("leaving", "departing", "where", "starting", "departure", "origin"),
    "to": ("going", "destination", "where", "headed", "ending", "arriv"),
    "date": ("date", "day", "when"),
    "time": ("time", "when", "timing"),
    "number": ("how many", "number"),
    "seats": ("people", "seats", "party", "guests", "how many"),
    "tickets": ("tickets", "how many"),
    "adults": ("people", "adults", "how many"),
    "passengers": ("passengers", "people", "how many", "tickets"),
    "riders": ("riders", "people", "passengers", "how many"),
    "rooms": ("rooms", "how many"),
    "size": ("people", "party", "group", "how many"),
    "restaurant": ("restaurant", "where", "place"),
    "movie": ("movie", "film"),
    "title": ("movie", "title", "film"),
    "cuisine": ("cuisine", "food", "kind"),
    "category": ("category", "kind", "type", "cuisine", "food"),
    "branch": ("branch",),
    "starting": ("starting",),
    "subcategory": ("kind", "type"),
    "departure": ("depart", "leav", "when"),
    "leaving": ("leav", "depart", "when"),
    "pickup": ("pick", "collect"),
    "dropoff": ("drop", "return", "how long", "until"),
    "return": ("return", "back", "how long", "until"),
    "check": ("check", "when"),
    "appointment": ("appointment", "when"),
    "journey": ("journey", "trip", "travel"),
    "show": ("show", "when"),
    "event": ("event", "which"),
    "theater": ("theater", "theatre", "cinema"),
    "property": ("property", "apartment", "place"),
    "attraction": ("attraction", "place"),
    "car": ("car", "vehicle"),
    "ride": ("ride", "type"),
    "seating": ("seat", "class"),
    "fare": ("fare", "class"),
    "flight": ("flight", "class"),
    "playback": ("device", "where", "play"),
    "street": ("address", "where"),
    "address": ("address", "where"),
    "place": ("place", "where"),
    "venue": ("venue", "where"),
    "dentist": ("dentist",),
    "therapist": ("therapist",),
    "album": ("album",),
    "track": ("song", "track"),
    "director": ("director", "directed"),
    "directed": ("director", "directed"),
    "actors": ("actor", "starring", "star"),
    "starring": ("actor", "starring", "star"),
    "stay": ("how long", "nights", "days"),
    "group": ("people", "how many", "group"),
    "travelers": ("people", "travel", "how many", "tickets", "passengers"),
    "origin_city": ("from", "leaving", "departing"),
    "genre": ("genre", "kind", "type"),
    "price": ("price", "budget", "cost", "expensive", "cheap"),
    "type": ("type", "kind"),
    "class": ("class",),
    "artist": ("artist", "singer", "band", "who"),
    "song": ("song", "track"),
    "doctor": ("doctor",),
    "stylist": ("stylist", "salon"),
    "hotel": ("hotel", "place"),
    "payment": ("payment", "pay", "card"),
    "account": ("account",),
    "amount": ("amount", "how much"),
    "recipient": ("who", "recipient", "send"),
    "receiver": ("who", "receiver", "send"),
    "contact": ("who", "contact"),
    "device": ("device", "where", "play"),
    "alarm": ("alarm",),
    "airlines": ("airline",),
    "bags": ("bags", "luggage"),
    "visit": ("visit", "when", "date"),
    "days": ("how many days", "how long"),
}
BOOLEAN_SLOT_CUES: dict[str, tuple[str, ...]] = {
    "has_wifi": ("wifi", "wi fi", "wi-fi", "internet"),
    "pets_allowed": ("pet", "dog", "cat", "animal"),
    "pets_welcome": ("pet", "dog", "cat", "animal"),
    "smoking_allowed": ("smok",),
    "furnished": ("furnish",),
    "shared_ride": ("shar", "pool"),
    "free_entry": ("free", "entr", "admission"),
    "arrives_next_day": ("next day", "following day", "overnight"),
    "good_for_kids": ("kid", "child", "famil"),
    "has_vegetarian_options": ("vegetarian", "veggie", "vegan"),
    "has_seating_outdoors": ("outdoor", "outside", "open air", "patio", "terrace"),
    "has_live_music": ("live music", "music", "band"),
    "serves_alcohol": ("alcohol", "drink", "liquor", "bar", "wine", "beer"),
    "refundable": ("refund",),
    "is_unisex": ("unisex", "men and women", "both gender"),
    "has_laundry_service": ("laundry",),
    "in_unit_laundry": ("laundry", "washer"),
    "has_garage": ("garage", "parking"),
    "is_nonstop": ("nonstop", "non stop", "non-stop", "direct", "stop", "layover"),
    "is_redeye": ("red eye", "red-eye", "redeye", "overnight"),
    "add_insurance": ("insur", "protection"),
    "trip_protection": ("insur", "protection"),
    "private_visibility": ("privat", "visib", "public"),
    "subtitles": ("subtitle", "caption"),
    "offers_cosmetic_services": ("cosmetic",),
}
# Phrases that state a boolean slot's value with no cue word and negation to weigh ("a non smoking hotel").
BOOLEAN_PHRASES: dict[str, dict[bool, tuple[str, ...]]] = {
    "smoking_allowed": {False: ("non smoking", "nonsmoking", "smoke free")},
    "free_entry": {
        True: (
            "no entrance fee",
            "no entry fee",
            "no admission fee",
            "no fee",
            "no charge",
            "no cost",
            "free of charge",
            "free to",
        )
    },
    "arrives_next_day": {False: ("same day",)},
    "is_nonstop": {True: ("no stops", "zero stops", "no layover")},
}
GENERIC_BOOLEAN_WORDS = {
    "has",
    "is",
    "allowed",
    "offers",
    "serves",
    "welcome",
    "options",
    "service",
    "services",
    "good",
    "for",
    "add",
    "the",
    "of",
    "in",
}
CLAUSE_SPLIT = re.compile(r"[.!?;,]|\bbut\b|\band\b|\bhowever\b|\balthough\b")
SLOT_NAME_STOPWORDS = {"has", "is", "of", "name", "the", "a", "num", "to", "from", "in", "for"}

QUESTION_MARKERS = re.compile(
    r"\b(what|which|when|where|who|how many|how much|how long|do you|would you|could you|can you|"
    r"any (?:particular|preference|specific)|prefer\w*|let me know|please (?:tell|provide|specify|give)|"
    r"tell me|looking for|in mind)\b"
)
REQ_MORE_CUES = re.compile(
    r"\b(anything|something|else|further|assist\w*|help\w*|any other|more (?:help|requests?|questions?|for you)|"
    r"need me|do more|other (?:requests?|questions?|needs?|information)|need any|need more|be all|still need|another|"
    r"what (?:may|can|more|other|now)|up for more|next|do then|get now)\b"
)
GOODBYE_CUES = re.compile(
    r"\b(bye|goodbye|farewell|good day|enjoy|take care|have (?:a|an) (?:\w+ ){0,2}(?:day|evening|night|afternoon|"
    r"morning|time|one|weekend|trip|meal|stay|flight|journey|visit|show|movie|ride)|have fun|you'?re welcome|"
    r"welcome|see you|cheers|glad|happy to|pleasure|thank\w*|appreciate\w*|great day|have yourself|"
    r"rest of your|take it easy|be here|day|evening|night|pleased|hope|sure thing|help|let me know|anything|"
    r"find me|need me|here when|be happy|wonderful|alert you|later)\b"
)
SUCCESS_CUES = re.compile(
    r"\b(success\w*|booked|reserved|confirmed|done|made|set up|is set|all set|set for|purchased|bought|scheduled|"
    r"placed|transferred|sent|added|created|complete\w*|playing|started|now play\w*|has been|have been|"
    r"went through|got it|good to go|secured|ready|finished|on (?:its|the|their) way|processed|initiated|"
    r"arranged|submitted|registered|rented|enjoy|successful|worked|is (?:now )?(?:on|coming|ordered)|fixed|"
    r"have a (?:good|great|nice) time|you'?ll|will be|is on|all good|sorted|taken care|in place|set (?:it )?up|"
    r"managed|i'?ve|confirmation|arriv\w*|have fun|shortly|receive|on the way)\b"
)
# Failure words that only a failure states; "sorry" alone also comes with a negative boolean on a success.
STRONG_FAILURE_CUES = re.compile(
    r"\b(couldn'?t|could not|unable|failed|fail|not able|unsuccessful|not successful|wasn'?t able|was not able|"
    r"didn'?t go through|did not go through|went wrong|isn'?t possible|is not possible|not possible|"
    r"can'?t (?:book|reserve|make|buy|complete|process|do|set|schedule|transfer|get)|cannot (?:book|reserve|make|"
    r"buy|complete|process|do|set|schedule|transfer|get)|no luck)\b"
)
FAILURE_CUES = re.compile(
    STRONG_FAILURE_CUES.pattern[:-3] + r"|sorry|unfortunately|regret|apolog\w*|sadly|afraid|not|no|n'?t)\b"
)
OFFER_INTENT_CUES = re.compile(
    r"\b(would you like|do you want|you want|you like|you wish|you need|wanna|shall i|should i|want me to|"
    r"like me to|would you care|care to|interested|how about|what about|may i|can i|like to|want to|wish to|"
    r"proceed|go ahead|will i|ready to|you would)\b"
)
NEGATION = re.compile(r"\b(not|no|n't|never|without|nor|neither|isn'?t|doesn'?t|don'?t|aren'?t|won'?t|cannot|can'?t)\b")
NEGATION_SUFFIX = re.compile(r"n't\b")
GRADER_ADDRESSING = re.compile(
    r"(ignore (?:all |the |any )?(?:previous|prior|above|earlier)|previous instructions|system prompt|"
    r"\bgrader\b|\bjudge\b|\bevaluator\b|\bscore\b|\bscoring\b|\breward\b|\b\d+(?:\.\d+)?\s*/\s*10\b|"
    r"out of 10\b|\brate this\b|\bi rate\b|full marks|perfect (?:score|reply|response)|\"\s*score\s*\"|"
    r"\bverdict\b|\brubric\b|as an ai|language model|\{\s*\"|</?\w+>)",
    re.IGNORECASE,
)
REQUEST_PHRASES = re.compile(
    r"\b(please|let me know|tell me|may i (?:know|have|ask|get)|can i (?:know|have|ask|get)|need to know|"
    r"prefer\w*|particular|specific|in mind)\b"
)
INTENT_OFFER = re.compile(
    r"\b(?:like|want|wish|care|ready|need|interested)(?: me)? (?:to|in)\b|\b(?:shall|should|may|can) i\b"
)
WEAK_QUESTION = re.compile(
    r"\b(what|which|when|where|who|whom|how|any|desired|is there|have you|do you have|name the|wish|want|like)\b"
)
WH_WORDS = re.compile(r"\b(what|which|when|where|who|whom|how many|how much|how long)\b")
REQ_MORE_ONLY = re.compile(r"\b(anything|something) (?:else|more)\b|\bany(?:thing)? other\b|\bfurther\b")
SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
# `slot=value` pairs as the system message shows calls, results and intent defaults (DESIGN.md §4).
SHOWN_PAIR = re.compile(r"\b([a-z][a-z0-9_]*)=(.+?)(?=[,;] [a-z][a-z0-9_]*=|\)(?: \(this turn\))? -> |\.?$)", re.M)
POSSIBLE_VALUES = re.compile(r"^\s*-\s*([a-z][a-z0-9_]*):.*\(possible values: ([^)]*)\)", re.M)
LIST_CLAUSE_SPLIT = re.compile(r"[.;:!?\n]")
LIST_ITEM_SPLIT = re.compile(r",|\bor\b|\beither\b|\band/or\b")
LABEL_LINE = re.compile(r"^\s*(?:[-*•]\s*)?[\w ()/']{1,40}:\s*\S", re.M)
# A punctuation mark after a space, and a last word no reply ends on (a question may: "help you with?").
STRAY_PUNCTUATION = re.compile(r"(?<=\s)[.,!?;:]")
DANGLING_END = re.compile(r"\b(?:at|the|a|an|and|or|of|in|on|with|from|is|are)(?:\s*[.!,;:])*\s*$", re.IGNORECASE)
# A sentence has one of these; a bare list of values has none.
SENTENCE_WORDS = re.compile(
    r"\b(is|are|was|were|be|been|am|has|have|had|will|would|can|could|shall|should|may|might|do|does|did|"
    r"i|you|we|they|it|there|this|that|please|let|want|like|need|found|book\w*|reserv\w*|play\w*|get|go|how|"
    r"what|which|about|ok|okay|yes|no|sure|bye|goodbye|thanks?|enjoy|send|sorry|here|with|from)\b"
)
WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class ValueItem:
    act: str
    slot: str
    canonical: str
    surfaces: tuple[str, ...]


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


class ActsJudge:
    """Scores a reply against the reference turn's dialogue acts; pure CPU, no model, deterministic."""

    name = "acts"

    def __init__(self, weights: ActsWeights | None = None) -> None:
        self.weights = weights or ActsWeights()
        self.fingerprint = fingerprint_of(self.name, version=VERSION, weights=asdict(self.weights))

    @classmethod
    def from_settings(cls, settings: Any) -> ActsJudge:
        return cls()

    async def score(self, samples: Sequence[Sample], responses: Sequence[str]) -> list[Verdict]:
        if len(samples) != len(responses):
            raise ValueError(f"{len(samples)} samples but {len(responses)} responses; give one reply per sample")
        return [self.verdict(sample, response) for sample, response in zip(samples, responses)]

    def verdict(self, sample: Sample, response: str) -> Verdict:
        if not sample.acts:
            return Verdict.failure(f"sample {sample.id}: no reference acts; the acts judge needs SGD-style acts")
        assessment = assess(sample, response or "", self.weights)
        score = final_score(assessment, self.weights)
        return Verdict(
            score=score, reasoning=explain(assessment, score), criteria=criteria_of(assessment, self.weights)
        )


# --- reference side -------------------------------------------------------------------------------------------


def value_items(sample: Sample) -> list[ValueItem]:
    """The values the reference reply states: one item per (act, slot, value)."""
    items: list[ValueItem] = []
    seen: set[tuple[str, str]] = set()
    for act in sample.acts:
        if act.get("act") not in VALUE_ACTS:
            continue
        canonicals = list(act.get("canonical_values") or [])
        surfaces = list(act.get("values") or [])
        for index, canonical in enumerate(canonicals or surfaces):
            surface = surfaces[index] if index < len(surfaces) else canonical
            key = (act.get("slot", ""), normalise_text(canonical))
            if key in seen:
                continue
            seen.add(key)
            items.append(ValueItem(act["act"], act.get("slot", ""), str(canonical), (str(surface),)))
    return items


def reference_values(sample: Sample) -> list[str]:
    """Every value (canonical and surface) of every reference act, including REQUEST options."""
    found: list[str] = []
    for act in sample.acts:
        found.extend(str(v) for v in act.get("canonical_values") or [])
        found.extend(str(v) for v in act.get("values") or [])
    return found


def history_text(sample: Sample) -> str:
    return sample.prompt or "\n".join(m.get("content", "") for m in sample.messages if m.get("role") != "system")


def last_user_turn(sample: Sample) -> str:
    for message in reversed(sample.messages):
        if message.get("role") == "user":
            return message.get("content", "")
    lines = [line for line in (sample.prompt or "").splitlines() if line.startswith("User:")]
    return lines[-1][len("User:") :].strip() if lines else ""


def slot_cues(slot: str) -> set[str]:
    """Words a question about `slot` would contain: the slot name's words and their usual synonyms."""
    words = [w for w in slot.lower().split("_") if w and w not in SLOT_NAME_STOPWORDS]
    cues = {w if len(w) <= 5 else w[:5] for w in words} | {w.rstrip("s") for w in words if len(w) > 3}
    if slot.startswith(("to_", "from_")):  # "to_location" is a destination, "from_location" an origin
        cues.update(SLOT_WORD_CUES[slot.split("_")[0]])
    for word in words:
        cues.update(SLOT_WORD_CUES.get(word, ()))
        cues.update(SLOT_WORD_CUES.get(word.rstrip("s"), ()))
    if "number" in slot or slot.startswith("num_"):
        cues.add("how many")
    cues.discard("number") if len(cues) > 1 else None
    return cues


def required_slots(sample: Sample) -> set[str]:
    """Required slots of the active intent, read from the schema text of the system message (best effort)."""
    system = next((m.get("content", "") for m in sample.messages if m.get("role") == "system"), "")
    intent = (sample.service_call or {}).get("method")
    found: set[str] = set()
    for line in system.splitlines():
        lowered = line.lower()
        if "required" not in lowered:
            continue
        if intent and intent.lower() not in lowered and not re.match(r"\s*[-*]?\s*required", lowered):
            continue
        tail = re.split(r"required[^:]*:", line, maxsplit=1, flags=re.IGNORECASE)
        if len(tail) == 2:
            segment = re.split(r";|optional", tail[1], maxsplit=1, flags=re.IGNORECASE)[0]
            found.update(re.findall(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)*\b", segment))
    filled = set((sample.service_call or {}).get("parameters", {}) or {})
    return found - filled - {"none", "and"}


def context_entities(sample: Sample) -> dict[str, set[str]]:
    """Named values of the service results and call, by slot: what a reply could copy from the context."""
    by_slot: dict[str, set[str]] = {}
    for result in sample.service_results or []:
        for slot, value in result.items():
            by_slot.setdefault(slot, set()).add(str(value))
    for slot, value in ((sample.service_call or {}).get("parameters") or {}).items():
        by_slot.setdefault(slot, set()).add(str(value))
    return by_slot


def system_text(sample: Sample) -> str:
    return "\n".join(m.get("content", "") for m in sample.messages if m.get("role") == "system")


def shown_values(sample: Sample) -> dict[str, set[str]]:
    """Every value the student is shown, by slot: this turn's call and results, and the system message's earlier
    calls and their results (`slot=value`). Intent defaults ("New alarm") are left out: they read as plain words."""
    by_slot = context_entities(sample)
    shown = "\n".join(line for line in system_text(sample).splitlines() if "(default)" not in line)
    for slot, value in SHOWN_PAIR.findall(shown):
        value = value.strip()
        if value and value != "dontcare":
            by_slot.setdefault(slot, set()).add(value)
    return by_slot


def slot_candidates(sample: Sample) -> dict[str, set[str]]:
    """The values each slot could take that a reply might hedge between: shown values and the schema's possible
    values."""
    by_slot = shown_values(sample)
    for slot, listed in POSSIBLE_VALUES.findall(system_text(sample)):
        by_slot.setdefault(slot, set()).update(v.strip() for v in listed.split(",") if v.strip())
    return by_slot


# --- reply side -----------------------------------------------------------------------------------------------


def sentences_of(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_SPLIT.split(text) if s and s.strip()]


def boolean_cues(slot: str) -> tuple[str, ...]:
    """Word stems that name a boolean slot's property; generic words ("allowed", "has") never count."""
    if slot in BOOLEAN_SLOT_CUES:
        return BOOLEAN_SLOT_CUES[slot]
    words = [w for w in slot.lower().split("_") if w not in GENERIC_BOOLEAN_WORDS and len(w) > 2]
    return tuple(w[:6] for w in words)


def boolean_stated(index: ReplyIndex, slot: str, truth: bool) -> bool:
    """A boolean slot is stated only by its own cue words, with the right polarity in the same clause:
    "pets are not permitted" states pets_allowed=False; "It's not have live music" states nothing about pets."""
    if any(index.has_phrase(phrase) for phrase in BOOLEAN_PHRASES.get(slot, {}).get(truth, ())):
        return True
    stems = boolean_cues(slot)
    for clause in CLAUSE_SPLIT.split(index.lowered):
        if not any(re.search(rf"\b{re.escape(stem)}", clause) for stem in stems):
            continue
        negated = bool(NEGATION.search(clause) or NEGATION_SUFFIX.search(clause))
        if negated != truth:
            return True
    return False


def boolean_answered(index: ReplyIndex, slot: str, truth: bool, user_turn: str) -> bool:
    """A bare "No, there isn't." states has_seating_outdoors=False when the user just asked about outdoor seating."""
    user = user_turn.lower()
    if not any(re.search(rf"\b{re.escape(stem)}", user) for stem in boolean_cues(slot)):
        return False
    if any(re.search(rf"\b{re.escape(stem)}", index.lowered) for stem in boolean_cues(slot)):
        return False  # the reply names the property: its own clause decides
    first_clause = CLAUSE_SPLIT.split(index.lowered.strip(), maxsplit=1)[0]
    if not re.match(
        r"\s*(yes|yeah|yep|no|nope|sure|sadly|unfortunately|indeed|absolutely|they|it|there|that)\b", first_clause
    ):
        return False  # only a direct answer counts: "Smoking is not allowed" says nothing about live music
    says_no = bool(
        re.search(r"^\s*(no|nope|sadly|unfortunately)\b", first_clause)
        or NEGATION.search(first_clause)
        or NEGATION_SUFFIX.search(first_clause)
    )
    says_yes = bool(
        re.search(r"^\s*(yes|yeah|yep|sure|indeed|they do|it does|it is|they are|absolutely)\b", first_clause)
    )
    return (says_yes and not says_no) if truth else (says_no and not says_yes)


def stated_value(index: ReplyIndex, item: ValueItem, user_turn: str = "") -> bool:
    if value_kind(item.canonical) == "bool":
        truth = item.canonical.strip().lower() == "true"
        return boolean_stated(index, item.slot, truth) or boolean_answered(index, item.slot, truth, user_turn)
    if item.canonical.strip().lower() == "none":
        return index.mentions(item.canonical, list(item.surfaces)) or none_stated(index, item.slot)
    return index.mentions(item.canonical, list(item.surfaces))


def none_stated(index: ReplyIndex, slot: str) -> bool:
    """ "with no subtitles" states subtitle_language=None: the slot's cue word negated in one clause."""
    cues = [c for c in slot_cues(slot) if len(c) >= 4 and " " not in c]
    return any(
        any(re.search(rf"\b{re.escape(cue)}", clause) for cue in cues)
        and bool(NEGATION.search(clause) or NEGATION_SUFFIX.search(clause))
        for clause in CLAUSE_SPLIT.split(index.lowered)
    )


def requested_slots(
    reply: str, candidate_slots: set[str], offered: Sequence[str], expected: set[str] = frozenset()
) -> set[str]:
    """Slots the reply asks the user for: a question (or "please …") sentence holding the slot's own cue words.

    Not a request: a question that names a concrete offered value (it offers or confirms), an "anything else?"
    question, and an offer of an intent ("Would you like to book it?") with no wh-word. Weaker forms ("any city you
    want?", "In which city should I look.", "Do you have any desired place") count for the `expected` slots only,
    so they earn the request's cue but never an off-target penalty.
    """
    asked: set[str] = set()
    for sentence in sentences_of(reply.lower()):
        strong = bool(
            sentence.endswith(("?", ">", "/"))
            or REQUEST_PHRASES.search(sentence)
            or re.match(r"(what|which|when|where|who|how)\b", sentence)
        )
        if not strong and not WEAK_QUESTION.search(sentence):
            continue
        has_wh = bool(WH_WORDS.search(sentence))
        if REQ_MORE_ONLY.search(sentence) and not has_wh:
            continue
        offer_form = bool(OFFER_INTENT_CUES.search(sentence)) and not has_wh and not REQUEST_PHRASES.search(sentence)
        index = ReplyIndex.of(sentence)
        if any(index.mentions_text(value) for value in offered if len(value) > 3):
            continue
        words = normalise_text(sentence).split()
        padded = f" {' '.join(words)} "
        for slot in candidate_slots:
            if offer_form and slot not in BOOLEAN_SLOT_CUES and (INTENT_OFFER.search(sentence) or slot not in expected):
                continue  # "Would you like to book it?" offers an intent; it asks for no slot's value
            if not strong and slot not in expected:
                continue
            cues = boolean_cues(slot) if offer_form and slot in BOOLEAN_SLOT_CUES else slot_cues(slot)
            if any(_cue_in(cue, padded, words) for cue in cues):
                asked.add(slot)
    return asked


def _cue_in(cue: str, padded: str, words: list[str]) -> bool:
    cue = normalise_text(cue)
    if " " in cue or len(cue) < 4:
        return f" {cue} " in padded
    return any(word.startswith(cue) for word in words)


def request_options_named(index: ReplyIndex, sample: Sample) -> set[str]:
    """REQUEST acts with values ("Will you be leaving on March 12th?") are answered by naming an option."""
    named: set[str] = set()
    for act in sample.acts:
        if act.get("act") == "REQUEST" and act.get("values"):
            canonicals = list(act.get("canonical_values") or act.get("values"))
            if any(index.mentions(c, list(act.get("values") or [])) for c in canonicals):
                named.add(act.get("slot", ""))
    return named


def hallucinated_in(sample: Sample, index: ReplyIndex) -> list[str]:
    """Typed values and context entities the reply states that no reference act and no history turn holds."""
    reference = reference_values(sample)
    history = history_text(sample).lower()
    allowed_times = set(extract_times(history)[0])
    allowed_dates = set(extract_dates(history)[0])
    allowed_numbers = set(extract_numbers(history))
    allowed_text = normalise_text(history)
    for value in reference:
        kind = value_kind(value)
        if kind == "time":
            allowed_times.add(value.strip().zfill(5))
        elif kind == "date":
            allowed_dates.add(value.strip())
        elif kind == "number":
            allowed_numbers.add(parse_number(value))
        lowered = value.lower()
        allowed_times.update(extract_times(lowered)[0])
        allowed_dates.update(extract_dates(lowered)[0])
        allowed_numbers.update(extract_numbers(lowered))
        allowed_text += " | " + normalise_text(value)
    found: list[str] = []
    found += [
        t for t in sorted(index.times) if t not in allowed_times and not _other_half_allowed(t, index, allowed_times)
    ]
    stated_dates, _ = extract_dates(index.lowered, include_today=False)
    found += [
        d
        for d in sorted(stated_dates)
        if d not in allowed_dates and not _weekday_alias_allowed(d, index, allowed_dates)
    ]
    spoken_numbers = extract_numbers(_without_times_dates(index.lowered), with_words=True)
    found += [_number_text(n) for n in sorted(spoken_numbers) if n not in allowed_numbers and n != 1.0]
    padded_allowed = f" {allowed_text} "
    for _slot, values in context_entities(sample).items():
        for value in values:
            norm = normalise_text(value)
            if len(norm) < 4 or value_kind(value) != "text" or f" {norm} " in padded_allowed:
                continue
            if index.has_phrase(value):
                found.append(value)
    return found


def _other_half_allowed(time: str, index: ReplyIndex, allowed: set[str]) -> bool:
    """A bare "7:30" yields 07:30 and 19:30: it is fine when either reading is allowed."""
    hour, minute = map(int, time.split(":"))
    twin = f"{(hour + 12) % 24:02d}:{minute:02d}"
    return twin in index.times and twin in allowed


def _weekday_alias_allowed(day: str, index: ReplyIndex, allowed: set[str]) -> bool:
    """A weekday yields this week's and next week's date: fine when either is allowed."""
    return bool(allowed & _weekday_twins(day)) and any(w in index.lowered for w in ("day",))


def _weekday_twins(day: str) -> set[str]:
    from datetime import date, timedelta

    parsed = date.fromisoformat(day)
    return {(parsed + timedelta(days=delta)).isoformat() for delta in (-7, 7)}


def _without_times_dates(text: str) -> str:
    spans = [*extract_times(text)[1], *extract_dates(text)[1]]
    chars = list(text)
    for span in spans:
        for i in range(span.start, span.end):
            chars[i] = " "
    stripped = "".join(chars)
    return re.sub(r"\+?\d[\d\s().-]{7,}\d", " ", stripped)


def _without_values(text: str, values: Sequence[str]) -> str:
    """The text with the reference values cut out: repeating a value the user gave is no copying."""
    for value in sorted(values, key=len, reverse=True):
        if len(value) > 1:
            text = re.sub(re.escape(value), " ", text, flags=re.IGNORECASE)
    return text


def _number_text(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)


def repetition_factor(reply: str) -> float:
    """1 for a reply without repeats; falls as sentences or word trigrams repeat ("What city? What city?")."""
    sentences = [normalise_text(s) for s in sentences_of(reply)]
    sentences = [s for s in sentences if s]
    factor = 1.0
    if len(sentences) > 1:
        duplicates = len(sentences) - len(set(sentences))
        factor *= 0.5**duplicates
    words = WORD.findall(reply.lower())
    trigrams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    if len(trigrams) >= 6:
        distinct_share = len(set(trigrams)) / len(trigrams)
        factor *= min(1.0, distinct_share / 0.8)
    return factor


def broken_text_marks(reply: str) -> int:
    """Stray punctuation marks (" .", ", ,") plus 1 when the reply stops on a word no sentence ends with ("… at 3
    at ."): what a student that lists values writes once it runs out of them. SGD's own system turns do either in
    0.6% of dev turns."""
    return len(STRAY_PUNCTUATION.findall(reply)) + bool(DANGLING_END.search(reply))


def value_repeats(reply: str, items: Sequence[ValueItem]) -> int:
    """Mentions of the reference values beyond the second of each ("Walnut Creek at Walnut Creek, Walnut Creek"):
    a value said three times is padding, which the trigram check misses in a reply that lists it with others."""
    text = normalise_text(reply)
    excess = 0
    for item in items:
        forms = {normalise_text(form) for form in (item.canonical, *item.surfaces)}
        counts = [len(re.findall(rf"(?<!\S){re.escape(form)}(?!\S)", text)) for form in forms if len(form) >= 3]
        excess += max(0, max(counts, default=0) - 2)
    return excess


def restates(reply: str, user_turn: str, threshold: float) -> bool:
    """The reply is mostly the user's last turn and covers most of it: a restated prompt, not an answer."""
    if len(WORD.findall(reply.lower())) < 2:
        return False
    n = 3 if min(len(WORD.findall(reply.lower())), len(WORD.findall(user_turn.lower()))) >= 6 else 2
    return copy_share(reply, user_turn, n) >= threshold and copy_share(user_turn, reply, n) >= 0.5


def copy_share(reply: str, source: str, n: int = 3) -> float:
    """Share of the reply's word n-grams that occur in `source`."""
    words = WORD.findall(reply.lower())
    source_words = WORD.findall(source.lower())
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    source_grams = {tuple(source_words[i : i + n]) for i in range(len(source_words) - n + 1)}
    return sum(1 for g in grams if g in source_grams) / len(grams)


# --- scoring --------------------------------------------------------------------------------------------------


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
    found.list_shaped = list_shaped(_without_values(reply, reference))
    if restates(reply, last_user_turn(sample), weights.copy_threshold):
        found.copy_factor = weights.copy_factor
    found.addresses_grader = bool(GRADER_ADDRESSING.search(reply))
    found.unfilled_placeholders = len(UNFILLED_PLACEHOLDER.findall(reply))
    found.broken_text = broken_text_marks(reply)
    return found


def assess_cues(sample: Sample, reply: str, index: ReplyIndex, found: Assessment, weights: ActsWeights) -> None:
    lowered = index.lowered
    kinds = [act.get("act") for act in sample.acts]
    requested = [act.get("slot", "") for act in sample.acts if act.get("act") == "REQUEST" and act.get("slot")]
    if requested:
        acceptable = required_slots(sample) | set(requested)
        all_slots = acceptable | {s for s in context_entities(sample)} | set(requested)
        offered = [v for act in sample.acts if act.get("act") in ("OFFER", "CONFIRM") for v in act.get("values") or []]
        asked = requested_slots(reply, all_slots, offered, set(requested)) | request_options_named(index, sample)
        right = asked & set(requested)
        also_fine = (asked & acceptable) - set(requested)
        found.cue_total += weights.cue * len(requested)
        found.cue_matched += weights.cue * min(len(requested), len(right) + len(also_fine))
        found.off_target_requests = sorted(asked - acceptable)
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


def offers_intent(lowered: str, sample: Sample) -> bool:
    """An offer of a new intent: an offering phrase, or a question naming the intent's action ("Buy tickets?")."""
    if OFFER_INTENT_CUES.search(lowered):
        return True
    intents = [v for act in sample.acts if act.get("act") == "OFFER_INTENT" for v in act.get("values") or []]
    words = {w.lower()[:4] for intent in intents for w in re.findall(r"[A-Z][a-z]+", intent) if len(w) > 2}
    questions = [s for s in sentences_of(lowered) if s.endswith("?")]
    return any(re.search(rf"\b{re.escape(w)}", q) for q in questions for w in words)


def context_values_stated(sample: Sample, index: ReplyIndex) -> list[str]:
    """Values of the service results and call that the reply states beyond the reference acts (over-informing)."""
    reference = {normalise_text(v) for v in reference_values(sample)}
    stated: list[str] = []
    for values in context_entities(sample).values():
        for value in values:
            norm = normalise_text(value)
            if not norm or norm in reference or value_kind(value) == "bool" or norm in ("dontcare",):
                continue
            if value_kind(value) == "text" and len(norm) < 3:
                continue
            if index.mentions(value) and value not in stated:
                stated.append(value)
    return stated


def hedges(index: ReplyIndex, item: ValueItem, candidates: set[str], reference: Sequence[str]) -> bool:
    """The reply states the reference value among other candidates for the same slot ("the restaurant could be
    Sino, Truya Sushi or Creasian"): another value the context or schema offers for the slot, or a disjunctive
    list around the value whose other items are no reference value."""
    if value_kind(item.canonical) == "bool":
        return False
    others = [c for c in candidates if not any(_same_value(c, r) for r in (item.canonical, *item.surfaces, *reference))]
    if any(_candidate_stated(index, other, item) for other in others):
        return True
    return listed_among_others(index.lowered, (item.canonical, *item.surfaces), reference)


def _same_value(a: str, b: str) -> bool:
    """Whether two values are one value: equal by type, or one's words hold the other's ("Sino Restaurant")."""
    kind = value_kind(a)
    if kind != "text" and kind == value_kind(b):
        if kind == "number":
            return parse_number(a) == parse_number(b)
        return a.strip().zfill(5) == b.strip().zfill(5)
    na, nb = normalise_text(a), normalise_text(b)
    return bool(na) and bool(nb) and (f" {na} " in f" {nb} " or f" {nb} " in f" {na} ")


def _candidate_stated(index: ReplyIndex, candidate: str, item: ValueItem) -> bool:
    """Whether the reply names a named candidate. Numbers, times and dates are left to the list check: "3 days",
    "the first" and a bare "7:30" state them too often by accident."""
    norm = normalise_text(candidate)
    if value_kind(candidate) != "text" or norm in ("", "dontcare") or len(norm) < 3:
        return False
    # Whole words only: the loose long-value match would take "Courtyard By Marriott Atlanta Buckhead" for
    # "AC Hotel By Marriott Atlanta Buckhead At Phipps Plaza".
    digits = digits_of(candidate)
    if len(digits) >= 7 and not re.search(r"[a-z]", candidate.lower()):
        return digits in index.digit_runs
    return index.has_phrase(candidate)


LIST_FILLER = {
    "else",
    "other",
    "others",
    "another",
    "not",
    "no",
    "anything",
    "something",
    "somewhere",
    "someone",
    "later",
    "now",
    "so",
    "more",
    "less",
    "different",
    "one",
    "the",
    "a",
    "an",
    "any",
    "elsewhere",
    "both",
    "neither",
    "whichever",
    "whatever",
    "fewer",
    "earlier",
    "above",
    "below",
    "over",
    "under",
}
APPROXIMATION = re.compile(r"\bor (?:more|less|so|fewer|later|earlier|above|below|over|under|thereabouts)\b")


def listed_among_others(lowered: str, forms: Sequence[str], reference: Sequence[str]) -> bool:
    """The value is one item of an "A, B or C" list whose other items are short and no reference value."""
    norm_forms = [normalise_text(f) for f in forms if normalise_text(f)]
    norm_reference = [normalise_text(r) for r in reference if normalise_text(r)]
    for clause in LIST_CLAUSE_SPLIT.split(APPROXIMATION.sub(" ", lowered)):
        if not re.search(r"\bor\b", clause):
            continue
        parts = [normalise_text(p) for p in LIST_ITEM_SPLIT.split(clause)]
        for position, _part in enumerate(parts):
            for neighbour in _list_neighbours(parts, position, norm_forms):
                if _other_candidate(parts[neighbour], norm_reference):
                    return True
    return False


def _list_neighbours(parts: list[str], position: int, forms: Sequence[str]) -> list[int]:
    """Positions of the list items around the value's item: a value that ends its item ("could be Sino") opens the
    list, one that starts it ("Sino is") closes it, one that is the whole item sits inside it."""
    part = parts[position]
    neighbours: set[int] = set()
    for form in forms:
        if part == form:
            neighbours.update(range(len(parts)))
        elif part.endswith(f" {form}"):
            neighbours.update(range(position + 1, len(parts)))
        elif part.startswith(f"{form} "):
            neighbours.update(range(position))
    neighbours.discard(position)
    return sorted(neighbours)


def _other_candidate(part: str, norm_reference: Sequence[str]) -> bool:
    """A list item that reads as a value (short, no verb or pronoun) and is none of the reference's values
    ("Adorn", "$4", "+44 20 7706 4660"; not "do you want subtitles", "something else" or the "Dr" of "Dr. No")."""
    words = part.split()
    if not words or len(words) > 8 or set(words) <= LIST_FILLER or SENTENCE_WORDS.search(part):
        return False
    return not any(f" {r} " in f" {part} " or f" {part} " in f" {r} " for r in norm_reference)


def list_shaped(reply: str) -> bool:
    """A list of values rather than a reply: three or more `label: value` lines, or four or more comma- or
    line-separated items with no sentence word at all ("Sino, 377 Santana Row, 408-247-8880, San Jose")."""
    if len(LABEL_LINE.findall(reply)) >= 3:
        return True
    items = [item for item in re.split(r",\s|\n", reply) if item.strip()]
    return len(items) >= 4 and "?" not in reply and not SENTENCE_WORDS.search(reply.lower())


def wrong_offers(sample: Sample, index: ReplyIndex, items: list[ValueItem]) -> list[str]:
    """Other results' entities named for a slot the reference offers, when the offered one is not named."""
    wrong: list[str] = []
    results = sample.service_results or []
    for item in items:
        if item.act != "OFFER" or value_kind(item.canonical) != "text":
            continue
        if index.mentions(item.canonical, list(item.surfaces)):
            continue
        offered = {normalise_text(item.canonical), *(normalise_text(s) for s in item.surfaces)}
        for result in results:
            other = str(result.get(item.slot, ""))
            if (
                other
                and normalise_text(other) not in offered
                and len(normalise_text(other)) >= 3
                and index.has_phrase(other)
            ):
                wrong.append(f"{item.slot}={other}")
    return sorted(set(wrong))


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
    score = max(0.0, credit - penalty) * found.length_factor * found.repetition_factor * found.copy_factor
    if found.list_shaped:
        score *= weights.list_shape_factor
    score *= weights.broken_text_factor**found.broken_text
    return round(min(1.0, max(0.0, score)), 4)


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
    if found.addresses_grader:
        parts.append("addresses the grader")
    return f"{score:.2f}: " + "; ".join(parts)


# --- metrics for evaluation (imported by evaluation/metrics.py) -------------------------------------------------


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
