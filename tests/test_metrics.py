"""Independent signals on hand-made examples: chrF, and the T2G2 slot error rule with the schema's categories."""

from __future__ import annotations

import pytest

from tracegym.evaluation.metrics import (
    act_types,
    broken_text,
    chrf,
    corpus_chrf,
    non_categorical_values,
    reply_length_words,
    reply_metrics,
    slot_error,
    slot_is_categorical,
)
from tracegym.samples import Sample

SYSTEM = """You are the assistant of the service Restaurants_2: Make reservations at restaurants.
Today is Friday, 2019-03-01.

Schema of Restaurants_2:
Slots:
- restaurant_name: Name of the restaurant
- city: City in which the restaurant is located
- has_vegetarian_options: Whether the restaurant has adequate vegetarian options (possible values: True, False)
- price_range: Price range for the restaurant (possible values: cheap, moderate, pricey, ultra high-end)
Intents:
- ReserveRestaurant (transactional): Reserve a table. Required slots: restaurant_name, city. Optional slots (default): none.
Service calls so far (oldest first, this turn's last):
1. Restaurants_2.FindRestaurants(city=San Jose) -> 1 result
   - restaurant_name=Sino; city=San Jose; price_range=moderate"""


def restaurant_sample(acts: list[dict]) -> Sample:
    return Sample(
        id="d1-turn3",
        dialogue_id="d1",
        turn_index=3,
        prompt="User: find me a place",
        ground_truth="How about Sino in San Jose? It is moderately priced.",
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "find me a place"}],
        acts=acts,
    )


def act(name: str, slot: str = "", *values: str) -> dict:
    return {"act": name, "slot": slot, "values": list(values), "canonical_values": list(values)}


def test_chrf_of_identical_text_is_100_and_falls_for_other_text():
    reference = "How about Sino in San Jose?"
    assert chrf(reference, reference) == pytest.approx(100.0)
    assert chrf("Anything else?", reference) < 30.0
    assert corpus_chrf([reference, "Sino"], [reference, "Sino"]) == pytest.approx(100.0)


def test_categories_come_from_the_schema_lines():
    assert slot_is_categorical("restaurant_name", SYSTEM) is False
    assert slot_is_categorical("price_range", SYSTEM) is True
    assert slot_is_categorical("has_vegetarian_options", SYSTEM) is True
    assert slot_is_categorical("number_of_seats", SYSTEM) is None  # not declared: left out


def test_slot_error_follows_t2g2_non_categorical_values_must_appear_lowercased():
    sample = restaurant_sample(
        [
            act("OFFER", "restaurant_name", "Sino"),
            act("OFFER", "city", "San Jose"),
            act("INFORM", "price_range", "moderate"),
        ]
    )
    assert non_categorical_values(sample) == ["Sino", "San Jose"]  # price_range is categorical
    assert slot_error(sample, "How about SINO in san jose?") == 0.0  # case does not matter
    assert slot_error(sample, "How about Sino? It is cheap.") == 1.0  # San Jose missing
    assert slot_error(sample, "How about Sino in San Jose?") == 0.0  # the categorical value need not appear


def test_examples_without_non_categorical_values_do_not_count():
    sample = restaurant_sample(
        [act("INFORM", "price_range", "moderate"), act("REQ_MORE"), act("OFFER_INTENT", "intent", "ReserveRestaurant")]
    )
    assert non_categorical_values(sample) == []
    assert slot_error(sample, "Anything else?") is None
    chat = Sample(
        id="c1",
        dialogue_id="c1",
        turn_index=1,
        prompt="hi",
        ground_truth="hello",
        acts=[act("OFFER", "restaurant_name", "Sino")],
    )
    assert slot_error(chat, "hello") is None  # no schema to say whether the slot is categorical


def test_act_types_and_length():
    sample = restaurant_sample(
        [act("OFFER", "restaurant_name", "Sino"), act("OFFER", "city", "San Jose"), act("REQ_MORE")]
    )
    assert act_types(sample) == ["OFFER", "REQ_MORE"]
    assert reply_length_words("  How about   Sino? ") == 3


@pytest.mark.parametrize(
    ("reply", "broken"),
    [
        ("How about Sino in San Jose?", 0.0),
        ("Is there anything else I can help you with?", 0.0),  # a question may end on a preposition
        ("How about Sino at San Jose at", 1.0),
        ("There is Sino at San Jose at .", 1.0),
        ("I found 1, Sino, . . . .", 1.0),
        ("It leaves at 6:40 pm .", 1.0),
    ],
)
def test_broken_text_is_a_stray_punctuation_mark_or_a_dangling_last_word(reply, broken):
    assert broken_text(reply) == broken
    sample = restaurant_sample([act("OFFER", "restaurant_name", "Sino"), act("OFFER", "city", "San Jose")])
    assert reply_metrics(sample, reply).broken_text == broken
