"""Typed value normalisation: times, dates, numbers and money, text."""

import pytest

from tracegym.judges.values import ReplyIndex, extract_dates, extract_numbers, extract_times, parse_number, value_kind


@pytest.mark.parametrize(
    "text, expected",
    [
        ("11:30 am", {"11:30"}),
        ("half past 6 in the evening", {"18:30"}),
        ("noon", {"12:00"}),
        ("7 pm", {"19:00"}),
        ("quarter to seven in the evening", {"18:45"}),
        ("4:15 p.m.", {"16:15"}),
        ("half past 11 in the morning", {"11:30"}),
        ("7:30", {"07:30", "19:30"}),  # no am/pm: either reading
        ("7 pm, 2 a.m.", {"19:00", "02:00"}),
        ("i found 4 american airlines flights", set()),  # a count before "Am…" is no 4 am
        ("2 amazing places and 3 pmc clinics", set()),
    ],
)
def test_times_become_hh_mm(text, expected):
    assert extract_times(text)[0] == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("today", {"2019-03-01"}),
        ("tomorrow", {"2019-03-02"}),
        ("the day after tomorrow", {"2019-03-03"}),
        ("march 11th", {"2019-03-11"}),
        ("the 11th", {"2019-03-11", "2019-04-11"}),
        ("11th of march", {"2019-03-11"}),
        ("2019-03-07", {"2019-03-07"}),
    ],
)
def test_dates_anchor_at_friday_march_first(text, expected):
    assert extract_dates(text)[0] == expected


@pytest.mark.parametrize("text", ["the 12:30 pm table", "the 5 on 5", "the 2 of them"])
def test_a_bare_number_after_the_is_no_date(text):
    assert extract_dates(text)[0] == set()


def test_weekdays_are_this_or_next_week():
    assert {"2019-03-04", "2019-03-11"} <= extract_dates("monday")[0]


@pytest.mark.parametrize(
    "value, expected", [("$2,800", 2800.0), ("2800", 2800.0), ("4.80", 4.8), ("two", 2.0), ("$24", 24.0)]
)
def test_numbers_and_money(value, expected):
    assert parse_number(value) == expected


def test_numbers_in_text_include_words_and_money():
    assert {2800.0, 2.0, 4.8} <= extract_numbers("two bedrooms for $2,800, rated 4.8")


@pytest.mark.parametrize(
    "canonical, kind",
    [("True", "bool"), ("19:30", "time"), ("2019-03-02", "date"), ("2800", "number"), ("Sino", "text")],
)
def test_value_kinds(canonical, kind):
    assert value_kind(canonical) == kind


def test_mentions_compare_by_type():
    index = ReplyIndex.of("It costs $2,800 a month, rated 4.8, for two people at half past 6 in the evening tomorrow.")
    assert index.mentions("2800", ["$2,800"])
    assert index.mentions("4.80")
    assert index.mentions("2")
    assert index.mentions("18:30", ["6:30 pm"])
    assert index.mentions("2019-03-02", ["March 2nd"])
    assert not index.mentions("19:30")
    assert not index.mentions("2019-03-03")
    assert not index.mentions("3")


def test_text_values_match_canonical_or_surface_form_normalised():
    index = ReplyIndex.of("Call them at (408) 247-8880; they're at 377 Santana Row #1000 in San Jose.")
    assert index.mentions("408-247-8880")
    assert index.mentions("377 Santana Row #1000")
    assert index.mentions("SJ", ["San Jose"])
    assert not index.mentions("Sunnyvale")
