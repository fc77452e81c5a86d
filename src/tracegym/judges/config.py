"""From settings to a ready judge. The judge settings are declared once: every command that takes a judge (judge,
rubrics, train, eval, audit, and prepare's teacher) adds these flags, and the LLM backends take their defaults from
here; `build_judge` turns them into a judge through the registry of backends by name."""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass, fields
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from tracegym.errors import UserError
from tracegym.options import non_negative_int, option, positive_float, positive_int

if TYPE_CHECKING:
    from tracegym.judges.base import Judge

JUDGE_GROUP = "judge (the teacher that scores replies)"


@dataclass
class JudgeSettings:
    """Everything that chooses and configures a judge; the CLI's judge flags map onto these fields one to one."""

    judge: str = option(
        "acts",
        "judge backend by name (acts, learned, fluency, similarity, gemini, openai, hf, or a plugin), or a mixture such as "
        "gemini+acts",
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
    similarity_metric: str = option(
        "chrf",
        "the similarity judge's measure against the reference reply: chrf (character n-gram F-score), "
        "bleu (sentence BLEU) or rouge_l (longest common word subsequence F1)",
        choices=("chrf", "bleu", "rouge_l"),
        group=JUDGE_GROUP,
    )
    fluency_corpus: str | None = option(
        None,
        "the fluency judge's corpus: an SGD folder (its train split's system turns) or a samples JSONL (its "
        "ground_truth replies) (default: the bundled SGD train split)",
        group=JUDGE_GROUP,
    )
    judge_labels: str | None = option(
        None,
        "the learned judge's labelled replies, a JSONL in the agreement set's form (bench/agreement/README.md) "
        "(default: the bundled agreement set)",
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


REGISTRY: dict[str, str] = {
    "acts": "tracegym.judges.acts:ActsJudge",
    "gemini": "tracegym.judges.gemini:GeminiJudge",
    "openai": "tracegym.judges.openai:OpenAIJudge",
    "hf": "tracegym.judges.hf:HFJudge",
    "similarity": "tracegym.judges.similarity:SimilarityJudge",
    "fluency": "tracegym.judges.fluency:FluencyJudge",
    "form": "tracegym.judges.form:FormJudge",
    "learned": "tracegym.judges.learned:LearnedJudge",
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
