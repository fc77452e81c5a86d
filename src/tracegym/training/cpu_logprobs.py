"""On a CPU, TRL's fused LM head scores only the completion tokens, as it does on a GPU.

TRL 1.16's `GRPOTrainer` computes each token's log-probability through the fused LM head of
`trl.trainer.utils.add_fused_lm_head`. On a Triton device (CUDA, XPU) it scores only the positions that carry a label,
the completion tokens. On any other device it scores every position, the prompt's included, because on Neuron a
number of positions that changes from batch to batch would recompile the tiles. Eager CPU compiles nothing, so there
the full path only adds work: the demo's rows hold up to 128 prompt tokens for up to 40 completion tokens.

Measured with `python bench/grpo_head.py` (2-core CPU): one forward and backward of the demo student over a
micro-batch of the demo's shape (8 rows, 128 prompt + 40 completion tokens) takes 0.44 s scoring every position and
0.21 s scoring the completion positions, with the same log-probabilities (BENCHMARKS.md, train).

`completion_tokens_only()` makes TRL's choice answer "score the completion positions" for a CPU tensor too, while
GRPO trains, and restores it after. Only that choice changes: the kernel still picks its own torch tiles on a CPU.
The choice is the private `trl.trainer.utils._use_triton`, read on every forward; a TRL without it is left as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHOICE = "_use_triton"  # the name TRL's fused LM head asks whether to score only the labelled positions


@contextmanager
def completion_tokens_only() -> Iterator[bool]:
    """Within the block, TRL's fused LM head scores only labelled positions on a CPU. Yields whether it could."""
    import trl.trainer.utils as trl_utils

    original = getattr(trl_utils, CHOICE, None)
    if original is None:
        yield False
        return

    def scores_labelled_positions_only(device: Any) -> bool:
        return original(device) or device.type == "cpu"

    setattr(trl_utils, CHOICE, scores_labelled_positions_only)
    try:
        yield True
    finally:
        setattr(trl_utils, CHOICE, original)
