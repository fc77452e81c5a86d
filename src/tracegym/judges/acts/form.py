"""The form of a reply, beyond its values: grammar slips, phrases said twice in a row, an "anything else?" the acts
did not plan, and questions whose kind cannot ask for the requested slot.

Each rule is a pattern a person reading the reply would reject (bench/agreement/GUIDELINES.md) and that SGD's
own system turns almost never show: on 3,000 dev references the rules together flag 0.4% (BENCHMARKS.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tracegym.judges.acts.reference import history_text
from tracegym.judges.acts.reply import without_values
from tracegym.samples import Sample

# Nouns SGD's system turns count ("2 tickets", "1 stop"); bed and bath are left out: "a 2 bed apartment" is English.
COUNT_NOUNS = (
    "stop|ticket|seat|day|night|transfer|layover|flight|bus|train|result|song|movie|event|hotel|restaurant|showtime|"
    "option|passenger|adult|attraction|appointment|alarm"
)
CLAUSE_CUT_AFTER_VERB = "a clause cut off after its verb ('and the reservation is for')"
MONTH_WORD = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*"
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
    "two articles ('the the')": re.compile(r"\b(?:the|a|an) (?:the|a|an)\b"),
    "'you're like to'": re.compile(r"\b(?:you're|you are|we're|i'm|they're) like to\b"),
    "article before a possessive ('the your')": re.compile(r"\bthe (?:your|my|our|their)\b"),
    "'there are located'": re.compile(r"\bthere (?:are|is) located\b"),
    "repeated commas": re.compile(r",\s*,"),
    "a gap where a value was left out ('at  pm')": re.compile(r"[a-z,:]\s{2,}[a-z]"),
    "a currency sign with no amount ('$,')": re.compile(r"[$£€](?!\s?\d)"),
    "an ordinal with no number ('March th', 'at th Street')": re.compile(
        rf"\b{MONTH_WORD} (?:st|nd|rd|th)\b|(?<![\w'])(?:th|nd)\b"
    ),
    "a number with the wrong ordinal suffix ('2th', '21th')": re.compile(r"(?<!\d)(?:\d*[02-9])?[123]th\b"),  # acts-8
    "a time with no hour (': pm')": re.compile(r"(?<![\d])\s?:\s?(?:am|pm|a\.m\.|p\.m\.)\b"),
    "a house number with no number ('#,')": re.compile(r"#(?!\s?[a-z0-9])"),
    # acts-10: GRPO's way to end a confirmation, scored 1.0 by acts-9. A copula before the last "for" or "to" tells
    # it from a question without its mark ("the genre you are looking for."); none of SGD's 67,186 system turns
    # ends so. A grammar slip (×0.3), not one more word of DANGLING_END: a dangling end costs ×0.7, which leaves an
    # otherwise right reply at 0.7, accepted, and costing every dangling end more rejects a labelled acceptable
    # "which city to look in".
    CLAUSE_CUT_AFTER_VERB: re.compile(r"\b(?:is|are|was|were|be) (?:for|to|by)(?:\s*[.!,;:])*\s*$"),
}
# Slips people tolerate once ("at most one small slip a reader does not notice", GUIDELINES.md): a small cost keeps
# the reply acceptable but still ranks it below the same reply without the slip, which is all GRPO needs.
MINOR_SLIPS: dict[str, re.Pattern[str]] = {
    "'a' before a vowel ('a appointment')": re.compile(r"\ba (?!one\b|once\b|eu|u)[aeio][a-z]"),
    # acts-7; SGD's own references say "0 layover" and "1 layovers" in 0.8% of dev turns
    "a count that disagrees with its noun ('1 stops', '7 showtime')": re.compile(
        rf"(?<![$\d.,:])\b1 (?:{COUNT_NOUNS})s\b|(?<![$\d.,:])\b(?:0|[2-9]|[1-9]\d+) (?:{COUNT_NOUNS})\b(?!-)"
    ),
}
# acts-7: GRPO learned that "It's a ?" cost only a stray mark's ×0.7. Matched on the reply as written: a capital
# "A," or "A." is a name's initial ("Bower Rosemary A, a psychologist").
ARTICLE_BEFORE_MARK = re.compile(r"\b(?:a|an|the)\s*(?:[?!,;:]|\.(?!m\.))")
REPEAT_WORD = re.compile(r"[a-z']+|\d[\d:.,]*")
REQ_MORE_PHRASE = re.compile(r"\b(?:anything else|help you with anything|can i help|assist you with anything)\b")
WORD_REPEATS_ALLOWED = {"that", "had", "bye"}
CLAUSE_BREAK = re.compile(r"[.?!,;:]|\b(?:and|or|but)\b")


# acts-11: GRPO's students end confirmations and offers on a preposition ("Would you like to book a ticket for",
# "… on March 13th at 12 pm for") and acts-10 scored them 1.0. A sentence that asks, or says what the user looks
# for, may end so ("Tell me the genre you are looking for."); 5 of SGD's 19,384 dev references end so otherwise.
ENDS_ON_PREPOSITION = re.compile(r"\b(?:for|to|from|with|by|of|in|on|at)(?:\s*[.!,;:])*\s*$")
MAY_END_ON_PREPOSITION = re.compile(
    r"\b(?:what|which|where|when|who|whom|how|whose|let me know|tell me|anything|something|help|assist|else|"
    r"allowed|go to|free to|interested|looking|search\w*)\b"
)


def grammar_slips(reply: str) -> list[str]:
    """The names of the slips the reply makes."""
    found = _slips(GRAMMAR_SLIPS, reply)
    found += ["an article right before a mark ('It's a ?')"] * bool(ARTICLE_BEFORE_MARK.search(reply))
    return found + ["a sentence cut off on a preposition ('a ticket for')"] * cut_off_on_preposition(reply)


def cut_off_on_preposition(reply: str) -> bool:
    """The reply's last sentence stops on a preposition and neither asks nor says what the user looks for."""
    lowered = reply.lower().rstrip()
    if lowered.endswith("?") or not ENDS_ON_PREPOSITION.search(lowered):
        return False
    last = re.split(r"(?<=[.?!])\s+", lowered)[-1]
    return not MAY_END_ON_PREPOSITION.search(last) and not GRAMMAR_SLIPS[CLAUSE_CUT_AFTER_VERB].search(lowered)


# acts-7: GRPO learned that a value-less run of digits ("It's a San Jose 6000000000000000000000000") cost nothing
NOISE_RUN = re.compile(r"([a-z0-9])\1{4,}|([a-z]{2})\2{3,}")


def noise_runs(sample: Sample, reply: str) -> list[str]:
    """A character said five times or more in a row, or a pair four times ("1111111", "1ststststst"), outside the
    acts' own values: what a student writes once it has lost the thread. SGD's references: 2 of 67,186 turns."""
    text = without_values(reply, [value for act in sample.acts for value in act.values]).lower()
    return ["a run of one character or pair ('1111111', 'ststst')"] * bool(NOISE_RUN.search(text))


# acts-12: an ordinal that numbers no day, pasted where a value was ("It's in 1st.", "It costs 6th.", "8:30 am is a
# 1 of 1st"). "6th" is no number to the value matcher, so nothing else sees it; acts-11 scored such replies 1.0.
ORDINAL = re.compile(r"(?<![\w.])\d+(?:st|nd|rd|th)\b")
DAY_BEFORE_ORDINAL = re.compile(rf"\b(?:{MONTH_WORD}\.?|the)\s+$")
DAY_OR_PLACE_AFTER_ORDINAL = re.compile(rf"\s+(?:of\s+)?{MONTH_WORD}\.?|\s+(?:street|st|avenue|ave|floor|century)\b")


def stray_ordinals(sample: Sample, reply: str) -> list[str]:
    """An ordinal outside the acts' values that is no day ("March 1st", "the 5th") and no street ("21st Street").
    None of SGD's 19,384 dev references has one."""
    text = without_values(reply, [value for act in sample.acts for value in act.values]).lower()
    stray = any(
        not DAY_BEFORE_ORDINAL.search(text[: match.start()])
        and not DAY_OR_PLACE_AFTER_ORDINAL.match(text[match.end() :])
        for match in ORDINAL.finditer(text)
    )
    return ["an ordinal that numbers no day ('It's in 1st.')"] * stray


BOOLEAN_WORD = re.compile(r"\b(?:true|false)\b")


def raw_booleans(sample: Sample, reply: str) -> list[str]:
    """The word "True" or "False" where no value or earlier turn has it ("No, it is a False.", "You want True
    ticket"): a boolean value pasted in, not said. None of SGD's 19,384 dev references does it. acts-11."""
    context = " ".join(
        [*(v for act in sample.acts for v in act.values if v not in ("True", "False")), history_text(sample)]
    )
    said = set(BOOLEAN_WORD.findall(reply.lower())) - set(BOOLEAN_WORD.findall(context.lower()))
    return ["a boolean pasted in as 'True' or 'False'"] * bool(said)


def minor_slips(reply: str) -> list[str]:
    """The names of the small slips the reply makes (MINOR_SLIPS)."""
    return _slips(MINOR_SLIPS, reply)


def _slips(patterns: dict[str, re.Pattern[str]], reply: str) -> list[str]:
    lowered = reply.lower()
    return [name for name, pattern in patterns.items() if pattern.search(lowered)]


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
    clauses = [" ".join(REPEAT_WORD.findall(c)) for c in CLAUSE_BREAK.split(reply.lower())]
    clauses = [c for c in clauses if len(c.split()) >= 3]
    phrases += len(clauses) - len(set(clauses))  # acts-8: "Where are you going and where are you going?"
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
RETURN_PHRASE = re.compile(r"\b(?:return\w*|back|inbound)\b")
RETURN_SLOT = re.compile(r"return|inbound")
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


def is_question(sentence: str) -> bool:
    return "?" in sentence or bool(re.match(r"\s*(?:what|which|where|when|how)\b", sentence))


def question_sentences(lowered: str) -> list[str]:
    """The sentences of a lowercased reply that ask something: with a "?", or opening with a wh-word."""
    return [sentence for sentence in re.split(r"(?<=[?.!])\s+", lowered) if is_question(sentence)]


def kinds_asked(text: str) -> set[str]:
    """The kinds of answer a question (or a part of one) asks for."""
    return {kind for kind, pattern in QUESTION_KINDS.items() if pattern.search(text)}


def question_kinds(reply: str) -> list[tuple[set[str], str | None]]:
    """For each question of the reply: the kinds of answer it asks for, and its direction (return / origin /
    destination)."""
    found: list[tuple[set[str], str | None]] = []
    for question in question_sentences(reply.lower()):
        kinds = kinds_asked(question)
        direction = "return" if RETURN_PHRASE.search(question) else None
        direction = direction or ("origin" if ORIGIN_PHRASE.search(question) else None)
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
    if RETURN_SLOT.search(slot) and direction == "origin":
        return False  # "When would you like to leave?" for the return date (acts-7)
    kind = slot_kind(slot)
    if kind is None or (kind in ("date", "time") and kinds & {"date", "time"}):
        return True
    if kind not in kinds:
        return False
    if kind == "place" and direction in ("origin", "destination"):
        return slot_direction(slot) in (direction, None) and not (direction == "origin" and not slot_direction(slot))
    return True


QUESTION_PART = re.compile(r",\s*|\s+(?:and|or)\s+")
ASKS_WITHOUT_QUESTION = re.compile(r"\b(?:please|tell me|let me know|need to know|specify)\b")
WH_WORD = re.compile(r"\b(?:what|which|when|where|who|whom|how)\b")


def question_part_kinds(reply: str) -> list[set[str]] | None:
    """The kinds each wh-part of the reply's questions asks for ("When do you want to pick it up and when will you
    return it?": two date/time parts), or None when some request is beyond this reading: a question part of more
    than two words with no wh-word ("do you have a preferred city?"), a wh-part of no known kind, or a request
    that is no question ("Please tell me the city")."""
    parts: list[set[str]] = []
    for sentence in re.split(r"(?<=[?.!])\s+", reply.lower()):
        if not is_question(sentence):
            if ASKS_WITHOUT_QUESTION.search(sentence):
                return None
            continue
        for part in QUESTION_PART.split(sentence):
            if not WH_WORD.search(part):
                if len(re.findall(r"[a-z']+", part)) > 2:
                    return None
                continue
            kinds = kinds_asked(part)
            if not kinds:
                return None
            parts.append(kinds)
    return parts


def requests_of_unasked_kind(sample: Sample, reply: str) -> list[str]:
    """Requested slots of a known kind (a place, a date, a time, a count, a kind) that no part of the reply's
    questions asks for, when every part's kind is known: "When do you want to pick it up and when will you return
    the car?" asks two dates and no pickup city, though "pick it up" holds the city slot's cue words (acts-15)."""
    requested = [act.slot for act in sample.acts if act.act == "REQUEST" and act.slot and not act.values]
    parts = question_part_kinds(reply) if requested else None
    if not parts:
        return []
    return [
        slot
        for slot in requested
        if slot_kind(slot) in QUESTION_KINDS and not any(_fits(slot, kinds, None) for kinds in parts)
    ]


# "The phone number is 1400 North Dutton Avenue": a value said as the value of another slot of the service. The
# label is the one or two words right before a copula that comes right before the value ("the phone number is"),
# a hedge allowed between them (acts-14: "the humidity is expected to be around <the wind speed>");
# a slot is named by the words of its name (generic ones left out) or by one of these groups of synonyms. Words of
# the value's own slot near it ("the date of the event is", "rooms are $99 per night") clear it.
LABEL_BEFORE_VALUE = re.compile(
    r"(?P<context>(?:[a-z']+\s+){0,2}?)(?:(?P<first>[a-z']+)\s+)?(?P<last>[a-z']+)\s+"
    r"(?:is|are|was|will be|would be)\s+(?:(?:expected|going|likely)\s+to\s+be\s+)?"
    r"(?:(?:around|about|approximately|roughly|nearly|almost)\s+)?$"
)
NOT_A_LABEL = frozenset({"and", "or", "but", "it", "that", "which", "this", "there", "what", "who", "so", "also"})
GENERIC_SLOT_WORDS = frozenset({"name", "number", "of", "type", "new", "is", "to", "from", "the", "a", "for", "at"})
SLOT_WORD_GROUPS = (
    frozenset({"price", "cost", "costs", "fare", "total", "amount", "rent", "balance", "charge"}),
    frozenset({"phone", "telephone"}),
    frozenset({"address", "located", "location"}),
    frozenset({"rating", "rated"}),
)


def slot_words(slot: str) -> frozenset[str]:
    """The words that name `slot` in a reply: those of its name but generic ones, with their synonym groups."""
    own = {word for word in slot.lower().split("_") if word not in GENERIC_SLOT_WORDS}
    for group in SLOT_WORD_GROUPS:
        if own & group:
            own |= group
    return frozenset(own)


def mislabelled_values(sample: Sample, reply: str) -> list[str]:
    """Values the reply gives as another slot's ("The phone number is <the address>", "The average temperature
    will be <the wind speed>"), each as `slot=value (said as other_slot)`; (acts-7) values equated with another
    ("11:30 am is a $25") or said as a departure time ("leaves at Delta Airlines"); and (acts-11) bare numbers
    said with no word of their role ("It's in 6.9?" for a rating).

    Left alone, for precision: values of slots that name the entity (a name or title: "A good option is Sino"),
    and labels that are the service's own entity ("The flight will be $330" in Flights, "The event is football")."""
    if sample.schema is None:
        return []
    entity = sample.service.split("_")[0].lower().rstrip("s")
    words_of = {slot.name: slot_words(slot.name) for slot in sample.schema.slots}
    lowered = joined_compounds(reply.lower())
    found = []
    for act in sample.acts:
        if act.act not in ("INFORM", "OFFER", "CONFIRM") or not act.slot or _names(act.slot):
            continue
        own = words_of.get(act.slot) or slot_words(act.slot)
        for value in act.values:
            label, near = _label_before(lowered, joined_compounds(value.lower()))
            label -= {entity}
            if not label:
                continue
            # acts-9: a word only the other slot has names it ("the drop-off date is <the pickup date>"); a word
            # both share ("date") clears nothing, and only a word only the value's own slot has clears it.
            others = sorted(
                slot
                for slot, words in words_of.items()
                if slot != act.slot and label & (words - own) and not near & (own - words) and not _names(slot)
            )
            if others:
                found.append(f"{act.slot}={value} (said as {others[0]})")
            elif (direction := label_direction(label)) and slot_direction(act.slot) not in (direction, None):
                found.append(f"{act.slot}={value} (said as the {direction})")  # acts-9: "The destination is <from>"
    for check in (
        equated_values,
        departure_non_times,
        wrong_units,
        values_in_other_units,
        costs_of_non_prices,
        found_non_counts,
        numbers_without_role,
        counts_before_values,
    ):
        found += check(sample, lowered)
    return found


# acts-9: "drop-off" and "pick up" as one word, so a label holds them whole
COMPOUNDS = ((re.compile(r"\bdrop[- ]off\b"), "dropoff"), (re.compile(r"\bpick[- ]up\b"), "pickup"))
ORIGIN_LABELS = frozenset({"origin", "departure", "departing", "leaving", "pickup"})
DESTINATION_LABELS = frozenset({"destination", "arrival", "arriving", "dropoff"})


def joined_compounds(text: str) -> str:
    for pattern, joined in COMPOUNDS:
        text = pattern.sub(joined, text)
    return text


def label_direction(label: set[str]) -> str | None:
    """The end of a trip a label names ("the origin station", "the destination"), if it names exactly one."""
    origin, destination = bool(label & ORIGIN_LABELS), bool(label & DESTINATION_LABELS)
    if origin == destination or label & {"and", "or"}:  # "The origin and destination will be …" names both
        return None
    return "origin" if origin else "destination"


CURRENCY_SIGNS = ("$", "£", "€")
PRICE_SLOT = re.compile(r"price|fare|cost|amount|balance|rent|total|fee")
TIME_AND_COUNT_UNITS = (
    r"minutes?|hours?|days?|nights?|people|persons?|stops?|seats?|stars?|percent|transfers|passengers"
)
# What a date or a clock time never counts: "a table for 1 for today people", "1 ticket for March 10th days" (acts-16);
# singular "day" and "night" are left out ("tomorrow night", "10:30 am day after tomorrow" in SGD's references).
DATE_AND_TIME_UNITS = r"people|persons?|transfers|stops?|seats?|rooms?|days|nights|passengers"


def values_in_other_units(sample: Sample, lowered: str) -> list[str]:
    """An amount of money followed by a unit of time or count ("it will be there in $14.18 minutes", acts-9; "has
    $24 transfers", acts-16), or a date or clock time followed by a count ("for today people", acts-16)."""
    found = []
    for slot, value in _stated_items(sample):
        if value.startswith(CURRENCY_SIGNS):
            units = TIME_AND_COUNT_UNITS
        elif slot_kind(slot) in ("date", "time") and not re.fullmatch(r"\d+", value):
            units = DATE_AND_TIME_UNITS
        else:
            continue
        if match := re.search(rf"(?<!\w){re.escape(value)}\s+({units})\b", lowered):
            found.append(f"{slot}={value} (said in {match.group(1)})")
    return found


def found_non_counts(sample: Sample, lowered: str) -> list[str]:
    """A number of another slot said as how many results there are: "I found 95 movies" (95 is the rating), on a
    turn that informs the count. acts-9."""
    counts = result_counts(sample)
    if not counts:
        return []
    return [
        f"{slot}={value} (said as the count)"
        for slot, value in _stated_items(sample)
        if value not in counts
        and re.fullmatch(r"\d+(?:\.\d+)?", value)
        and re.search(rf"\bfound\s+{re.escape(value)}(?![\w:.,])", lowered)
    ]


def result_counts(sample: Sample) -> set[str]:
    """The values of the turn's INFORM_COUNT acts (how many results there are), lowercased."""
    return {value.lower() for act in sample.acts if act.act == "INFORM_COUNT" for value in act.values}


def costs_of_non_prices(sample: Sample, lowered: str) -> list[str]:
    """A value of a slot that is no price said as what something costs: "and will cost 3" (3 is the wait in
    minutes). acts-9."""
    return [
        f"{slot}={value} (said as a price)"
        for slot, value in _stated_items(sample)
        if not PRICE_SLOT.search(slot)
        and not value.startswith(CURRENCY_SIGNS)
        and re.search(rf"\bcosts?\s+(?:you\s+|only\s+|about\s+|around\s+)?{re.escape(value)}(?![\w:])", lowered)
    ]


def _stated_items(sample: Sample) -> list[tuple[str, str]]:
    return [
        (act.slot, value.lower())
        for act in sample.acts
        if act.act in ("INFORM", "OFFER", "CONFIRM") and act.slot
        for value in act.values
        if value.strip()
    ]


def equated_values(sample: Sample, lowered: str) -> list[str]:
    """A clause that says one value is another slot's value: "11:30 am is a $25" (a time is a price); "the balance
    from your savings is $20" is not such a clause. A name on either side is
    left alone: "Sino is a 4 star hotel" gives the entity a property, "One landmark is The Gherkin" names it. acts-7."""
    items = _stated_items(sample)
    return [
        f"{slot}={value} (said to be {other}={other_value})"
        for slot, value in items
        if not _names(slot)
        for other, other_value in items
        if other != slot
        and not _names(other)
        and re.search(
            rf"(?:^|[.?!,;]\s*|\band\s+){re.escape(value)}\s+(?:is|are|was|will be)\s+(?:a\s+|an\s+|the\s+)?"
            rf"{re.escape(other_value)}(?![\w:])",
            lowered,
        )
    ]


# acts-12: "I found 8 $46", "You have 8 6:20 am which …", "I found 2 Wake up.": the count of results followed by
# another value, with nothing said of what it counts. A value that names the kind ("1 Delta Airlines flight",
# "10 3 star hotels") goes on to its noun; these stop at a mark or a new clause. 1 of SGD's 19,384 dev references.
AFTER_COUNTED_VALUE = r"(?=\s*(?:[.,?!;]|$|\b(?:and|which|it|is|are|was|will)\b))"
SOME_NUMBER = r"[$£€]?\d[\d,.:]*(?:\s?[ap]\.?m\.?)?"


def counts_before_values(sample: Sample, lowered: str) -> list[str]:
    """The count of an INFORM_COUNT said right before another value or a number that ends its phrase."""
    counts = result_counts(sample)
    if not counts:
        return []
    others = sorted({value for _, value in _stated_items(sample) if value not in counts}, key=len, reverse=True)
    value_next = "|".join([SOME_NUMBER, *map(re.escape, others)])
    return [
        f"count={count} (followed by a value, not what it counts)"
        for count in sorted(counts)
        if re.search(rf"(?<![\w$.:,#-]){re.escape(count)}\s+(?:{value_next}){AFTER_COUNTED_VALUE}", lowered)
    ]


# acts-12: a clock time after "on" or "in" ("an appointment at next Thursday on 4:30 pm"), a date after "at" ("at
# next Thursday", "at March 12th"). People let one pass as often as not; SGD's own references make one in 15 of
# 19,384 dev turns ("drop it off at March 12th"). So each costs a little (ActsWeights.wrong_preposition_factor),
# and two in one reply put it below 0.7.
WRONG_PREPOSITIONS = {"time": ("on", "in"), "date": ("at",)}


def wrong_prepositions(sample: Sample, reply: str) -> list[str]:
    """Each value of the acts said after a preposition its kind does not take."""
    lowered = reply.lower()
    found = []
    for slot, value in _stated_items(sample):
        kind = value_time_or_date(slot, value)
        if kind is None:
            continue
        preposition = re.search(rf"\b({'|'.join(WRONG_PREPOSITIONS[kind])})\s+{re.escape(value)}(?![\w:])", lowered)
        if preposition:
            found.append(f"{slot}={value} (a {kind} after '{preposition.group(1)}')")
    return found


def value_time_or_date(slot: str, value: str) -> str | None:
    """The kind a preposition must fit: "time" for a clock time, "date" for a date slot's value that is more than a
    number, else None."""
    if CLOCK_TIME.match(value):
        return "time"
    return "date" if slot_kind(slot) == "date" and not re.fullmatch(r"[\d.]+", value) else None


# A unit right after a count or a clock time names what it is; each unit belongs to the slots whose names match.
UNITS: Sequence[tuple[str, str, re.Pattern[str]]] = (
    ("percent", r"percent|%", re.compile(r"humid|precip|rating|percent|chance|rain")),
    ("miles per hour", r"miles per hour|miles an hour|mph", re.compile(r"wind|speed")),
    ("days", r"days?(?! after)|nights?", re.compile(r"day|night|stay|duration|length|transfer_time")),
    (
        "people",
        r"people|persons?|seats|tickets|travell?ers|passengers|adults|guests",
        re.compile(r"seat|people|person|travel|passeng|adult|ticket|guest|party|group|rider|size"),
    ),
    ("stops", r"stops|transfers|layovers", re.compile(r"stop|transfer|layover")),
    ("stars", r"stars", re.compile(r"star|rating")),
)
CLOCK_TIME = re.compile(r"^\d{1,2}(?::\d\d)?\s?(?:am|pm)$|^\d{1,2}:\d\d$")


def wrong_units(sample: Sample, lowered: str) -> list[str]:
    """A count or a clock time followed by another kind's unit: "the humidity is 23 miles per hour", "a reservation
    for 3 days" (3 is the party size), "for 7 pm days". Left alone: a value and unit the conversation itself says
    ("1 day" when the user asked for one day and one room), and the values 0 and 1. acts-8."""
    history = history_text(sample).lower()
    return [
        f"{slot}={value} (said in {name})"
        for slot, value in _stated_items(sample)
        if value not in ("0", "1")  # "1 day" and "1 room" in one booking: a one is everyone's
        and (slot_kind(slot) == "count" or CLOCK_TIME.match(value) or re.fullmatch(r"\d+", value))
        for name, unit, owners in UNITS
        if not owners.search(slot)
        and (match := re.search(rf"(?<![\w$]){re.escape(value)}\s+(?:{unit})(?!\w)", lowered))
        and match.group(0) not in history
    ]


DEPARTS_AT = r"\b(?:leaves|leave|leaving|departs|depart|departing|arrives|arrive|arriving)\s+at\s+"


def departure_non_times(sample: Sample, lowered: str) -> list[str]:
    """A value that is not a time, date or place said as when something leaves: "a flight that leaves at Delta
    Airlines". acts-7."""
    return [
        f"{slot}={value} (said as a departure time)"
        for slot, value in _stated_items(sample)
        if slot_kind(slot) not in ("time", "date", "place")
        and re.search(rf"{DEPARTS_AT}{re.escape(value)}(?![\w:])(?!\s*(?:am|pm|a\.m|p\.m|o'clock))", lowered)
    ]


def _names(slot: str) -> bool:
    """A slot that names the entity (`song_name`, `movie_title`): "The song is country" gives the song a property,
    it does not call the genre a song."""
    return slot.endswith("name") or "title" in slot


def _label_before(lowered: str, value: str) -> tuple[set[str], set[str]]:
    """For the first mention of `value` that follows "<label> is": the label's words (the two before the copula)
    and the words near the value (up to four before it and three after); empty sets when no mention does."""
    if not value.strip():
        return set(), set()
    for match in re.finditer(rf"(?<![\w$]){re.escape(value)}(?!\w)", lowered):
        before = LABEL_BEFORE_VALUE.search(lowered[: match.start()])
        if before is None or before["last"] in NOT_A_LABEL:
            continue
        label = {word for word in (before["first"], before["last"]) if word}
        after = re.findall(r"[a-z']+", lowered[match.end() :])[:3]
        return label, set(before["context"].split()) | label | set(after)
    return set(), set()


# acts-11: a bare number names nothing by itself. "It's in 6.9?" (a rating), "a Luxury ride to 2" (the riders),
# "Booking a table … on 2 at 7:15 pm" (the party) all scored 1.0 under acts-10 and people reject them. Each number
# slot is named by its own words (slot_words), its units (UNITS) or these.
ROLE_WORDS: Sequence[tuple[re.Pattern[str], tuple[str, ...]]] = (
    (re.compile(r"duration|wait|minutes"), ("minute", "min", "hour")),
    (re.compile(r"rating|star"), ("star", "rate", "rating", "score", "review")),
    (re.compile(r"humid|precip|percent"), ("percent", "%", "chance")),
    (re.compile(r"wind"), ("mile", "mph")),
    (re.compile(r"day|stay|night"), ("day", "night")),
    (re.compile(r"room"), ("room",)),
    (re.compile(r"bed"), ("bed",)),
    (re.compile(r"bath"), ("bath",)),
    (re.compile(r"stop|transfer|layover"), ("stop", "transfer", "layover", "lay over", "connection", "direct")),
    (re.compile(r"seat|people|person|travel|passeng|adult|ticket|guest|party|group|rider|size"), ("party",)),
)
# "a table for 2", "2 for dinner at …": a head count may stand next to "for" alone
FOR_COUNT_SLOT = re.compile(r"seat|people|person|travel|passeng|adult|ticket|guest|party|group|rider|size|room")
BARE_NUMBER = re.compile(r"\d+(?:\.\d+)?")
YEAR = re.compile(r"(?:19|20)\d\d")
ROLE_CLAUSE_BREAK = re.compile(r"[.?!;,](?:\s|$)|\b(?:but|with)\b")


def role_stems(slot: str) -> frozenset[str]:
    """Word beginnings that name what a number of `slot` counts or measures."""
    stems = {word.rstrip("s") for word in slot_words(slot) if len(word) >= 3}
    for _, unit, owners in UNITS:
        if owners.search(slot):
            stems |= {word.rstrip("s") for word in re.sub(r"\(.*?\)|\?", "", unit).split("|") if word}
    for owners, words in ROLE_WORDS:
        if owners.search(slot):
            stems |= set(words)
    return frozenset(stems)


def numbers_without_role(sample: Sample, lowered: str) -> list[str]:
    """Bare numbers (a count, a rating, a wait) that no mention places in its role: no word of the slot within the
    mention's clause, no "for" next to a head count, no "a" before a decimal rating ("It's a 6.9 movie"). Left
    alone: the temperature ("It will be 86 with …" is how SGD's references say it), years, and names. SGD's dev
    references are flagged in 0.2% of turns, mostly terse or misspelt ones ("4 to San Francisco via Fresno", "0 layers")."""
    items = _stated_items(sample)
    found = []
    for slot, value in items:
        if _names(slot) or "temp" in slot or not BARE_NUMBER.fullmatch(value) or YEAR.fullmatch(value):
            continue
        text = lowered
        for other in sorted({v for _, v in items if v != value and re.search(rf"(?<![\w.]){re.escape(value)}\b", v)}):
            text = text.replace(other, " § ")  # "1 Hotel Central Park" does not mention one room
        mentions = list(re.finditer(rf"(?<![\w$.:,#-]){re.escape(value)}(?![\w:]|[.,]\d)", text))
        if not mentions:
            continue
        stems = role_stems(slot)
        if not any(_in_role(text, mention, slot, value, stems) for mention in mentions):
            found.append(f"{slot}={value} (no word of its role)")
    return found


def _in_role(text: str, mention: re.Match[str], slot: str, value: str, stems: frozenset[str]) -> bool:
    head = ROLE_CLAUSE_BREAK.split(text[: mention.start()])[-1]
    tail = ROLE_CLAUSE_BREAK.split(text[mention.end() :])[0]
    before = re.findall(r"[a-z']+|%", head)[-8:]
    near = " ".join(before + re.findall(r"[a-z']+|%", tail)[:4])
    if any(re.search(rf"(?<![a-z']){re.escape(stem)}", near) for stem in stems):
        return True
    if FOR_COUNT_SLOT.search(slot) and (before[-1:] == ["for"] or re.match(r"\s+for\b", text[mention.end() :])):
        return True
    return bool(re.search(r"rating|star", slot)) and "." in value and before[-1:] in (["a"], ["an"])
