"""The examples a person rejected and acts-4 scored 1.0 (issue 12), on the real bundled SGD turns they came from:
acts-5 scores each below 0.5, and the turn's own SGD reference still ≥ 0.7."""

from __future__ import annotations

import re
from functools import lru_cache

import pytest

from tracegym.judges.acts import ActsJudge
from tracegym.samples import Sample
from tracegym.traces.compile import compile_sgd
from tracegym.traces.sgd import bundled_sgd_root


@lru_cache(maxsize=1)
def bundled_turns() -> dict[str, Sample]:
    return {s.id: s for split in ("dev", "test") for s in compile_sgd(bundled_sgd_root(), split)}


def score(sample_id: str, reply: str) -> float:
    return ActsJudge().verdict(bundled_turns()[sample_id], reply).score


EXAMPLES = [
    # (turn, its acts, the reply a person rejected, why)
    ("25_00068-turn7", "REQUEST(category) in Restaurants_2", "What city are you like to visit?", "wrong slot, garbled"),
    ("10_00039-turn13", "INFORM(director=Martin Scorsese) in Media_2", "The song is Martin Scorsese.", "music word"),
    ("7_00018-turn5", "OFFER(temperature=82, precipitation=15)", "There is a 15 star hotel at 82.", "hotel words"),
    (
        "24_00013-turn11",
        "OFFER_INTENT(GetTrainTickets)",
        "Would you like to the tickets for the tickets for the movie?",
        "no verb, repeated phrase, movie word",
    ),
    ("2_00080-turn15", "NOTIFY_SUCCESS in Buses_1", "I have have have confirmed your ticket.", "word repeated"),
    (
        "1_00049-turn13",
        "REQ_MORE in Flights_3",
        "Is there anything else I can help you with anything else?",
        "filler repeated",
    ),
]


@pytest.mark.parametrize(("sample_id", "acts", "reply", "why"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_the_issue_example_scores_below_one_half_and_its_reference_stays_acceptable(sample_id, acts, reply, why):
    assert score(sample_id, reply) < 0.5, f"{acts}: {reply!r} ({why})"
    assert score(sample_id, bundled_turns()[sample_id].ground_truth) >= 0.7


def test_a_reference_with_its_digits_deleted_scores_below_one_half_but_one():
    with_numbers = [
        s
        for s in bundled_turns().values()
        if any(re.search(r"\d", v) for act in s.acts for v in act.values) and re.search(r"\d", s.ground_truth)
    ]
    assert len(with_numbers) > 100
    scores = [score(s.id, re.sub(r"\d", "", s.ground_truth)) for s in with_numbers]
    # The one left (0.52): " option I found that you may like." lost its count at the very start, where a gap
    # cannot be told from a completion's leading space. On 1,267 such SGD dev turns none reaches 0.5.
    assert sum(x >= 0.5 for x in scores) <= 1 and max(scores) < 0.7, sorted(scores)[-5:]


def test_words_of_another_domain_are_foreign_only_where_the_context_does_not_use_them():
    rental = bundled_turns()["10_00039-turn13"]  # Media_2: a movie rental
    assert score(rental.id, "The movie was directed by Martin Scorsese.") >= 0.9
    assert score(rental.id, "The song was directed by Martin Scorsese.") < 0.5
