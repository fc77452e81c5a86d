"""Independent signals on hand-made examples: chrF, the T2G2 slot error rule with the schema's categories (both
counts: T2G2's, every example in the denominator, and over replies with values), the T2G2 seen/unseen split."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import pytest

from tracegym.evaluation import metrics
from tracegym.evaluation.metrics import (
    act_types,
    act_value_recall,
    broken_text,
    chrf,
    corpus_bleu,
    corpus_chrf,
    hallucinated_values,
    non_categorical_values,
    repetition,
    reply_length_words,
    reply_metrics,
    slot_error,
    slot_error_t2g2,
    slot_is_categorical,
    t2g2_split,
)
from tracegym.samples import Call, Sample
from tracegym.schema import IntentSchema, ServiceSchema, SlotSchema

SCHEMA = ServiceSchema(
    name="Restaurants_2",
    description="Make reservations at restaurants",
    slots=(
        SlotSchema("restaurant_name", "Name of the restaurant", False, ()),
        SlotSchema("city", "City in which the restaurant is located", False, ()),
        SlotSchema("has_vegetarian_options", "Whether it has vegetarian options", True, ("True", "False")),
        SlotSchema("price_range", "Price range", True, ("cheap", "moderate", "pricey", "ultra high-end")),
    ),
    intents=(IntentSchema("ReserveRestaurant", "Reserve a table", True, ("restaurant_name", "city"), (), ()),),
)
CALL = Call(
    service="Restaurants_2",
    method="FindRestaurants",
    parameters={"city": "San Jose"},
    results=(
        {"restaurant_name": "Sino", "city": "San Jose", "price_range": "moderate", "phone_number": "408-247-8880"},
        {"restaurant_name": "Aqui Cal-Mex", "city": "San Jose", "price_range": "cheap", "phone_number": "408-995-0381"},
    ),
    result_count=2,
    this_turn=True,
)


def restaurant_sample(acts: list[dict]) -> Sample:
    return Sample(
        id="d1-turn3",
        dialogue_id="d1",
        turn_index=3,
        prompt="User: find me a place",
        ground_truth="How about Sino in San Jose? It is moderately priced.",
        messages=[
            {"role": "system", "content": "(rendered text: never read)"},
            {"role": "user", "content": "find me a place"},
        ],
        acts=acts,
        schema=SCHEMA,
        calls=[CALL],
    )


def act(name: str, slot: str = "", *values: str, canonical: tuple[str, ...] | None = None) -> dict:
    return {"act": name, "slot": slot, "values": list(values), "canonical_values": list(canonical or values)}


def test_chrf_of_identical_text_is_100_and_falls_for_other_text():
    reference = "How about Sino in San Jose?"
    assert chrf(reference, reference) == pytest.approx(100.0)
    assert chrf("Anything else?", reference) < 30.0
    assert corpus_chrf([reference, "Sino"], [reference, "Sino"]) == pytest.approx(100.0)


def test_categories_come_from_the_sample_schema():
    assert slot_is_categorical("restaurant_name", SCHEMA) is False
    assert slot_is_categorical("price_range", SCHEMA) is True
    assert slot_is_categorical("has_vegetarian_options", SCHEMA) is True
    assert slot_is_categorical("number_of_seats", SCHEMA) is None  # not declared: left out
    assert slot_is_categorical("city", None) is None  # no schema (chat traces)


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


def test_t2g2_count_puts_every_example_in_the_denominator():
    """The reference's `example_ser` returns True (correct) when it checked nothing: such an example is a 0 in the
    T2G2 count and left out of the other figure."""
    without_values = restaurant_sample([act("INFORM", "price_range", "moderate"), act("REQ_MORE")])
    assert slot_error(without_values, "Anything else?") is None
    assert slot_error_t2g2(without_values, "Anything else?") == 0.0
    with_values = restaurant_sample([act("OFFER", "restaurant_name", "Sino"), act("OFFER", "city", "San Jose")])
    assert slot_error(with_values, "How about Sino?") == slot_error_t2g2(with_values, "How about Sino?") == 1.0
    assert slot_error(with_values, "Sino, San Jose.") == slot_error_t2g2(with_values, "Sino, San Jose.") == 0.0
    # Over the two examples, one reply wrong: 1 of 2 by T2G2's count, 1 of 1 over replies with values.
    t2g2 = [slot_error_t2g2(without_values, "Anything else?"), slot_error_t2g2(with_values, "How about Sino?")]
    valued = [
        e for e in (slot_error(without_values, "Anything else?"), slot_error(with_values, "Sino?")) if e is not None
    ]
    assert sum(t2g2) / len(t2g2) == 0.5 and sum(valued) / len(valued) == 1.0
    chat = Sample(id="c1", dialogue_id="c1", turn_index=1, prompt="hi", ground_truth="hello")
    assert slot_error_t2g2(chat, "hello") is None  # no schema: the rule cannot say which slots count
    assert reply_metrics(without_values, "Anything else?").slot_error_t2g2 == 0.0


def test_t2g2_matching_is_a_lowercase_substring_of_the_surface_values():
    timed = replace(
        restaurant_sample(
            [
                act("OFFER", "restaurant_name", "Sino"),
                act("OFFER", "time", "half past 11 in the morning", canonical=("11:30",)),
                act("INFORM", "price_range", "moderate"),
                act("OFFER_INTENT", "intent", "ReserveRestaurant"),
                act("INFORM_COUNT", "count", "2"),
            ]
        ),
        schema=replace(SCHEMA, slots=(*SCHEMA.slots, SlotSchema("time", "Time of the reservation", False, ()))),
    )
    surface = "SINO at Half Past 11 in the Morning?"
    assert slot_error_t2g2(timed, surface) == 0.0  # case does not matter; intent, count, categorical: not checked
    assert slot_error_t2g2(timed, "Sino at 11:30?") == 1.0  # the canonical form is not what the reference reads
    assert slot_error_t2g2(timed, "Sinology at half past 11 in the morning") == 0.0  # a substring, not whole words
    assert slot_error_t2g2(timed, "Sino at half past 11") == 1.0  # the whole value, not a part of it
    request = restaurant_sample([act("REQUEST", "city", "San Jose", "Oakland")])  # every act type counts
    assert slot_error_t2g2(request, "San Jose or Oakland?") == 0.0
    assert slot_error_t2g2(request, "Which city?") == 1.0


@pytest.mark.parametrize(
    ("service", "split"),
    [
        ("Alarm_1", "unseen"),
        ("Messaging_1", "unseen"),
        ("Payment_1", "unseen"),
        ("Restaurants_2", "seen"),
        ("Hotels_4", "seen"),  # a service unseen in training, in a domain seen: seen, as T2G2 splits them
        ("Trains_1", "seen"),  # the reference lists 'Train'; SGD's domain is 'Trains': seen, as the reference counts
        (None, None),
    ],
)
def test_t2g2_split_is_the_reference_domain_rule(service, split):
    sample = replace(restaurant_sample([]), service=service, unseen_service=service == "Hotels_4")
    assert t2g2_split(sample) == split


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


@pytest.mark.parametrize(
    ("reply", "broken"),
    [
        ("You would like a table at at Sino?", 1.0),  # a word twice
        ("How about [1] in San Jose?", 1.0),  # a placeholder left in
        ("I had had a look, and that that is it.", 0.0),  # English doubles
    ],
)
def test_broken_text_also_catches_doubled_words_and_placeholders(reply, broken):
    assert broken_text(reply) == broken


@pytest.mark.parametrize(
    ("reply", "repeated"),
    [
        ("The restaurant is the restaurant is in San Jose.", 1.0),  # a phrase said again right after itself
        ("Your table is at 5 pm at 5 pm.", 1.0),
        ("Call them at 1111111 now.", 1.0),  # one character over and over
        ("Would you like a table? Would you like a drink too?", 0.0),  # a phrase twice, but not back to back
        ("Call them at 408-555-1212.", 0.0),
        ("Bye bye!", 0.0),  # one word twice is broken text's rule, not this one
    ],
)
def test_repetition_is_a_run_of_words_said_again_at_once(reply, repeated):
    assert repetition(reply) == repeated
    sample = restaurant_sample([act("OFFER", "restaurant_name", "Sino")])
    assert reply_metrics(sample, reply).repetition == repeated


def test_corpus_bleu_is_sacrebleu_on_the_whole_corpus():
    references = ["The table is booked for 2 at 5 pm.", "What city are you in?"]
    assert corpus_bleu(references, references) == pytest.approx(100.0)
    assert 0 < corpus_bleu(["The table is booked for 4 at 5 pm.", "Which city?"], references) < 100
    assert corpus_bleu(["Sure."] * 2, references) < 5


def test_act_value_recall_is_whole_word_matching_of_surface_or_canonical_forms():
    sample = restaurant_sample(
        [
            act("OFFER", "restaurant_name", "Sino"),
            act("OFFER", "time", "half past 11 in the morning", canonical=("11:30",)),
            act("INFORM_COUNT", "count", "2"),
            act("INFORM", "has_vegetarian_options", "True"),  # no string states a boolean: left out
        ]
    )
    assert act_value_recall(sample, "I found two: Sino, at 11:30.") == 1.0
    assert act_value_recall(sample, "I found 2: SINO at half past 11 in the morning!") == 1.0
    assert act_value_recall(sample, "I found 2 places: Sinology at noon.") == pytest.approx(1 / 3)  # not whole words
    assert act_value_recall(restaurant_sample([act("REQ_MORE")]), "Anything else?") is None


def test_hallucinated_values_are_numbers_and_result_names_from_nowhere():
    sample = restaurant_sample([act("OFFER", "restaurant_name", "Sino"), act("OFFER", "city", "San Jose")])
    assert hallucinated_values(sample, "How about Sino in San Jose? Call 408-247-8880.") == []  # in the results
    assert hallucinated_values(sample, "How about Sino at 7:45 pm? It has 4 stars.") == ["4", "7", "45"]
    assert hallucinated_values(sample, "How about Aqui Cal-Mex in San Jose?") == ["Aqui Cal-Mex"]  # another entity
    assert hallucinated_values(sample, "How about Sino for one on 2019-03-01?") == []  # "a"/"one" and the prompt's date
    chat = Sample(id="c1", dialogue_id="c1", turn_index=1, prompt="hi", ground_truth="hello")
    assert hallucinated_values(chat, "It costs $40.") is None


def test_metrics_never_import_the_judges():
    """The contract import-linter checks in CI, as a test: not even a lazy import inside a function."""
    tree = ast.parse(Path(metrics.__file__).read_text(encoding="utf-8"))
    imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert imported and not [name for name in imported if name and name.startswith("tracegym.judges")]
