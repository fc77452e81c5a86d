"""Rewards a tiny, untrained student can learn within a few dozen GRPO steps, and their shuffled control.

`says_nice` pays 1 for a reply that contains WORD: an untrained tiny student (a 300-token vocabulary, near-uniform
output) writes it in about one reply of ten, so GRPO has a signal from the first step and needs only to raise one
token's probability. `says_nice_shuffled` pays the same rewards in the same batch, randomly permuted: the
batch's mean is unchanged, but a reward no longer belongs to the completion that earned it, so nothing should be
learned. tests/test_learning.py passes them to `tracegym train --reward_funcs`.
"""

from __future__ import annotations

import random

WORD = "nice"
# One generator per process, so each step draws a new permutation and a run is reproducible.
SHUFFLER = random.Random(0)


def says_nice(prompts, completions, **columns) -> list[float]:
    """1.0 for a reply that contains WORD, else 0.0."""
    return [1.0 if WORD in completion else 0.0 for completion in completions]


def says_nice_shuffled(prompts, completions, **columns) -> list[float]:
    """`says_nice`'s rewards, randomly permuted within the batch."""
    rewards = says_nice(prompts, completions)
    SHUFFLER.shuffle(rewards)
    return rewards
