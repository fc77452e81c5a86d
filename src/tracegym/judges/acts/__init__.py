"""The act-grounded judge (`--judge acts`): a reward with no model at all.

A reply is scored against the reference turn's dialogue acts and the sample's context, in [0, 1]:

    credit   = matched weight / total weight, over the values of INFORM / OFFER / CONFIRM / INFORM_COUNT
               (weight 1 each, typed matching, see values.py) and the act cues (lower weight): REQUEST of the
               right slot (or of a still-missing required slot), NOTIFY_SUCCESS / FAILURE polarity, REQ_MORE,
               GOODBYE, OFFER_INTENT
    score    = (credit − penalties) × length × repetition × copying,   0 when the reply addresses the grader

Penalties: `max(missing values, hallucinated values)` × a unit (so omitting a required value costs exactly what
stating a wrong one costs: dropping numbers never pays), a wrong offer (another result's entity for the offered
slot), over-informing (many context values beyond the reference), requests for slots nobody needs, a polarity
flip (failure words on a success), and each value placeholder left unfilled ("[4]", "[2": a number the acts do not
have, which `--placeholders` leaves as written; unlike a missing value it is never paired with one). A reply with a
missing or an ungrounded value also costs a factor (acts-13: people reject every such reply), the same for both. It
is the default GRPO reward, so every rule here closes a way to game it.

    >>> judge = ActsJudge()
    >>> [verdict] = score_sync(judge, [sample], ["Sino is at 377 Santana Row."])

The package, by concern: `lexicon.py` (word lists), `reference.py` (reading the sample's acts, schema and calls),
`reply.py` (reading the reply), `scoring.py` (credit, penalties, and `ActsJudge`, whose verdict they make).
"""

from __future__ import annotations

from tracegym.judges.acts.reference import last_user_turn
from tracegym.judges.acts.reply import broken_text_marks
from tracegym.judges.acts.scoring import (
    VERSION,
    ActsJudge,
    ActsWeights,
    act_value_recall,
    hallucinated_values,
)

__all__ = [
    "VERSION",
    "ActsJudge",
    "ActsWeights",
    "act_value_recall",
    "broken_text_marks",
    "hallucinated_values",
    "last_user_turn",
]
