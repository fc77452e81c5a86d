"""Judges by name: the settings, the registry and `build_judge` live in `judges/config.py`; backends are imported
lazily, and third parties register through the `tracegym.judges` entry-point group:

    [project.entry-points."tracegym.judges"]
    myjudge = "my_package.judge:MyJudge"
"""

from __future__ import annotations

from tracegym.judges.base import Judge, Usage, Verdict, score_sync
from tracegym.judges.config import (
    REGISTRY,
    JudgeSettings,
    available_judges,
    build_judge,
    judge_class,
    judge_names,
)

__all__ = [
    "REGISTRY",
    "Judge",
    "JudgeSettings",
    "Usage",
    "Verdict",
    "available_judges",
    "build_judge",
    "judge_class",
    "judge_names",
    "score_sync",
]
