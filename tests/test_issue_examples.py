"""The examples a person rejected and acts-4 scored 1.0 (issue 12), on the real bundled SGD turns they came from:
acts-5 scores each below 0.5, and the turn's own SGD reference still ≥ 0.7; and those of issue 13's hand labels
that acts-5 still accepted, which acts-6 does not; and those of the acts-6 student's hand labels (`fresh13`) that
acts-6 accepted, which acts-7 does not; and those of the shipped student's (`fresh13b`) that acts-7 accepted, which
acts-8 does not; and those of the acts-8 student's (`fresh13e`, `fresh13f`) that acts-8 accepted, which acts-9 does
not. A turn is named `split/id`: SGD's dialogue ids repeat across
splits (`7_00018-turn5` is an event in dev and the weather in test)."""

from __future__ import annotations

import re
from functools import lru_cache

import pytest

from tracegym.judges.acts import ActsJudge
from tracegym.judges.acts.form import cut_off_on_preposition
from tracegym.samples import Sample
from tracegym.traces.compile import compile_sgd
from tracegym.traces.sgd import bundled_sgd_heldout_root, bundled_sgd_root


@lru_cache(maxsize=1)
def bundled_turns() -> dict[str, Sample]:
    return {f"{split}/{s.id}": s for split in ("dev", "test") for s in compile_sgd(bundled_sgd_root(), split)}


@lru_cache(maxsize=1)
def held_out_turns() -> dict[str, Sample]:
    """The demo's held-out split: the sample's dev and test dialogues unchanged, and the later parts' turns too."""
    return {f"{split}/{s.id}": s for split in ("dev", "test") for s in compile_sgd(bundled_sgd_heldout_root(), split)}


def score(turn: str, reply: str) -> float:
    return ActsJudge().verdict(held_out_turns()[turn], reply).score


EXAMPLES = [
    # (turn, its acts, the reply a person rejected, why)
    (
        "test/25_00068-turn7",
        "REQUEST(category) in Restaurants_2",
        "What city are you like to visit?",
        "wrong slot, garbled",
    ),
    (
        "dev/10_00039-turn13",
        "INFORM(director=Martin Scorsese) in Media_2",
        "The song is Martin Scorsese.",
        "music word",
    ),
    ("test/7_00018-turn5", "OFFER(temperature=82, precipitation=15)", "There is a 15 star hotel at 82.", "hotel words"),
    (
        "test/24_00013-turn11",
        "OFFER_INTENT(GetTrainTickets)",
        "Would you like to the tickets for the tickets for the movie?",
        "no verb, repeated phrase, movie word",
    ),
    ("dev/2_00080-turn15", "NOTIFY_SUCCESS in Buses_1", "I have have have confirmed your ticket.", "word repeated"),
    (
        "dev/1_00049-turn13",
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
    scores = [score(f"{s.split}/{s.id}", re.sub(r"\d", "", s.ground_truth)) for s in with_numbers]
    # The one left (0.52): " option I found that you may like." lost its count at the very start, where a gap
    # cannot be told from a completion's leading space. On 1,267 such SGD dev turns none reaches 0.5.
    assert sum(x >= 0.5 for x in scores) <= 1 and max(scores) < 0.7, sorted(scores)[-5:]


def test_words_of_another_domain_are_foreign_only_where_the_context_does_not_use_them():
    rental = "dev/10_00039-turn13"  # Media_2: a movie rental
    assert score(rental, "The movie was directed by Martin Scorsese.") >= 0.9
    assert score(rental, "The song was directed by Martin Scorsese.") < 0.5


HAND_LABELLED = [
    # (turn, its acts, a reply two annotators rejected that acts-5 scored ≥ 0.7, a reply that says it right)
    (
        "dev/3_00047-turn5",
        "INFORM(address, phone_number) in Services_4",
        "The phone number is 1400 North Dutton Avenue #6 and the number is 707-566-4600.",
        "The address is 1400 North Dutton Avenue #6 and the phone number is 707-566-4600.",
    ),
    (
        "test/6_00126-turn5",
        "INFORM(wind=3) in Weather_1",
        "The average temperature will be 3 percent.",
        "The wind speed will be 3 miles per hour.",
    ),
    (
        "dev/1_00064-turn1",
        "REQUEST(departure_date, destination_city, origin_city) in Flights_3",
        "Where are you leaving from?",
        "Where are you leaving from and where are you going, and on what date?",
    ),
]


def test_one_small_slip_stays_acceptable_but_ranks_below_the_reply_without_it():
    turn = "dev/3_00047-turn11"  # OFFER_INTENT(BookAppointment) in Services_4; both annotators accepted the slip
    slipped, right = (
        score(turn, "Would you like to make a appointment?"),
        score(turn, "Would you like to make an appointment?"),
    )
    assert 0.7 <= slipped < right


FRESH13 = [
    # (turn, its acts, a reply the annotators rejected that acts-6 scored 1.0, a reply that says it right)
    (
        "dev/3_00019-turn11",
        "NOTIFY_SUCCESS in Alarm_1",
        "Your reservation is confirmed",
        "Your alarm has been added.",
    ),
    (
        "test/13_00123-turn9",
        "NOTIFY_SUCCESS in Media_3 (PlayMovie)",
        "Your movie has been booked.",
        "The movie has started.",
    ),
    (
        "test/30_00021-turn19",
        "OFFER(departure_time=11:30 am, price=$25) in Buses_3",
        "11:30 am is a $25.",
        "There is a bus at 11:30 am that costs $25.",
    ),
    (
        "dev/1_00118-turn13",
        "OFFER(airlines=Delta Airlines, times, price), INFORM_COUNT(1) in Flights_3",
        "I found 1 flight that leaves at Delta Airlines at 4:05 pm and returns at 7:55 pm. The ticket is $561.",
        "I found 1 Delta Airlines flight that leaves at 4:05 pm and returns at 7:55 pm. The ticket is $561.",
    ),
    ("dev/1_00118-turn11", "REQUEST(return_date) in Flights_3", "When would you like to leave?", "When do you return?"),
    (
        "test/30_00021-turn19",
        "OFFER(departure_time=11:30 am, price=$25) in Buses_3",
        "There is a bus at 11:30 am that costs $25. It's a ?",
        "There is a bus at 11:30 am that costs $25.",
    ),
]


def test_booking_words_are_fine_where_the_service_books_or_rents():
    rental = "dev/10_00039-turn13"  # Media_2 rents movies: its own references say "reserved the movie for rental"
    assert "booked" not in ActsJudge().verdict(bundled_turns()[rental], "Your movie has been booked.").reasoning
    assert score("dev/1_00118-turn13", bundled_turns()["dev/1_00118-turn13"].ground_truth) >= 0.7


def test_a_question_said_again_earns_no_request_cue():
    turn = "dev/1_00064-turn1"  # REQUEST(departure_date, destination_city, origin_city) in Flights_3
    once = ActsJudge().verdict(bundled_turns()[turn], "Where are you leaving from?")
    twice = ActsJudge().verdict(bundled_turns()[turn], "Where are you leaving from? Where are you leaving from?")
    assert twice.criteria["act_cues"] == once.criteria["act_cues"]
    assert twice.score < once.score


def test_a_count_that_disagrees_with_its_noun_is_a_small_slip():
    turn = "test/30_00021-turn17"  # OFFER(departure_time=8:30 am, price=$29), INFORM_COUNT(7) in Buses_3
    slipped = score(turn, "I found 7 bus. One leaves at 8:30 am and costs $29.")
    right = score(turn, "I found 7 buses. One leaves at 8:30 am and costs $29.")
    assert 0.7 <= slipped < right


def test_a_run_of_one_character_outside_the_values_is_noise():
    """GRPO's leak on the bundled student: a run of digits no value holds cost nothing under the first acts-7."""
    turn = "dev/3_00047-turn7"  # OFFER(therapist_name, type=Psychiatrist, city=San Jose) in Services_4
    right = "Dr. Manuj K. Nangia is a Psychiatrist in San Jose."
    assert score(turn, right) >= 0.7
    assert score(turn, right + " It's 6000000000000000000000000.") < 0.5
    assert score("test/3_00075-turn3", "Where are you going to 111111111111000000000000 Street?") < 0.5


FRESH13B = [
    # (turn, its acts, a reply the annotators rejected that acts-7 scored ≥ 0.7, a reply that says it right)
    (
        "test/7_00018-turn3",
        "INFORM(wind=12, humidity=23) in Weather_1",
        "The humidity is around 12 percent and the humidity is 23 miles per hour.",
        "The wind is around 12 miles per hour and the humidity is 23 percent.",
    ),
    (
        "dev/4_00072-turn15",
        "CONFIRM(time=10:30 am, number_of_seats=3) in Restaurants_2",
        "Please confirm the following: You want a reservation at 10:30 am for 3 days.",
        "Please confirm the following: You want a reservation at 10:30 am for 3 people.",
    ),
    (
        "dev/13_00011-turn1",
        "REQUEST(destination_city, origin_city) in Flights",
        "Where are you going and where are you going?",
        "Where are you going and where are you leaving from?",
    ),
    (
        "dev/3_00011-turn5",
        "REQUEST(new_alarm_time) in Alarm_1",
        "What time would you like to book?",
        "What time should the alarm be?",
    ),
]


def test_a_number_with_the_wrong_ordinal_suffix_is_a_slip():
    turn = "test/6_00104-turn7"  # CONFIRM(appointment_time=9:30 am, appointment_date=March 12th)
    right = "Please confirm: an appointment at 9:30 am on March 12th."
    assert score(turn, right) >= 0.7
    assert score(turn, right[:-1] + " on the 2th.") < 0.5


FRESH13E = [
    # acts-9: what a slot's role is, which acts-8 read from the words its slots share
    (
        "dev/2_00060-turn11",
        "CONFIRM(pickup_location, pickup_date=today, pickup_time, dropoff_date=tomorrow, type) in RentalCars_1",
        "Please confirm the following details: You want to pick up a Standard car from Estacion Buenavista at 12 pm "
        "and the drop off is tomorrow and the drop-off date is today.",
        "Please confirm: you want to pick up a Standard car from Estacion Buenavista today at 12 pm and drop it off "
        "tomorrow.",
    ),
    (
        "test/8_00106-turn9",
        "INFORM(from_station=Union Station), NOTIFY_SUCCESS in Trains_1",
        "The ticket has been reserved. The destination is Union Station.",
        "Your ticket is reserved. The train leaves from Union Station.",
    ),
    (
        "test/21_00019-turn5",
        "INFORM(ride_fare=$14.18, wait_time=3), NOTIFY_SUCCESS in RideSharing_2",
        "Your ride is booked and it will be there in $14.18 minutes and will cost 3.",
        "Your ride is booked. It will be there in 3 minutes and will cost $14.18.",
    ),
    (
        "test/11_00023-turn11",
        "REQUEST(check_out_date, check_in_date) in Hotels_2",
        "When will you be checking out? What day are you checking out?",
        "When will you check in, and what day will you check out?",
    ),
    (
        "test/10_00006-turn3",
        "OFFER(movie_title, percent_rating=95), INFORM_COUNT(1) in Movies_3",
        "I found 95 movie you might like. How about Close Encounters of the Third Kind? It's a 1 rating.",
        "I found 1 movie. How about Close Encounters of the Third Kind? It is rated 95 percent.",
    ),
]


def test_a_clause_cut_off_after_its_verb_is_broken_but_a_question_without_its_mark_is_not():
    """acts-10: GRPO's seed-2 student ended confirmations so, and acts-9 scored them 1.0."""
    turn = "dev/4_00079-turn11"  # CONFIRM(restaurant_name, location, time=7:15 pm, date=today, number_of_seats=2)
    right = "Please confirm: Booking a table for today at Barcha in San Francisco for 2 at 7:15 pm."
    assert score(turn, right) >= 0.7
    assert score(turn, right[:-1] + " and the reservation is for") < 0.5
    asks = "dev/1_00064-turn1"  # REQUEST(departure_date, destination_city, origin_city) in Flights_3
    assert score(asks, "Where are you flying to.") == score(asks, "Where are you flying to?")


FRESH13G = [
    # acts-11: bare numbers with no word of their role, and booleans pasted in as "True"/"False"; acts-10 scored each
    # 1.0 and people rejected it (agreement parts fresh13g and fresh13h)
    (
        "dev/5_00067-turn1",
        "OFFER(title, aggregate_rating=6.9) in Movies_2",
        "How about The last Dragon? It's in 6.9?",
        "How about The last Dragon? It has an average rating of 6.9.",
    ),
    (
        "test/4_00046-turn11",
        "CONFIRM(restaurant_name, location, time=7:15 pm, date=March 1st, number_of_seats=2) in Restaurants_2",
        "Please confirm: Booking a table for March 1st at Central Park Bistro in San Mateo at 7:15 pm on 2.",
        "Please confirm: Booking a table for 2 on March 1st at Central Park Bistro in San Mateo at 7:15 pm.",
    ),
    (
        "dev/6_00035-turn13",
        "CONFIRM(check_in_date=tomorrow, stay_length=7) in Hotels_4",
        "Please confirm the following: You want to book a room for 7 tomorrow.",
        "Please confirm: you check in tomorrow and stay for 7 days.",
    ),
    (
        "test/21_00019-turn5",
        "INFORM(ride_fare=$14.18, wait_time=3), NOTIFY_SUCCESS in RideSharing_2",
        "Your ride has been booked and the cab is on the way. The cab will be $14.18 and the cab is 3.",
        "Your ride has been booked. The cab will be $14.18 and it will arrive in 3 minutes.",
    ),
    (
        "test/5_00018-turn17",
        "CONFIRM(num_passengers=2, additional_luggage=True) in Buses_3",
        "Please confirm the following: You want True ticket for the bus will be at 2.",
        "Please confirm: 2 tickets, with extra luggage.",
    ),
]

FRESH13I = [
    # acts-12: a count followed by another value, and an ordinal that numbers no day; acts-11 scored each 1.0 and
    # people rejected it (agreement parts fresh13i and fresh13j: replies of the acts-11 students)
    (
        "test/8_00091-turn9",
        "OFFER(journey_start_time=6:20 am, total=$46), INFORM_COUNT(count=8) in Trains_1",
        "I found 8 $46 and it's at 6:20 am.",
        "I found 8 trains. One leaves at 6:20 am and costs $46.",
    ),
    (
        "test/8_00091-turn9",
        "OFFER(journey_start_time=6:20 am, total=$46), INFORM_COUNT(count=8) in Trains_1",
        "You have 8 6:20 am which is a total of $46.",
        "There are 8 trains. There is one at 6:20 am for $46.",
    ),
    (
        "test/5_00044-turn1",
        "OFFER(alarm_time=8:30 am, alarm_name=Wake up), INFORM_COUNT(count=2) in Alarm_1",
        "I found 2 Wake up. 8:30 am is a 1 of 1st.",
        "You have 2 alarms. One is Wake up at 8:30 am.",
    ),
    (
        "dev/6_00034-turn9",
        "INFORM(street_address), NOTIFY_SUCCESS in Hotels_3",
        "Your reservation has been made. The address is East Side, 58, Jalan Ang Seng, Brickfields, 50470. It's in 1st.",
        "Your reservation has been made. The address is East Side, 58, Jalan Ang Seng, Brickfields, 50470.",
    ),
]

ACTS13 = [
    # acts-13: a value nothing grounds costs a factor, not only −0.15; acts-12 scored these 0.7 and 0.85, and GRPO's
    # seed-0 student on the compact-prompt fix wrote them (people rejected all 33 such replies of the agreement set)
    (
        "test/24_00105-turn13",
        "INFORM(price_range=moderate) in Restaurants_2",
        "moderate is the 14th.",
        "The price range is moderate.",
    ),
    (
        "dev/11_00066-turn13",
        "REQUEST(appointment_date=March 1st) in Services_4",
        "What date would you like the appointment on 110?",
        "Would you like the appointment on March 1st?",
    ),
]

ACTS14 = [
    # acts-14: a hedge between the label and the value ("is around", "is expected to be around") hid the label from
    # the mislabelled-value rule; acts-13's GRPO students wrote these for the wind and acts-13 scored them 1.0
    (
        "dev/3_00089-turn5",
        "INFORM(wind=5) in Weather_1",
        "The humidity is around 5 miles per hour.",
        "The average wind speed will be around 5 miles per hour.",
    ),
    (
        "test/6_00126-turn5",
        "INFORM(wind=3) in Weather_1",
        "The humidity is expected to be around 3 miles per hour.",
        "The wind speed is expected to be around 3 miles per hour.",
    ),
]


ACTS15 = [
    # acts-15: a requested slot of a kind no part of the questions asks for is missed; acts-14 scored this 1.0
    (
        "test/3_00053-turn1",
        "REQUEST(destination, ride_type) in RideSharing_2",
        "Where would you like a Luxury or Pool ride?",
        "Where are you going, and what kind of ride do you want?",
    ),
]


ACTS16 = [
    # acts-16: a date followed by a count, money followed by transfers; acts-15's GRPO students wrote both (the first
    # on all three seeds) and acts-15 scored them 1.0
    (
        "dev/1_00003-turn7",
        "CONFIRM(number_of_seats=1, date=today) in Restaurants_1",
        "Please confirm the following details: You want a table for 1 for today people.",
        "Please confirm the following details: You want a table for 1 for today.",
    ),
    (
        "dev/2_00118-turn11",
        "OFFER(leaving_time=9:20 am, fare=$24, transfers=0) in Buses_1",
        "The bus departs at 9:20 am and has $24 transfers. It has 0 transfers.",
        "The bus departs at 9:20 am, has 0 transfers and costs $24.",
    ),
]


@pytest.mark.parametrize(
    ("turn", "reply"),
    [
        # how many values an act offers is grounded: "these two"
        ("test/9_00048-turn3", "Would either of these two interest you: Brittany Runs a Marathon or Overcomer?"),
        # an ordinal word is a day only after a preposition of time: "the first is …" numbers a result
        (
            "test/2_00019-turn3",
            "I found 10 events. The first is Ada And The Engine at The Artistic Home on March 2nd at 5 pm.",
        ),
    ],
)
def test_what_acts_13_grounds_scores_one(turn, reply):
    assert score(turn, reply) == 1.0, reply


@pytest.mark.parametrize(
    "reply",
    [
        # a yes/no question can ask for anything: acts-15 reads only questions whose every part has a known kind
        "Sure, when do you want to pick it up? Do you have a return date and a city in mind?",
        # a request that is no question
        "Sure, when do you want to pick it up and return it? Please tell me the city too.",
        # the city asked by a wh-part of its own
        "Sure, where and when do you want to pick it up, and when will you return it?",
    ],
)
def test_what_acts_15_cannot_read_or_finds_asked_scores_one(reply):
    assert score("dev/2_00044-turn1", reply) == 1.0, reply


def test_two_date_questions_miss_the_pickup_city_though_pick_it_up_holds_its_cue_words():
    """acts-15: REQUEST(pickup_city, pickup_date, dropoff_date); acts-14 scored both 1.0, people rejected both. The
    turn's SGD reference asks for "more details" and nothing by name, so it is not in REJECTED."""
    for reply in (
        "Sure, when do you want to pick it up and when will you be returning the car?",
        "Sure, what date do you want to pick it up and what date will you be returning the car?",
    ):
        assert score("dev/2_00044-turn1", reply) < 0.5, reply


def test_a_time_after_on_and_a_date_after_at_cost_a_little_each_and_both_reject_the_reply():
    """acts-12: "at next Thursday on 4:30 pm" came from two GRPO seeds of the 16-turn bench, and acts-11 scored it
    1.0; people let one such slip pass about as often as not, and reject two."""
    turn = "dev/3_00051-turn17"  # OFFER(therapist_name, appointment_date=next Thursday, appointment_time=4:30 pm)
    right = "Sorry, I couldn't book it. Would you like an appointment with Pfaff Loretta next Thursday at 4:30 pm?"
    one = "Sorry, I couldn't book it. Would you like an appointment with Pfaff Loretta next Thursday on 4:30 pm?"
    both = "Sorry, I couldn't book it. Would you like an appointment with Pfaff Loretta at next Thursday on 4:30 pm?"
    assert score(turn, right) == 1.0
    assert 0.7 <= score(turn, one) < score(turn, right)
    assert score(turn, both) < 0.7
    assert score("dev/3_00042-turn13", "Please confirm: an appointment at 4:15 pm on next Wednesday.") == 1.0


@pytest.mark.parametrize(
    ("turn", "reply"),
    [
        # a value that names the kind goes on to its noun: no count run into a value
        ("dev/1_00032-turn3", "I found 4 American Airlines flights. One leaves at 10:10 am with 0 stops for $80."),
        ("test/1_00064-turn3", "I found 10 5 star hotels. How about Azure Hotel Nairobi Westlands?"),
        # a wait is a duration, not a clock time: "in 8 minutes" is no time after "in"
        ("test/3_00053-turn7", "Your ride is booked. The cab will be here in 8 minutes and the cost is $42.60."),
        # a day and a street are what ordinals are for
        ("test/1_00064-turn3", "I found 10 hotels. Azure Hotel Nairobi Westlands on 1st Avenue has 5 stars."),
    ],
)
def test_what_acts_12_leaves_alone_scores_one(turn, reply):
    assert score(turn, reply) == 1.0, reply


def test_a_sentence_cut_off_on_a_preposition_is_broken_but_one_saying_what_the_user_looks_for_is_not():
    """acts-11: GRPO's seed-0 student (acts-10 bench) ended a confirmation so, and acts-10 scored it 1.0."""
    turn = "dev/2_00094-turn17"  # CONFIRM(from_location, to_location, leaving_date, leaving_time, travelers=2)
    right = "Please confirm: 2 tickets from Fresno to Long Beach on March 13th at 12:30 pm."
    assert score(turn, right) >= 0.7
    assert score(turn, right[:-1] + ". Would you like to book a ticket for") < 0.5
    assert not cut_off_on_preposition("Tell me the genre you are looking for.")  # an SGD reference
    assert not cut_off_on_preposition("Which city are you flying to.")


# Each round's rejected replies (acts-6 to acts-9, acts-11 to acts-16), checked the same way: below 0.5, while the
# right reply and the turn's own SGD reference stay acceptable.
REJECTED = HAND_LABELLED + FRESH13 + FRESH13B + FRESH13E + FRESH13G + FRESH13I + ACTS13 + ACTS14 + ACTS15 + ACTS16


@pytest.mark.parametrize(("turn", "acts", "rejected", "right"), REJECTED, ids=[f"{e[0]}:{e[2][:20]}" for e in REJECTED])
def test_what_the_annotators_rejected_scores_below_one_half(turn, acts, rejected, right):
    assert score(turn, rejected) < 0.5, f"{acts}: {rejected!r}"
    assert score(turn, right) >= 0.7, f"{acts}: {right!r}"
    assert score(turn, held_out_turns()[turn].ground_truth) >= 0.7
