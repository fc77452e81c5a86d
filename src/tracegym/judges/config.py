"""The judge settings, declared once: every command that takes a judge (judge, rubrics, train, eval, audit, and
prepare's teacher) adds these flags, and the LLM backends take their defaults from here."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields

from tracegym.options import non_negative_int, option, positive_float, positive_int

JUDGE_GROUP = "judge (the teacher that scores replies)"


@dataclass
class JudgeSettings:
    """Everything that chooses and configures a judge; the CLI's judge flags map onto these fields one to one."""

    judge: str = option(
        "acts",
        "judge backend by name (acts, gemini, openai, hf, or a plugin), or a mixture such as gemini+acts",
        group=JUDGE_GROUP,
    )
    judge_weights: str | None = option(None, "weights of a mixture, comma separated: 0.7,0.3", group=JUDGE_GROUP)
    judge_model: str | None = option(None, "the judge's model (default: the backend's own)", group=JUDGE_GROUP)
    judge_mode: str = option(
        "single",
        "single: one call per reply; group: one call scores all replies to one prompt together",
        choices=("single", "group"),
        group=JUDGE_GROUP,
    )
    judge_prompt: str | None = option(None, "a prompt template file with named fields", group=JUDGE_GROUP)
    criteria: str | None = option(None, "extra criteria appended to every rubric", group=JUDGE_GROUP)
    base_url: str | None = option(None, "OpenAI-compatible server URL (default $OPENAI_BASE_URL)", group=JUDGE_GROUP)
    cache: str | None = option(None, "SQLite verdict cache path (default: no cache)", group=JUDGE_GROUP, output="file")
    concurrency: int = option(8, "judge calls in flight", type=positive_int, group=JUDGE_GROUP)
    rpm: int | None = option(
        None, "judge requests per minute (default: no limit)", type=positive_int, group=JUDGE_GROUP
    )
    timeout: float = option(60.0, "seconds per judge request", type=positive_float, group=JUDGE_GROUP)
    max_retries: int = option(4, "retries on 429/5xx/timeouts", type=non_negative_int, group=JUDGE_GROUP)
    max_judge_calls: int | None = option(
        None, "stop cleanly after N calls (exit 3)", type=positive_int, group=JUDGE_GROUP
    )
    max_judge_cost_usd: float | None = option(
        None, "stop cleanly at this cost (exit 3)", type=positive_float, group=JUDGE_GROUP
    )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> JudgeSettings:
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})
