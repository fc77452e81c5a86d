"""The form of a reply, beyond its values: grammar slips, phrases said twice in a row, an "anything else?" the acts
did not plan, and questions whose kind cannot ask for the requested slot.

Each rule is a pattern a person reading the reply would reject (bench/agreement/GUIDELINES.md) and that SGD's
own system turns almost never show: on 3,000 dev references the rules together flag 0.4% (BENCHMARKS.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tracegym.samples import Sample

# Agreement and missing-word slips of the kind a small student makes; each names what it catches.
GRAMMAR_SLIPS: dict[str, re.Pattern[str]] = {
    "bare verb after be + subject ('are you like')": re.compile(
        r"\b(?:are|is|am|were|was) (?:you|i|we|they|he|she|it) (?:want|like|need|go|leave|have|prefer|wish)\b"
    ),
    "'be be'": re.compile(r"\b(?:are|is|am|be|been) be\b"),
    "'you be' in a question ('where you be')": re.compile(
        r"\b(?:is|are|where|what|when|how|and)\s+(?:there|you|we|they) be\b"
    ),
    "question with no verb ('what city you want')": re.compile(
        r"(?:^|[.?!]\s*)what (?:city|time|day|date|kind|type|area|location) (?:you|i|we|they)\b"
        r"(?! are| were| will| would| can| could| have| had| do| did| should| need)"
    ),
    "'what your'": re.compile(r"\bwhat your\b"),
    "a verb missing after 'like to' ('like to the tickets')": re.compile(
        r"\b(?:like|want|need|wish|love) to (?:the|a|an|your)\b"
    ),
    "'a' before a vowel ('a appointment')": re.compile(r"\ba (?!one\b|once\b|eu|u)[aeio][a-z]"),
    "two articles ('the the')": re.compile(r"\b(?:the|a|an) (?:the|a|an)\b"),
    "'you're like to'": re.compile(r"\b(?:you're|you are|we're|i'm|they're) like to\b"),
    "article before a possessive ('the your')": re.compile(r"\bthe (?:your|my|our|their)\b"),
    "'there are located'": re.compile(r"\bthere (?:are|is) located\b"),
    "repeated commas": re.compile(r",\s*,"),
    "a gap where a value was left out ('at  pm')": re.compile(r"[a-z,:]\s{2,}[a-z]"),
    "a currency sign with no amount ('$,')": re.compile(r"[$£€](?!\s?\d)"),
    "an ordinal with no number ('March th', 'at th Street')": re.compile(
        r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* (?:st|nd|rd|th)\b|(?<![\w'])(?:th|nd)\b"
    ),
    "a time with no hour (': pm')": re.compile(r"(?<![\d])\s?:\s?(?:am|pm|a\.m\.|p\.m\.)\b"),
    "a house number with no number ('#,')": re.compile(r"#(?!\s?[a-z0-9])"),
}
REPEAT_WORD = re.compile(r"[a-z']+|\d[\d:.,]*")
REQ_MORE_PHRASE = re.compile(r"\b(?:anything else|help you with anything|can i help|assist you with anything)\b")
WORD_REPEATS_ALLOWED = {"that", "had", "bye"}


def grammar_slips(reply: str) -> list[str]:
    """The names of the slips the reply makes."""
    lowered = reply.lower()
    return [name for name, pattern in GRAMMAR_SLIPS.items() if pattern.search(lowered)]


@dataclass(frozen=True)
class Repeats:
    words: int  # a word said twice in a row: "found found", "The The" ("that that" only three times)
    phrases: int  # a phrase of 2–6 words said twice in a row, or "anything else" twice


def repeats(reply: str, longest: int = 6) -> Repeats:
    words = REPEAT_WORD.findall(reply.lower())
    doubled = sum(
        1
        for i in range(len(words) - 1)
        if words[i] == words[i + 1] and (words[i] not in WORD_REPEATS_ALLOWED or words[i + 2 : i + 3] == [words[i]])
    )
    phrases = sum(
        1
        for n in range(2, longest + 1)
        for i in range(len(words) - 2 * n + 1)
        if words[i : i + n] == words[i + n : i + 2 * n]
    )
    phrases += max(0, reply.lower().count("anything else") - 1)
    return Repeats(words=doubled, phrases=phrases)


def unplanned_req_more(sample: Sample, reply: str) -> bool:
    """An "anything else?" that no REQ_MORE act asked for: a filler, or a goodbye that keeps the user talking."""
    return all(act.act != "REQ_MORE" for act in sample.acts) and bool(REQ_MORE_PHRASE.search(reply.lower()))


# --- what kind of thing a question asks for --------------------------------------------------------------------

QUESTION_KINDS: dict[str, re.Pattern[str]] = {
    "place": re.compile(r"\b(?:what|which) (?:city|area|location|place|town)\b|\bwhere\b"),
    "date": re.compile(r"\b(?:what|which) (?:date|day)\b|\bwhen\b"),
    "time": re.compile(r"\bwhat time\b|\bwhen\b"),
    "kind": re.compile(r"\b(?:what|which) (?:kind|type|sort|genre|category)\b"),
    "count": re.compile(r"\bhow many\b"),
}
ORIGIN_PHRASE = re.compile(r"\b(?:leav\w*|depart\w*|coming from|start\w* from)\b|\bfrom where\b")
DESTINATION_PHRASE = re.compile(r"\b(?:go|going|head\w*|travel\w*|fly\w*) to\b|\bdestination\b")
SLOT_KINDS: Sequence[tuple[str, re.Pattern[str]]] = (
    ("count", re.compile(r"number|num_|count|seats|riders|passengers|adults|tickets|rooms|beds|baths|travelers")),
    ("date", re.compile(r"date|day")),
    ("time", re.compile(r"time")),
    ("place", re.compile(r"city|location|area|where|from|to_|destination|origin|address|station|airport")),
    ("kind", re.compile(r"genre|type|category|kind|class")),
    ("name", re.compile(r"name|title|movie|song|artist|album|track|restaurant|hotel|event")),
)
ORIGIN_SLOT = re.compile(r"from|origin|departure|leaving|pickup|start")
DESTINATION_SLOT = re.compile(r"(?:^|_)to(?:_|$)|destination|where_to|arriv|dropoff")


def slot_kind(slot: str) -> str | None:
    return next((kind for kind, pattern in SLOT_KINDS if pattern.search(slot.lower())), None)


def slot_direction(slot: str) -> str | None:
    if ORIGIN_SLOT.search(slot):
        return "origin"
    return "destination" if DESTINATION_SLOT.search(slot) else None


def question_kinds(reply: str) -> list[tuple[set[str], str | None]]:
    """For each question of the reply: the kinds of answer it asks for, and its direction (origin / destination)."""
    found: list[tuple[set[str], str | None]] = []
    for question in re.split(r"(?<=[?.!])\s+", reply.lower()):
        if "?" not in question and not re.match(r"\s*(?:what|which|where|when|how)\b", question):
            continue
        kinds = {kind for kind, pattern in QUESTION_KINDS.items() if pattern.search(question)}
        direction = "origin" if ORIGIN_PHRASE.search(question) else None
        direction = direction or ("destination" if DESTINATION_PHRASE.search(question) else None)
        if kinds:
            found.append((kinds, direction))
    return found


def asks_wrong_kind(sample: Sample, reply: str) -> bool:
    """The reply's questions all ask for a kind of answer that no requested slot takes: "What city?" for a date,
    "What kind of movie?" for a title, "Where would you like to leave from?" for a hotel's location."""
    requested = [act.slot for act in sample.acts if act.act == "REQUEST" and act.slot and not act.values]
    questions = question_kinds(reply)
    if not requested or not questions:
        return False
    return not any(_fits(slot, kinds, direction) for slot in requested for kinds, direction in questions)


def _fits(slot: str, kinds: set[str], direction: str | None) -> bool:
    kind = slot_kind(slot)
    if kind is None or (kind in ("date", "time") and kinds & {"date", "time"}):
        return True
    if kind not in kinds:
        return False
    if kind == "place" and direction is not None:
        return slot_direction(slot) in (direction, None) and not (direction == "origin" and not slot_direction(slot))
    return True
