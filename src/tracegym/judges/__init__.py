"""Judges by name. Backends are imported lazily; third parties register through the `tracegym.judges`
entry-point group:

    [project.entry-points."tracegym.judges"]
    myjudge = "my_package.judge:MyJudge"
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass, fields
from importlib.metadata import entry_points

from tracegym.errors import UserError
from tracegym.judges.base import Judge, Usage, Verdict, score_sync

__all__ = ["Judge", "JudgeSettings", "Usage", "Verdict", "build_judge", "judge_class", "score_sync", "REGISTRY"]

REGISTRY: dict[str, str] = {
    "acts": "tracegym.judges.acts:ActsJudge",
    "gemini": "tracegym.judges.gemini:GeminiJudge",
    "openai": "tracegym.judges.openai:OpenAIJudge",
    "hf": "tracegym.judges.hf:HFJudge",
}


@dataclass
class JudgeSettings:
    """Everything that chooses and configures a judge; the CLI's judge flags map onto these fields one to one."""

    judge: str = "acts"
    judge_weights: str | None = None
    judge_model: str | None = None
    judge_mode: str = "single"
    judge_prompt: str | None = None
    criteria: str | None = None
    base_url: str | None = None
    cache: str | None = None
    concurrency: int = 8
    rpm: int | None = None
    timeout: float = 60.0
    max_retries: int = 4
    max_judge_calls: int | None = None
    max_judge_cost_usd: float | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> JudgeSettings:
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})


def available_judges() -> dict[str, str]:
    """Built-in backends plus those installed through the `tracegym.judges` entry-point group."""
    found = dict(REGISTRY)
    for entry in entry_points(group="tracegym.judges"):
        found.setdefault(entry.name, entry.value)
    return found


def judge_class(name: str) -> type:
    """The class registered under `name`, imported on first use."""
    known = available_judges()
    if name not in known:
        raise UserError(f"unknown judge {name!r}; choose one of {', '.join(sorted(known))}, or a mixture like gemini+acts")
    module_name, _, attribute = known[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise UserError(
            f"judge {name!r} needs the package {exc.name!r}; install it with `pip install 'tracegym[{name}]'`"
        ) from None
    return getattr(module, attribute)


def build_judge(settings: JudgeSettings) -> Judge:
    """A ready judge for `settings`: one backend or a weighted mixture, wrapped in the verdict cache if asked."""
    names = [name.strip() for name in settings.judge.split("+") if name.strip()]
    if not names:
        raise UserError("--judge is empty; name a judge such as acts or gemini")
    judges = [judge_class(name).from_settings(settings) for name in names]
    if len(judges) == 1:
        judge = judges[0]
    else:
        from tracegym.judges.mixture import Mixture

        judge = Mixture.from_weights(judges, settings.judge_weights)
    if settings.cache:
        from tracegym.judges.cache import Cached, VerdictCache

        judge = Cached(judge, VerdictCache(settings.cache))
    return judge
