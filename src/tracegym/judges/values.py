"""Typed value extraction and normalisation for the act-grounded judge.

A reply "mentions" a reference value when they agree as values, not as strings: "half past 6 in the evening"
is 18:30, "tomorrow" is 2019-03-02 (SGD's dates are relative to Friday 2019-03-01), "$2,800" is 2800, "two" is 2,
"4.8" is 4.80. Everything else is compared as normalised text, against both the canonical and the surface form.

    >>> index = ReplyIndex.of("Your table for two is at half past 6 in the evening tomorrow.")
    >>> index.times, index.dates, sorted(index.numbers)
    ({'18:30'}, {'2019-03-02'}, [2.0, 6.0])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

ANCHOR_DATE = date(2019, 3, 1)  # SGD's "today": a Friday

NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
}
ORDINAL_WORDS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "thirtieth": 30,
}
MONTHS = {
    name: index
    for index, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
WEEKDAYS = {"monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6}

_HOUR_WORD = "|".join(sorted((w for w, n in NUMBER_WORDS.items() if 1 <= n <= 12), key=len, reverse=True))
_HOUR = rf"(\d{{1,2}}|{_HOUR_WORD})"
_PART_OF_DAY = r"(?:\s+(?:in\s+the\s+|at\s+)?(morning|afternoon|evening|night|tonight))?"
_MERIDIEM = r"\s*(a\.?\s?m\.?|p\.?\s?m\.?)(?![a-z])"  # not the "am" of "4 American"

TIME_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(noon|midday)\b"), "noon"),
    (re.compile(r"\bmidnight\b"), "midnight"),
    (re.compile(rf"\bhalf\s+past\s+{_HOUR}(?:\s*o'?\s?clock)?(?:{_MERIDIEM})?{_PART_OF_DAY}"), "half"),
    (re.compile(rf"\bquarter\s+past\s+{_HOUR}(?:\s*o'?\s?clock)?(?:{_MERIDIEM})?{_PART_OF_DAY}"), "quarter_past"),
    (re.compile(rf"\bquarter\s+to\s+{_HOUR}(?:\s*o'?\s?clock)?(?:{_MERIDIEM})?{_PART_OF_DAY}"), "quarter_to"),
    (re.compile(rf"\b(\d{{1,2}}):(\d{{2}})(?:{_MERIDIEM})?{_PART_OF_DAY}"), "clock"),
    (re.compile(rf"\b{_HOUR}(?:\s*o'?\s?clock)?{_MERIDIEM}{_PART_OF_DAY}"), "hour_meridiem"),
    (re.compile(rf"\b{_HOUR}\s*o'?\s?clock{_PART_OF_DAY}"), "oclock"),
    (re.compile(rf"\b{_HOUR}\s+(?:in\s+the\s+|at\s+)(morning|afternoon|evening|night)\b"), "hour_part"),
)

_DAY_NUMBER = r"(\d{1,2})(?:st|nd|rd|th)?"
_ORDINAL = "|".join(sorted(ORDINAL_WORDS, key=len, reverse=True))
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
DATE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(20\d\d)-(\d{1,2})-(\d{1,2})\b"), "iso"),
    (re.compile(rf"\b({_MONTH})\.?\s+(?:the\s+)?(?:{_DAY_NUMBER}|({_ORDINAL}))\b"), "month_day"),
    (re.compile(rf"\b(?:the\s+)?(?:{_DAY_NUMBER}|({_ORDINAL}))\s+(?:of\s+)?({_MONTH})\b"), "day_month"),
    (re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b"), "slash"),
    (re.compile(r"\bday\s+after\s+tomorrow\b"), "after_tomorrow"),
    (re.compile(r"\btomorrow\b"), "tomorrow"),
    (re.compile(r"\b(today|tonight)\b"), "today"),
    (
        re.compile(r"\b(next\s+week\s+)?(monday|tuesday|wednesday|thursday|friday|saturday|sunday)(\s+next\s+week)?\b"),
        "weekday",
    ),
    # Only an ordinal is a day on its own: "the 12th" is a date, "the 12:30 pm" and "the 5 on 5" are not. An ordinal
    # word is one only after a preposition of time: "on the first" is a date, "the first is Sino" (acts-13) is not.
    (
        re.compile(
            rf"\b(?:the\s+(\d{{1,2}})(?:st|nd|rd|th)|(?:on|for|by|until|till|from|before|after|since)\s+the\s+"
            rf"({_ORDINAL}))\b(?!\s+(?:of\s+)?(?:{_MONTH}))"
        ),
        "bare_day",
    ),
)

NUMBER_PATTERN = re.compile(r"(?<![\w.])\$?\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\w])")
NUMBER_WORD_PATTERN = re.compile(
    r"\b("
    + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
    + r")(?:[\s-](one|two|three|four|five|six|seven|eight|nine))?\b"
)
PHONE_PATTERN = re.compile(r"\+?\d[\d\s().-]{7,}\d")
BOOLEAN_VALUES = {"true", "false"}


def normalise_text(text: str) -> str:
    """Lowercase, '&' → 'and', punctuation → spaces, single spaces; used for every text comparison."""
    text = text.lower().replace("&", " and ").replace("'s", "s").replace("’s", "s")
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def _hour_of(token: str) -> int:
    return int(token) if token.isdigit() else NUMBER_WORDS[token]


def _apply_day_part(hour: int, minute: int, meridiem: str | None, part: str | None) -> list[str]:
    """HH:MM candidates: a bare "7:30" may be morning or evening, so it yields both."""
    if meridiem:
        is_pm = meridiem.replace(".", "").replace(" ", "").startswith("p")
        hour = hour % 12 + (12 if is_pm else 0)
        return [f"{hour:02d}:{minute:02d}"] if hour < 24 else []
    if part:
        if part == "morning":
            hour = hour % 12
        elif part == "night" and hour == 12:
            hour = 0
        elif hour < 12:
            hour += 12
        return [f"{hour:02d}:{minute:02d}"] if hour < 24 else []
    if hour > 23 or minute > 59:
        return []
    if 1 <= hour <= 12:
        return [f"{hour % 12:02d}:{minute:02d}", f"{hour % 12 + 12:02d}:{minute:02d}"]
    return [f"{hour:02d}:{minute:02d}"]


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def extract_times(text: str) -> tuple[set[str], list[Span]]:
    """Every time the (lowercased) text states, as HH:MM, and where it stated them."""
    return _values_without_overlap(text, TIME_PATTERNS, _times_of_match)


def _values_without_overlap(
    text: str, patterns: Iterable[tuple[re.Pattern[str], str]], values_of: Callable[[re.Match[str], str], list[str]]
) -> tuple[set[str], list[Span]]:
    """The values the patterns find, in pattern order; a match overlapping an earlier kept one is skipped."""
    values: set[str] = set()
    spans: list[Span] = []
    for pattern, kind in patterns:
        for match in pattern.finditer(text):
            span = Span(match.start(), match.end())
            if any(s.start <= span.start < s.end or span.start <= s.start < span.end for s in spans):
                continue
            found = values_of(match, kind)
            if found:
                values.update(found)
                spans.append(span)
    return values, spans


def _times_of_match(match: re.Match[str], kind: str) -> list[str]:
    groups = match.groups()
    if kind == "noon":
        return ["12:00"]
    if kind == "midnight":
        return ["00:00"]
    if kind in ("half", "quarter_past", "quarter_to"):
        hour = _hour_of(groups[0])
        minute = {"half": 30, "quarter_past": 15, "quarter_to": 45}[kind]
        if kind == "quarter_to":
            hour = hour - 1 if hour > 1 else 12
        return _apply_day_part(hour, minute, groups[1], groups[2])
    if kind == "clock":
        return _apply_day_part(int(groups[0]), int(groups[1]), groups[2], groups[3])
    if kind == "hour_meridiem":
        return _apply_day_part(_hour_of(groups[0]), 0, groups[1], groups[2])
    if kind == "oclock":
        return _apply_day_part(_hour_of(groups[0]), 0, None, groups[1])
    if kind == "hour_part":
        return _apply_day_part(_hour_of(groups[0]), 0, None, groups[1])
    return []


def _iso(day: date) -> str:
    return day.isoformat()


def _safe_date(year: int, month: int, day: int) -> str | None:
    try:
        return _iso(date(year, month, day))
    except ValueError:
        return None


def _day_of(digits: str | None, ordinal: str | None) -> int:
    return int(digits) if digits else ORDINAL_WORDS[ordinal or ""]


def extract_dates(text: str, *, include_today: bool = True) -> tuple[set[str], list[Span]]:
    """Every date the (lowercased) text states, as YYYY-MM-DD anchored at Friday 2019-03-01."""
    patterns = [(pattern, kind) for pattern, kind in DATE_PATTERNS if include_today or kind != "today"]
    return _values_without_overlap(text, patterns, _dates_of_match)


def _dates_of_match(match: re.Match[str], kind: str) -> list[str]:
    groups = match.groups()
    year = ANCHOR_DATE.year
    found: list[str | None] = []
    if kind == "iso":
        found = [_safe_date(int(groups[0]), int(groups[1]), int(groups[2]))]
    elif kind == "month_day":
        found = [_safe_date(year, MONTHS[groups[0]], _day_of(groups[1], groups[2]))]
    elif kind == "day_month":
        found = [_safe_date(year, MONTHS[groups[2]], _day_of(groups[0], groups[1]))]
    elif kind == "slash":
        found = [_safe_date(year, int(groups[0]), int(groups[1]))]
    elif kind == "after_tomorrow":
        found = [_iso(ANCHOR_DATE + timedelta(days=2))]
    elif kind == "tomorrow":
        found = [_iso(ANCHOR_DATE + timedelta(days=1))]
    elif kind == "today":
        found = [_iso(ANCHOR_DATE)]
    elif kind == "weekday":
        ahead = (WEEKDAYS[groups[1]] - ANCHOR_DATE.weekday()) % 7
        found = [_iso(ANCHOR_DATE + timedelta(days=ahead)), _iso(ANCHOR_DATE + timedelta(days=ahead + 7))]
        if ahead == 0:
            found.append(_iso(ANCHOR_DATE + timedelta(days=7)))
    elif kind == "bare_day":
        day = _day_of(groups[0], groups[1])
        found = [_safe_date(year, ANCHOR_DATE.month, day), _safe_date(year, ANCHOR_DATE.month + 1, day)]
    return [d for d in found if d]


def _number_value(whole: str, fraction: str | None) -> float:
    return float(whole.replace(",", "") + (f".{fraction}" if fraction else ""))


def extract_numbers(text: str, *, with_words: bool = True) -> set[float]:
    """Every number the (lowercased) text states: digits, money ("$2,800" → 2800), number words ("two" → 2)."""
    numbers = {_number_value(m.group(1), m.group(2)) for m in NUMBER_PATTERN.finditer(text)}
    if with_words:
        for match in NUMBER_WORD_PATTERN.finditer(text):
            value = NUMBER_WORDS[match.group(1)]
            if match.group(2) and 20 <= value < 100:
                value += NUMBER_WORDS[match.group(2)]
            numbers.add(float(value))
    return numbers


def parse_number(value: str) -> float | None:
    """A value that is a number or an amount of money ("$2,800", "4.80", "2"), else None."""
    text = value.strip().lower()
    match = re.fullmatch(r"\$?\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?:\s*(?:dollars?|usd|%|percent))?", text)
    if match:
        return _number_value(match.group(1), match.group(2))
    if text in NUMBER_WORDS:
        return float(NUMBER_WORDS[text])
    return None


def value_kind(canonical: str) -> str:
    """'bool', 'time', 'date', 'number' or 'text': how a reference value is compared with a reply."""
    text = canonical.strip().lower()
    if text in BOOLEAN_VALUES:
        return "bool"
    if re.fullmatch(r"\d{1,2}:\d{2}", text):
        return "time"
    if re.fullmatch(r"20\d\d-\d{2}-\d{2}", text):
        return "date"
    if parse_number(text) is not None:
        return "number"
    return "text"


def digits_of(text: str) -> str:
    return re.sub(r"\D", "", text)


@dataclass
class ReplyIndex:
    """A text's typed content, computed once: normalised text, times, dates, numbers, phone-like digit runs.

    `free_numbers` are the numbers outside any time, date or phone span: those a reply states as quantities.
    """

    raw: str
    lowered: str
    normalised: str
    padded: str
    times: set[str] = field(default_factory=set)
    dates: set[str] = field(default_factory=set)
    numbers: set[float] = field(default_factory=set)
    free_numbers: set[float] = field(default_factory=set)
    digit_runs: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, text: str) -> ReplyIndex:
        lowered = text.lower()
        normalised = normalise_text(text)
        times, time_spans = extract_times(lowered)
        dates, date_spans = extract_dates(lowered)
        phone_spans = [Span(m.start(), m.end()) for m in PHONE_PATTERN.finditer(lowered)]
        digit_runs = {digits_of(lowered[s.start : s.end]) for s in phone_spans}
        free_text = _blank_spans(lowered, [*time_spans, *date_spans, *phone_spans])
        return cls(
            raw=text,
            lowered=lowered,
            normalised=normalised,
            padded=f" {normalised} ",
            times=times,
            dates=dates,
            numbers=extract_numbers(lowered),
            free_numbers=extract_numbers(free_text),
            digit_runs=digit_runs,
        )

    def has_phrase(self, phrase: str) -> bool:
        """Whether the normalised phrase occurs as whole words."""
        phrase = normalise_text(phrase)
        return bool(phrase) and f" {phrase} " in self.padded

    def mentions(self, canonical: str, surfaces: list[str] = ()) -> bool:
        """Whether the text states the value (canonical or any surface form), compared by its type."""
        kind = value_kind(canonical)
        if kind == "time":
            return canonical.strip().zfill(5) in self.times or any(self.has_phrase(s) for s in surfaces)
        if kind == "date":
            return canonical.strip() in self.dates or any(self.has_phrase(s) for s in surfaces)
        if kind == "number":
            number = parse_number(canonical)
            return number in self.numbers or any(self.has_phrase(s) for s in surfaces)
        return any(self.mentions_text(form) for form in (canonical, *surfaces))

    def mentions_text(self, value: str) -> bool:
        if self.has_phrase(value):
            return True
        digits = digits_of(value)
        if len(digits) >= 7 and digits == digits_of(value.replace(" ", "")) and not re.search(r"[a-z]", value.lower()):
            return digits in self.digit_runs  # phone numbers in any punctuation
        words = normalise_text(value).split()
        if len(words) >= 4:  # long values (addresses, titles): most of their words, in order of appearance
            present = sum(1 for w in words if f" {w} " in self.padded)
            return present / len(words) >= 0.8
        return False


def _blank_spans(text: str, spans: list[Span]) -> str:
    chars = list(text)
    for span in spans:
        for i in range(span.start, span.end):
            chars[i] = " "
    return "".join(chars)
