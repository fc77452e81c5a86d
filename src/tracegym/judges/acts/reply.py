"""The reply side of the act judge: what a reply states, asks and does, read against the reference.

Values (typed matching from `values.py`, booleans by their cue words and polarity), requests for slots,
hallucinated values, repetition, copying, broken text, hedges between candidates, list shape and wrong offers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tracegym.judges.acts.lexicon import (
    APPROXIMATION,
    BOOLEAN_PHRASES,
    BOOLEAN_SLOT_CUES,
    CHECK_IN,
    CHECK_OUT,
    CLAUSE_SPLIT,
    DANGLING_END,
    INTENT_OFFER,
    LABEL_LINE,
    LIST_CLAUSE_SPLIT,
    LIST_FILLER,
    LIST_ITEM_SPLIT,
    NEGATION,
    NEGATION_SUFFIX,
    OFFER_INTENT_CUES,
    REQ_MORE_ONLY,
    REQUEST_PHRASES,
    SENTENCE_SPLIT,
    SENTENCE_WORDS,
    STRAY_PUNCTUATION,
    WEAK_QUESTION,
    WH_WORDS,
    WORD,
    boolean_cues,
    slot_cues,
)
from tracegym.judges.acts.reference import (
    ValueItem,
    context_entities,
    history_text,
    reference_values,
)
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
from tracegym.samples import Sample


def sentences_of(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_SPLIT.split(text) if s and s.strip()]


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
    said: set[str] = set()
    for sentence in sentences_of(reply.lower()):
        if normalise_text(sentence) in said:
            continue  # "What city? What city?": a question said again asks nothing new (acts-7)
        said.add(normalise_text(sentence))
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
        evidence: dict[str, int] = {}
        for slot in candidate_slots:
            if offer_form and slot not in BOOLEAN_SLOT_CUES and (INTENT_OFFER.search(sentence) or slot not in expected):
                continue  # "Would you like to book it?" offers an intent; it asks for no slot's value
            if not strong and slot not in expected:
                continue
            cues = boolean_cues(slot) if offer_form and slot in BOOLEAN_SLOT_CUES else slot_cues(slot)
            matched = sum(_cue_in(cue, padded, words) for cue in cues)
            if matched and not asks_other_end_of_stay(slot, sentence):
                evidence[slot] = matched
        asked |= _within_capacity(evidence, sentence, expected, asked)
    return asked


def asks_other_end_of_stay(slot: str, sentence: str) -> bool:
    """A question about checking out for the check-in date, or the other way round: both slots share the cue
    "check" ("When will you be checking out?" asked for check_in_date and check_out_date alike). acts-9."""
    checks_in, checks_out = bool(CHECK_IN.search(sentence)), bool(CHECK_OUT.search(sentence))
    if "check_in" in slot:
        return checks_out and not checks_in
    return "check_out" in slot and checks_in and not checks_out


def _within_capacity(evidence: dict[str, int], sentence: str, expected: set[str], asked: set[str]) -> set[str]:
    """The slots one question sentence really asks: as many as it has questions in it (its wh-words, or one plus
    each "and", "or" or comma, whichever is more), requested ones not asked by an earlier sentence first, then those
    with the most cue words. "Where are you leaving from?" holds cues of the origin, the destination and the date,
    but asks one thing."""
    capacity = max(len(WH_WORDS.findall(sentence)), 1 + len(re.findall(r"\b(?:and|or)\b|,", sentence)))
    ranked = sorted(evidence, key=lambda slot: (slot not in expected, slot in asked, -evidence[slot], slot))
    return set(ranked[:capacity])


def _cue_in(cue: str, padded: str, words: list[str]) -> bool:
    cue = normalise_text(cue)
    if " " in cue or len(cue) < 4:
        return f" {cue} " in padded
    return any(word.startswith(cue) for word in words)


def request_options_named(index: ReplyIndex, sample: Sample) -> set[str]:
    """REQUEST acts with values ("Will you be leaving on March 12th?") are answered by naming an option."""
    named: set[str] = set()
    for act in sample.acts:
        if act.act == "REQUEST" and act.values:
            canonicals = list(act.canonical_values or act.values)
            if any(index.mentions(c, list(act.values)) for c in canonicals):
                named.add(act.slot)
    return named


def hallucinated_in(sample: Sample, index: ReplyIndex) -> list[str]:
    """Typed values and context entities the reply states that no reference act and no history turn holds."""
    reference = reference_values(sample)
    history = history_text(sample).lower()
    allowed_times = set(extract_times(history)[0])
    allowed_dates = set(extract_dates(history)[0])
    allowed_numbers = set(extract_numbers(history))
    allowed_text = normalise_text(history)
    # "these two: Body Double and Citizen Kane": how many values an act offers is grounded too (acts-13).
    allowed_numbers.update(float(len(act.values)) for act in sample.acts if len(act.values) > 1)
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


def without_values(text: str, values: Sequence[str]) -> str:
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


def offers_intent(lowered: str, sample: Sample) -> bool:
    """An offer of a new intent: an offering phrase, or a question naming the intent's action ("Buy tickets?")."""
    if OFFER_INTENT_CUES.search(lowered):
        return True
    intents = [v for act in sample.acts if act.act == "OFFER_INTENT" for v in act.values]
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
