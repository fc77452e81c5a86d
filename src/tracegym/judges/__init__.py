"""Judges by name. Backends are imported lazily; third parties register through the `tracegym.judges`
entry-point group:

    [project.entry-points."tracegym.judges"]
    myjudge = "my_package.judge:MyJudge"
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from tracegym.errors import UserError
from tracegym.judges.base import Judge, Usage, Verdict, score_sync
from tracegym.judges.config import JudgeSettings

__all__ = ["Judge", "JudgeSettings", "Usage", "Verdict", "build_judge", "judge_class", "score_sync", "REGISTRY"]

REGISTRY: dict[str, str] = {
    "acts": "tracegym.judges.acts:ActsJudge",
    "gemini": "tracegym.judges.gemini:GeminiJudge",
    "openai": "tracegym.judges.openai:OpenAIJudge",
    "hf": "tracegym.judges.hf:HFJudge",
}


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
        raise UserError(
            f"unknown judge {name!r}; choose one of {', '.join(sorted(known))}, or a mixture like gemini+acts"
        )
    module_name, _, attribute = known[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise UserError(
            f"judge {name!r} needs the package {exc.name!r}; install it with `pip install 'tracegym[{name}]'`"
        ) from None
    return getattr(module, attribute)


def judge_names(spec: str) -> list[str]:
    """The member names of a `--judge` value (`gemini+acts` → ["gemini", "acts"]), each checked against the
    registry, so a typo is reported before any backend starts."""
    names = [name.strip() for name in spec.split("+")]
    if not spec.strip() or not all(names):
        raise UserError(f"--judge {spec!r}: empty judge name; name judges such as acts, or a mixture like gemini+acts")
    known = available_judges()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UserError(
            f"unknown judge {unknown[0]!r} in --judge {spec!r}; choose from {', '.join(sorted(known))}, "
            "or a mixture like gemini+acts"
        )
    return names


def build_judge(settings: JudgeSettings) -> Judge:
    """A ready judge for `settings`, wrapped from the inside out: the backend(s), their weighted mixture, the
    budget caps (when set), and the verdict cache outermost (when asked), so cache hits cost nothing and do not
    count toward the caps."""
    from tracegym.judges.mixture import Mixture, parse_weights

    names = judge_names(settings.judge)
    weights = parse_weights(settings.judge_weights, len(names))
    judges = [judge_class(name).from_settings(settings) for name in names]
    judge: Judge = judges[0] if len(judges) == 1 else Mixture(list(zip(judges, weights)))
    if settings.max_judge_calls is not None or settings.max_judge_cost_usd is not None:
        from tracegym.judges.budget import Budgeted

        judge = Budgeted(judge, max_calls=settings.max_judge_calls, max_cost_usd=settings.max_judge_cost_usd)
    if settings.cache:
        from tracegym.judges.cache import Cached, VerdictCache

        cache = VerdictCache(settings.cache)
        cache.connection()  # a path that is no SQLite cache fails now, before any work starts
        judge = Cached(judge, cache)
    return judge
