"""Evaluation: base vs trained on held-out prompts, with honest statistics and independent signals.

    >>> from tracegym.evaluation import EvalConfig, evaluate, write_report
    >>> result = evaluate(EvalConfig(eval_jsonl="eval.jsonl", base_model="runs/demo/base",
    ...                              trained_model_dir="runs/demo/trained", n=50))
    >>> print("\\n".join(result.seed_lines()))
    >>> write_report(result, "runs/demo/eval")

Generation (`generate.py`) is apart from scoring and statistics (`eval.py`, `stats.py`, `metrics.py`), and
nothing here imports torch until a model is loaded.
"""

from tracegym.evaluation.eval import EvalConfig, EvalResult, evaluate
from tracegym.evaluation.report import write_report

__all__ = ["EvalConfig", "EvalResult", "evaluate", "write_report"]
