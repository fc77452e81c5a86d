"""Words of another service's domain ("The song is $4." in a movie rental, "a 15 star hotel" in a weather report).

A domain's words are learned from a train split of SGD (by default the bundled one, 26 services in 16 domains):
the words of its intent and domain names ("PlaySong" → play, song; "BuyBusTicket" → bus, ticket) that, in the
split's single-domain system turns, occur at least `min_count` times and 97% or more of the time within at most
`max_domains` domains. A reply's word is foreign when it is such a word, none of its domains is the sample's, and
neither it nor its stem occurs anywhere in the sample's own context (schema, intent, acts, results and history):
an unseen service (Alarm, Messaging, Payment, Train) brings its vocabulary through that context.

Two families the name rule cannot bind, because many domains use them, are checked by use instead (acts-7):
- booking words ("booked", "reservation"): foreign in a domain whose system turns use them in under 1% of turns
  (Media, Music, Banks, Weather, …: "Your movie has been booked" for a stream, "reservation" for an alarm), unless
  the sample's context has a booking stem (Movies_1's "BuyMovieTickets" does, Movies_3's search does not);
- what is booked ("table", "room", "showtime"): bound to the domains that say them, as the name rule binds.

Why intent names and not every schema word: slot names carry generic attributes ("number_of_days",
"star_rating", "pets_allowed") that other domains use in plain words ("3 days to watch it", "the star of this
movie"), and those false alarms cost 1.3% of SGD dev references (measured; BENCHMARKS.md).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tracegym.judges.acts.reference import history_text
from tracegym.samples import Sample

WORD = re.compile(r"[a-z]+")
CAMEL_WORD = re.compile(r"[A-Z][a-z]+")
SUFFIX = re.compile(r"(?:ies|es|s|ing|ed|e)$")
# acts-8 adds the verbs: people reject "What time would you like to book?" for an alarm (and let "Do you want to book
# a transfer?" pass in a bank, which this now rejects)
BOOKING_WORDS = frozenset(
    {"book", "booked", "booking", "bookings", "reserve", "reserved", "reservation", "reservations"}
)
BOOKING_CONTEXT = re.compile(r"\b(?:book|reserv|buy|purchas|ticket|rent)")  # Media_2 rents movies
BOOKING_MIN_SHARE = 0.005  # of a domain's system turns: Homes says one in 1.0%, Movies in 0.16% (Movies_1 only)
BOOKED_THINGS = frozenset({"table", "tables", "room", "rooms", "showtime", "showtimes"})


def stem(word: str) -> str:
    return SUFFIX.sub("", word)


def domain_of(service: str) -> str:
    return service.split("_")[0]


@dataclass(frozen=True)
class DomainLexicon:
    """Each domain-bound word with the domains it belongs to."""

    domains_of: dict[str, frozenset[str]]
    booking_domains: frozenset[str] = frozenset()  # domains that say booking words (BOOKING_MIN_SHARE)

    def foreign_words(self, sample: Sample, reply: str) -> list[str]:
        """The reply's words that belong to other domains and appear nowhere in the sample's context."""
        domain = domain_of(sample.service or "")
        text = context_text(sample)
        context = {stem(word) for word in WORD.findall(text)}
        books = domain in self.booking_domains or bool(BOOKING_CONTEXT.search(text))
        return [
            word
            for word in WORD.findall(reply.lower())
            if (word in self.domains_of and domain not in self.domains_of[word] and stem(word) not in context)
            or (word in BOOKING_WORDS and not books)
        ]


def context_text(sample: Sample) -> str:
    """Everything the sample says about its own service and conversation, lower-cased."""
    parts = [sample.service or "", sample.intent or "", sample.task_description or "", history_text(sample)]
    if sample.schema is not None:
        parts.append(_camel_words(sample.schema.name) + " " + sample.schema.description)
        for slot in sample.schema.slots:
            parts += [slot.name.replace("_", " "), slot.description, " ".join(slot.possible_values)]
        for intent in sample.schema.intents:
            parts += [_camel_words(intent.name), intent.description]
    for act in sample.acts:
        parts += [act.slot.replace("_", " "), *(_camel_words(v) for v in act.values)]
    for result in sample.service_results or []:
        parts += [str(v) for v in result.values()]
    return " ".join(parts).lower()


def _camel_words(text: str) -> str:
    return re.sub(r"([a-z])([A-Z])", r"\1 \2", text)


@lru_cache(maxsize=4)  # one lexicon per train split per process: reading 2,478 dialogues takes about a second
def domain_lexicon(root: str | None = None, max_domains: int = 4, min_count: int = 20) -> DomainLexicon:
    """The domain lexicon of the SGD train split at `root` (None: the bundled one)."""
    from tracegym.traces.sgd import bundled_sgd_train_root, iter_dialogues, read_schema

    path = Path(root) if root else bundled_sgd_train_root()
    name_words: dict[str, set[str]] = defaultdict(set)
    for service_name, schema in read_schema(path, "train").items():
        domain = domain_of(service_name)
        names = [domain, *(intent.name for intent in schema.intents)]
        for word in (w.lower() for name in names for w in CAMEL_WORD.findall(name)):
            name_words[stem(word)].add(domain)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    turns: Counter[str] = Counter()
    booking: Counter[str] = Counter()
    for _path, _index, dialogue in iter_dialogues(path, "train"):
        for turn in dialogue["turns"]:
            domains = {domain_of(frame["service"]) for frame in turn["frames"]}
            if turn["speaker"] != "SYSTEM" or len(domains) != 1:
                continue
            domain = next(iter(domains))
            words = set(WORD.findall(_without_slot_spans(turn).lower()))
            turns[domain] += 1
            booking[domain] += bool(words & BOOKING_WORDS)
            for word in words:
                counts[word][domain] += 1
    bound: dict[str, frozenset[str]] = {}
    for word, by_domain in counts.items():
        total = sum(by_domain.values())
        named = bool(name_words.get(stem(word), set()) & set(by_domain)) or word in BOOKED_THINGS
        if total < min_count or not named:
            continue
        main = [domain for domain, n in by_domain.items() if n >= 0.02 * total]
        if len(main) <= max_domains and sum(by_domain[d] for d in main) >= 0.97 * total:
            bound[word] = frozenset(main)
    booking_domains = frozenset(d for d, n in turns.items() if booking[d] >= BOOKING_MIN_SHARE * n)
    return DomainLexicon(bound, booking_domains)


def _without_slot_spans(turn: dict) -> str:
    """The utterance with its slot values blanked: a value's words ("Hotel Nikko") say nothing of the domain."""
    text = turn["utterance"]
    for frame in turn["frames"]:
        for span in frame.get("slots", []):
            start, end = span["start"], span["exclusive_end"]
            text = text[:start] + " " * (end - start) + text[end:]
    return text
