"""GRPO's LM head on CPU: every position scored (TRL's off-GPU path) against the completion positions only
(`tracegym.training.cpu_logprobs.completion_tokens_only`, TRL's GPU path run in torch), like for like.

    python bench/grpo_head.py [--rounds 5] [--rows 8] [--prompt_tokens 128] [--completion_tokens 40]

The shipped demo student gets TRL's fused LM head (`add_fused_lm_head`, log-probabilities and entropy, temperature
0.7, as GRPOTrainer installs it) and one micro-batch of the demo's shape: `--rows` rows of random token ids, the
prompt positions unlabelled. Each round times one forward and backward of each path, in alternating order, and the
figure is the median over rounds. It also prints the largest difference between the two paths' log-probabilities
and gradients: the switch must change the work, not the result.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

from tracegym.demo import BUNDLED_STUDENT
from tracegym.training.cpu_logprobs import completion_tokens_only


def forward_backward(model, input_ids, labels, completion_only: bool) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Seconds for one forward + backward of the head, its log-probabilities and the embedding's gradient."""
    model.zero_grad(set_to_none=True)
    started = time.perf_counter()
    with completion_tokens_only() if completion_only else contextlib.nullcontext(True) as switched:
        assert switched, "this TRL has no switch for the completion-only path"
        outputs = model(input_ids=input_ids, labels=labels, fused_lm_head=True)
        (outputs.log_probs.sum() + outputs.entropy.sum()).backward()
    seconds = time.perf_counter() - started
    return seconds, outputs.log_probs.detach(), model.get_input_embeddings().weight.grad.detach().clone()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=8, help="rows of a micro-batch (GRPO's per-device batch)")
    parser.add_argument("--prompt_tokens", type=int, default=128)
    parser.add_argument("--completion_tokens", type=int, default=40)
    args = parser.parse_args()

    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(BUNDLED_STUDENT)
    add_fused_lm_head(model, temperature=0.7, outputs=("log_probs", "entropy"))
    length = args.prompt_tokens + args.completion_tokens
    input_ids = torch.randint(0, model.config.vocab_size, (args.rows, length))
    labels = input_ids.clone()
    labels[:, : args.prompt_tokens + 1] = -100

    times: dict[bool, list[float]] = {False: [], True: []}
    results = {}
    forward_backward(model, input_ids, labels, False)  # warm-up
    for round_ in range(args.rounds):
        for completion_only in (False, True) if round_ % 2 == 0 else (True, False):
            seconds, log_probs, grad = forward_backward(model, input_ids, labels, completion_only)
            times[completion_only].append(seconds)
            results[completion_only] = (log_probs, grad)
    every, completion = statistics.median(times[False]), statistics.median(times[True])
    mask = labels[:, 1:] != -100
    logp_diff = (results[False][0][mask] - results[True][0][mask]).abs().max().item()
    grad_diff = (results[False][1] - results[True][1]).abs().max().item()
    print(
        f"{args.rows} rows × ({args.prompt_tokens} prompt + {args.completion_tokens} completion) tokens, "
        f"{torch.get_num_threads()} threads, {args.rounds} rounds: every position {every:.3f} s, completion "
        f"positions {completion:.3f} s ({every / completion:.1f}×); largest difference: log-prob {logp_diff:.2e}, "
        f"embedding gradient {grad_diff:.2e}"
    )


if __name__ == "__main__":
    main()
