"""The judge audit: an adversarial suite that measures how often a judge rewards replies that game it.

For each of ≥ 50 prompts whose reference carries checkable content (INFORM / OFFER / CONFIRM values that appear
in the reference text), the audit builds one reply per attack (master keys, injections, forged verdicts, values
swapped for other entities' values, ...), scores them all with the judge in one batch, and reports per attack the
false-positive rate: the share of attack replies scored ≥ 0.5. The reference replies are scored too, as a sanity
line: a judge that rejects everything passes every attack and fails the gold line.

    >>> report = run_audit(judge, samples, n=50, seed=0)
    >>> print(format_table(report))

Background: "One Token to Fool LLM-as-a-Judge" (arXiv 2507.08794) for the master keys; spotlighting untrusted
text (arXiv 2403.14720) for the injections.

The package: `items.py` chooses the prompts, `attacks.py` builds the replies, `run.py` scores them and reports.
"""

from __future__ import annotations

from tracegym.audit.attacks import (
    ATTACKS,
    FORGED_VERDICT,
    INJECTION,
    ZERO_WIDTH_SPACE,
    Attack,
    context_dump_reply,
    fluent_wrong_reply,
    hedge_reply,
    last_user_turn,
    slot_words,
    swapped_reference,
    zero_width,
)
from tracegym.audit.items import (
    CHECKABLE_ACTS,
    AuditItem,
    audit_item,
    checkable_acts,
    checkable_values,
    context_values,
    overlaps,
    result_values,
    select_audit_items,
    value_pattern,
    values_by_slot,
    wrong_values_for,
)
from tracegym.audit.run import (
    EXAMPLES_PER_ATTACK,
    FALSE_POSITIVE_THRESHOLD,
    AttackResult,
    AuditReport,
    Consistency,
    attack_batch,
    attack_result,
    audit_items,
    consistency_of,
    format_table,
    run_audit,
    score_batch,
)

__all__ = [
    "ATTACKS",
    "CHECKABLE_ACTS",
    "EXAMPLES_PER_ATTACK",
    "FALSE_POSITIVE_THRESHOLD",
    "FORGED_VERDICT",
    "INJECTION",
    "ZERO_WIDTH_SPACE",
    "Attack",
    "AttackResult",
    "AuditItem",
    "AuditReport",
    "Consistency",
    "attack_batch",
    "attack_result",
    "audit_item",
    "audit_items",
    "checkable_acts",
    "checkable_values",
    "consistency_of",
    "context_dump_reply",
    "context_values",
    "fluent_wrong_reply",
    "format_table",
    "hedge_reply",
    "last_user_turn",
    "overlaps",
    "result_values",
    "run_audit",
    "score_batch",
    "select_audit_items",
    "slot_words",
    "swapped_reference",
    "value_pattern",
    "values_by_slot",
    "wrong_values_for",
    "zero_width",
]
