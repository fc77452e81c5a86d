"""Independent signals: figures that do not come from the judge, so a student that games the judge shows up.

Every signal here is computed from the sample's typed fields (`acts`, `schema`, `calls`, results, history) by a
simple rule of its own, written down below, not by the act judge's code: this module may not import
`tracegym.judges` (an import-linter contract in pyproject.toml checks it). The rules are deliberately plainer
than the judge's (string matching, no typed values), so their absolute level differs from the judge's components;
what matters is base against trained on the same prompts, where the same rule is applied to both.

- chrF against the reference (sacrebleu), per reply and for the corpus; corpus BLEU.
- Slot error rate (SER), two figures from one rule, after Kale & Rastogi (2020, "Template Guided Text Generation
  for Task-Oriented Dialogue", T2G2). The rule, as its reference implementation counts it
  (google-research/task-oriented-dialogue, `generation/ser.py`, `example_ser` and `prepare_data`): a reply is
  wrong when any value of a non-categorical slot in its acts is not a substring of the reply, both lowercased.
  The values are the acts' surface `values` (as the reference reply says them), not the canonical ones; every act
  type counts (REQUEST with values too); a slot counts when the service's schema declares it non-categorical, so
  `intent`, `count` and slot-less acts never do. Which slots are categorical comes from the sample's schema
  (`Sample.schema`; the reference reads the same flags from SGD's schema.json files).
  (a) `slot_error_t2g2`, the T2G2 count: every example is in the denominator, one without such values counts as
  correct (`example_ser` returns True when it checked nothing), so the rate is comparable with the published
  table. Its seen/unseen split is the reference's: unseen when the service name's domain (`Alarm_1` -> `Alarm`)
  is one of Alarm, Messaging, Payment, Train. The reference compares the domain to that list exactly, and SGD's
  train-ticket service is `Trains_1` (domain `Trains`), so its examples count as seen; this module does the same,
  so the split matches the reference's figures (it is not the split by `Sample.unseen_service`, services absent
  from the train split). Samples without a schema (chat traces) get None: the rule needs the schema.
  (b) `slot_error`, over replies with such values: the same rule, but only replies whose acts hold a non-empty
  non-categorical value count; None otherwise. It is the (a) rate with the replies that cannot fail taken out of
  the denominator, so it is larger and moves more per wrong reply.
  The reference reads every frame of the turn; a sample holds the acts of its turn's active frame, which for SGD's
  system turns is their only frame.
- Act-value recall: the share of the reference's INFORM / OFFER / CONFIRM / INFORM_COUNT values the reply states,
  a value stated when its surface or canonical form appears in the reply as whole words, case and punctuation
  ignored (a number 0-20 also as its word: "2" as "two"). Booleans, `None` and `dontcare` are left out: no string
  states them. None without such values.
- Hallucinated values: what the reply states that nothing in front of the student or in the reference holds:
  (a) numbers (digit runs, so "4:20" is 4 and 20; 0 and 1 are left out, they stand for "no" and "a") found in
  none of the reference acts' values, the history, the calls' parameters and results, this turn's call and
  results, the schema's possible values and defaults, and the date the prompt states; (b) names from the calls'
  results (4 characters or more, with a letter) stated in the reply that are no reference value and not in the
  history: another entity's name. None for samples without acts.
- Reply length in words.
- Broken text: a punctuation mark after white space (" ."), a word written twice in a row ("at at"), a
  placeholder or bracket left in the text ("[3]", "[2"), or, unless the reply is a question, a last word no
  sentence ends on (an article, conjunction or preposition: "… at 10 at").
- Repetition: a run of two to six words said again right after itself ("the restaurant is the restaurant is"), or
  a word that is one character six times or more ("1111111"): the loops a small sampled student falls into.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tracegym.samples import Sample
from tracegym.schema import ServiceSchema

NOT_SCHEMA_SLOTS = frozenset({"", "intent", "count"})
# The T2G2 reference's unseen domains, spelled as it spells them (generation/ser.py, `prepare_data`).
T2G2_UNSEEN_DOMAINS = frozenset({"Alarm", "Messaging", "Payment", "Train"})
RECALL_ACTS = ("INFORM", "OFFER", "CONFIRM", "INFORM_COUNT")
UNSTATABLE_VALUES = frozenset({"true", "false", "none", "dontcare", ""})
PROMPT_DATE = "2019-03-01"  # the date every SGD prompt states (SGD's dates are relative to it)
NUMBER_NAMES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
).split()
NON_WORD = re.compile(r"[^a-z0-9]+")
DIGIT_RUN = re.compile(r"\d+")
LETTER = re.compile(r"[a-z]", re.IGNORECASE)
# Rules of the broken-text signal (see the module docstring).
SPACE_BEFORE_PUNCTUATION = re.compile(r"\s[.,;:!?]")
WORD = re.compile(r"[a-z0-9']+")
DOUBLED_WORD = re.compile(r"\b([a-z]+)\s+\1\b", re.IGNORECASE)
BRACKET_LEFT = re.compile(r"\[\s*\d*\s*\]?|\d\s*\]")
LAST_WORD = re.compile(r"([a-z]+)[\s.,;:!]*$", re.IGNORECASE)
NO_SENTENCE_ENDS_ON = frozenset(
    "a an the and or but nor of at in on to for with from by into onto than as is are was were".split()
)
DOUBLED_WORDS_ALLOWED = frozenset({"that", "had", "very", "bye"})  # "that that", "had had", "bye bye" are English


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


def corpus_bleu(replies: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (0-100, sacrebleu's 13a tokenisation, one reference each): the SGD NLG papers' headline figure."""
    from sacrebleu.metrics import BLEU

    if not replies:
        return float("nan")
    return float(BLEU().corpus_score(list(replies), [list(references)]).score)


def reply_length_words(reply: str) -> int:
    return len(reply.split())


# --- slot error rate (T2G2 rule) ----------------------------------------------------------------------------------


def slot_is_categorical(slot: str, schema: ServiceSchema | None) -> bool | None:
    """True / False as the schema declares `slot`; None when there is no schema or it does not declare the slot."""
    declared = schema.slot(slot) if schema is not None else None
    return None if declared is None else declared.is_categorical


def t2g2_values(sample: Sample) -> list[str]:
    """The surface values of the non-categorical slots in the sample's acts, as the T2G2 reference checks them."""
    return [
        value
        for act in sample.acts
        if act.slot not in NOT_SCHEMA_SLOTS and slot_is_categorical(act.slot, sample.schema) is False
        for value in act.values
    ]


def non_categorical_values(sample: Sample) -> list[str]:
    """The non-empty values of `t2g2_values`: what a reply must contain, when there is any."""
    return [value for value in t2g2_values(sample) if value.strip()]


def misses_a_value(values: Sequence[str], reply: str) -> bool:
    """The T2G2 rule: some value is not a substring of the reply, both lowercased."""
    lowered = reply.lower()
    return any(value.lower() not in lowered for value in values)


def slot_error(sample: Sample, reply: str) -> float | None:
    """1.0 when a non-categorical slot value of the acts is missing from the reply (lowercase substring), else
    0.0; None when the acts hold no such value (the reply is left out of this figure's denominator)."""
    values = non_categorical_values(sample)
    if not values:
        return None
    return 1.0 if misses_a_value(values, reply) else 0.0


def slot_error_t2g2(sample: Sample, reply: str) -> float | None:
    """The T2G2 count: 1.0 when a non-categorical slot value of the acts is missing from the reply, else 0.0, also
    when the acts hold no such value (correct: nothing to miss); None only without a schema (chat traces)."""
    if sample.schema is None:
        return None
    return 1.0 if misses_a_value(t2g2_values(sample), reply) else 0.0


def t2g2_split(sample: Sample) -> str | None:
    """'unseen' or 'seen' by the T2G2 reference's rule: the service name's domain (`Alarm_1` -> `Alarm`) among
    `T2G2_UNSEEN_DOMAINS`, compared exactly (so `Trains_1` is seen, as in the reference); None without a service."""
    if not sample.service:
        return None
    return "unseen" if sample.service.split("_")[0] in T2G2_UNSEEN_DOMAINS else "seen"


def act_types(sample: Sample) -> list[str]:
    """The distinct act types of the sample's reference turn, in order (`INFORM`, `REQUEST`, ...)."""
    return list(dict.fromkeys(act.act for act in sample.acts if act.act))


# --- act-value recall ---------------------------------------------------------------------------------------------


def words_of(text: str) -> str:
    """Lowercase words and numbers, one space apart, padded with a space each side: " 377 santana row "."""
    return f" {NON_WORD.sub(' ', text.lower()).strip()} "


def forms_of(value: str) -> list[str]:
    """The forms a value may take in a reply, as `words_of` writes them: itself, and a number 0-20 as its word."""
    forms = [words_of(value)]
    if value.strip().isdigit() and int(value) < len(NUMBER_NAMES):
        forms.append(f" {NUMBER_NAMES[int(value)]} ")
    return [form for form in forms if form.strip()]


def recall_values(sample: Sample) -> list[tuple[str, ...]]:
    """The reference values a reply can state in words: for each, its surface and canonical forms."""
    found: list[tuple[str, ...]] = []
    for act in sample.acts:
        if act.act not in RECALL_ACTS:
            continue
        for index, value in enumerate(act.values):
            canonical = act.canonical_values[index] if index < len(act.canonical_values) else value
            if value.strip().lower() in UNSTATABLE_VALUES or canonical.strip().lower() in UNSTATABLE_VALUES:
                continue
            found.append(tuple(dict.fromkeys((value, canonical))))
    return found


def act_value_recall(sample: Sample, reply: str) -> float | None:
    """Share of the reference values the reply states as whole words; None when the acts have none."""
    values = recall_values(sample)
    if not values:
        return None
    text = words_of(reply)
    stated = sum(any(form in text for value in forms for form in forms_of(value)) for forms in values)
    return stated / len(values)


# --- hallucinated values ------------------------------------------------------------------------------------------


def history_of(sample: Sample) -> str:
    """The dialogue so far: the user and assistant messages, or the seed prompt when there are none."""
    turns = [m.get("content", "") for m in sample.messages if m.get("role") in ("user", "assistant")]
    return "\n".join(turns) if turns else sample.prompt


def context_strings(sample: Sample) -> list[str]:
    """Every value in front of the student or in the reference, as strings (the history not included)."""
    strings = [value for act in sample.acts for value in (*act.values, *act.canonical_values)]
    for call in sample.calls:
        strings += call.parameters.values()
        strings += [value for result in call.results for value in result.values()]
    strings += [str(value) for value in ((sample.service_call or {}).get("parameters") or {}).values()]
    strings += [str(value) for result in sample.service_results or [] for value in result.values()]
    if sample.schema is not None:
        strings += [value for slot in sample.schema.slots for value in slot.possible_values]
        strings += [default for intent in sample.schema.intents for _, default in intent.optional_slots]
    return [*strings, PROMPT_DATE]


def numbers_in(texts: Iterable[str]) -> set[int]:
    """The numbers of the texts: their digit runs, and the words for 0-20."""
    found: set[int] = set()
    for text in texts:
        found.update(int(run) for run in DIGIT_RUN.findall(text))
        words = words_of(text)
        found.update(number for number, name in enumerate(NUMBER_NAMES) if f" {name} " in words)
    return found


def result_names(sample: Sample) -> set[str]:
    """Names of the calls' results and this turn's results (4 characters or more, with a letter)."""
    values = [value for call in sample.calls for result in call.results for value in result.values()]
    values += [str(value) for result in sample.service_results or [] for value in result.values()]
    return {value for value in values if len(value.strip()) >= 4 and LETTER.search(value)}


def hallucinated_values(sample: Sample, reply: str) -> list[str] | None:
    """Numbers and result names the reply states that nothing in the context or reference holds (module
    docstring); None for a sample without acts."""
    if not sample.acts:
        return None
    history = history_of(sample)
    allowed = numbers_in([*context_strings(sample), history])
    found = [str(n) for n in sorted({int(run) for run in DIGIT_RUN.findall(reply)}) if n > 1 and n not in allowed]
    text, history_words = words_of(reply), words_of(history)
    references = [words_of(value) for act in sample.acts for value in (*act.values, *act.canonical_values)]
    for name in sorted(result_names(sample)):
        form = words_of(name)
        if form not in text or form in history_words:
            continue
        if any(form in reference or (reference.strip() and reference in form) for reference in references):
            continue
        found.append(name)
    return found


# --- broken text --------------------------------------------------------------------------------------------------


def broken_text_marks(reply: str) -> list[str]:
    """What makes the reply broken text, by rule (module docstring): empty when it is not."""
    marks = [f"space before {m.group(0).strip()!r}" for m in SPACE_BEFORE_PUNCTUATION.finditer(reply)]
    marks += [
        f"{m.group(1)!r} twice" for m in DOUBLED_WORD.finditer(reply) if m.group(1).lower() not in DOUBLED_WORDS_ALLOWED
    ]
    marks += [f"{m.group(0)!r} left in" for m in BRACKET_LEFT.finditer(reply)]
    last = LAST_WORD.search(reply)
    if last and last.group(1).lower() in NO_SENTENCE_ENDS_ON and not reply.rstrip().endswith("?"):
        marks.append(f"ends on {last.group(1)!r}")
    return marks


def repetition_marks(reply: str) -> list[str]:
    """What the reply repeats, by rule (module docstring): empty when it does not."""
    words = WORD.findall(reply.lower())
    marks = [f"{word!r} one character over and over" for word in words if len(word) >= 6 and len(set(word)) == 1]
    for size in range(2, 7):
        for start in range(len(words) - 2 * size + 1):
            run = words[start : start + size]
            if run == words[start + size : start + 2 * size]:
                marks.append(f"{' '.join(run)!r} twice in a row")
                return marks
    return marks


def repetition(reply: str) -> float:
    """1.0 when the reply repeats itself by the rule of the module docstring, else 0.0."""
    return 1.0 if repetition_marks(reply) else 0.0


def broken_text(reply: str) -> float:
    """1.0 when the reply is broken text by any rule of the module docstring, else 0.0."""
    return 1.0 if broken_text_marks(reply) else 0.0


@dataclass(frozen=True)
class ReplyMetrics:
    """Every independent signal for one reply. None: the signal does not apply to this sample."""

    chrf: float
    slot_error: float | None
    act_value_recall: float | None
    hallucinated_values: list[str] | None
    length_words: int
    broken_text: float | None = None  # 1.0 when the reply is broken text (module docstring)
    repetition: float | None = None  # 1.0 when the reply repeats a run of words or a character (module docstring)
    slot_error_t2g2: float | None = None  # the T2G2 count: also 0.0 for replies without non-categorical values

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
    return ReplyMetrics(
        chrf=chrf(reply, sample.ground_truth),
        slot_error=slot_error(sample, reply),
        act_value_recall=act_value_recall(sample, reply) if sample.acts else None,
        hallucinated_values=hallucinated_values(sample, reply),
        length_words=reply_length_words(reply),
        broken_text=broken_text(reply),
        repetition=repetition(reply),
        slot_error_t2g2=slot_error_t2g2(sample, reply),
    )
