"""GRPO's turns: the focus (the turns the SFT student gets wrong) and its anchors (some it gets right)."""

from __future__ import annotations

import random

from tracegym.evaluation.focus import with_anchors

SCORES = [1.0, 0.3, 1.0, None, 1.0, 0.99, 1.0, 1.0, 0.0, 1.0]
WRONG = [1, 3, 5, 8]  # below 1, or no verdict


def test_without_anchors_grpo_gets_exactly_the_turns_below_1():
    assert with_anchors(SCORES, 0.0, random.Random(0)) == WRONG


def test_anchors_are_drawn_from_the_turns_scored_1_in_proportion_and_kept_in_order():
    chosen = with_anchors(SCORES, 0.5, random.Random(0))
    anchors = [i for i in chosen if i not in WRONG]
    assert set(WRONG) <= set(chosen) and chosen == sorted(chosen)
    assert len(anchors) == 2 and all(SCORES[i] == 1.0 for i in anchors)
    assert with_anchors(SCORES, 0.5, random.Random(0)) == chosen  # the draw is the seed's
    assert len(with_anchors(SCORES, 10.0, random.Random(0))) == len(SCORES)  # no more anchors than right turns
