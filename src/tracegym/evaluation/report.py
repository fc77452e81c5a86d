"""The evaluation's files: `generations.jsonl`, `results.json`, `report.md` and its PNG plots (matplotlib, Agg).

Every file is written atomically, so an interrupted run leaves no half-written output.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tracegym.evaluation.cost import NO_GAIN, POINT, JudgeSpend, per_point
from tracegym.evaluation.eval import BASE_IMPERFECT, BASE_PERFECT, JUDGE, SIGNAL_LABELS, EvalItem, EvalResult
from tracegym.evaluation.stats import Comparison
from tracegym.evaluation.validation import (
    VALIDATION_CURVE,
    kept_policy_line,
    read_validation_points,
    validation_curve_figure,
    validation_report_lines,
)
from tracegym.samples import atomic_file, write_json, write_jsonl, write_text_atomic

SCORE_HISTOGRAM = "score_histogram.png"
TRAINING_CURVES = "training_curves.png"
DELTA_BY_SERVICE = "delta_by_service.png"
BASE_SCORE_GROUPS = {
    BASE_PERFECT: "what training kept or broke",
    BASE_IMPERFECT: "what training fixed or left",
}
EXAMPLES_SHOWN = 4  # of the largest gains, and as many of the largest losses
REWARD_KEYS = ("reward", "rewards/mean", "train/reward")
LENGTH_KEYS = ("completions/mean_length", "reply_length", "mean_reply_length", "completion_length", "reply_words")


def write_report(result: EvalResult, out_dir: str | Path) -> dict[str, Path]:
    """Write every output of `result` into `out_dir`; returns the paths by name."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "generations": out_dir / "generations.jsonl",
        "results": out_dir / "results.json",
        "score_histogram": out_dir / SCORE_HISTOGRAM,
        "delta_by_service": out_dir / DELTA_BY_SERVICE,
        "report": out_dir / "report.md",
    }
    training_log = read_training_log(result.run_dir)
    plot_score_histogram(result, paths["score_histogram"])
    plot_delta_by_service(result, paths["delta_by_service"])
    if training_log and _first_key(training_log, REWARD_KEYS + LENGTH_KEYS):
        paths["training_curves"] = out_dir / TRAINING_CURVES
        plot_training_curves(training_log, paths["training_curves"])
    validation_points = read_validation_points(result.run_dir)  # `train --validate_every`: the gaming alarm's curve
    if validation_points:
        paths["validation_curve"] = out_dir / VALIDATION_CURVE
        _save(validation_curve_figure(validation_points), paths["validation_curve"])
    write_jsonl(paths["generations"], (item.to_dict() for item in result.items))
    write_json(paths["results"], _finite(result.to_dict()))
    write_text_atomic(paths["report"], report_markdown(result, plotted={name for name in paths}))
    return paths


def read_training_log(run_dir: str | None) -> list[dict[str, Any]]:
    """The per-step records of the run's `log.jsonl` (empty when there is no run dir or log)."""
    if not run_dir or not (Path(run_dir) / "log.jsonl").is_file():
        return []
    records = []
    for line in (Path(run_dir) / "log.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a log cut short by an interrupted run still plots up to its last whole line
        if isinstance(record, dict):
            records.append(record)
    # `tracegym train` tags its records (step, summary, warning); only steps belong on a per-step curve.
    steps = [record for record in records if record.get("kind") == "step"]
    return steps if steps else [record for record in records if "kind" not in record]


# ---------------------------------------------------------------------------------------------------- plots


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_score_histogram(result: EvalResult, path: Path) -> None:
    plt = _pyplot()
    base = [s for item in result.items for s in item.base.scores if s is not None]
    trained = [s for item in result.items for s in item.trained.scores if s is not None]
    figure, axes = plt.subplots(figsize=(7, 4))
    bins = [i / 20 for i in range(21)]
    axes.hist(base, bins=bins, alpha=0.55, label=f"base (mean {_mean(base):.3f})", color="tab:gray")
    axes.hist(trained, bins=bins, alpha=0.55, label=f"trained (mean {_mean(trained):.3f})", color="tab:blue")
    axes.set_xlabel(f"judge score ({result.judge_name})")
    axes.set_ylabel("replies")
    axes.set_title(f"Judge scores on {len(result.items)} held-out prompts")
    axes.legend()
    _save(figure, path)


def plot_delta_by_service(result: EvalResult, path: Path) -> None:
    plt = _pyplot()
    rows = [(name, c) for name, c in result.by_service.items() if c.n]
    figure, axes = plt.subplots(figsize=(7, max(2.5, 0.35 * len(rows) + 1.2)))
    labels = [f"{name} (n={c.n}){' *' if _unseen(result, name) else ''}" for name, c in rows]
    deltas = [c.delta for _, c in rows]
    errors = [[c.delta - c.ci.low for _, c in rows], [c.ci.high - c.delta for _, c in rows]]
    colors = ["tab:green" if d > 0 else "tab:red" for d in deltas]
    axes.barh(range(len(rows)), deltas, xerr=errors, color=colors, alpha=0.7, capsize=3)
    axes.set_yticks(range(len(rows)), labels)
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.invert_yaxis()
    axes.set_xlabel("Δ judge score, trained − base (95% CI)")
    axes.set_title("Δ per service (* unseen in training)")
    _save(figure, path)


def plot_training_curves(log: Sequence[dict[str, Any]], path: Path) -> None:
    plt = _pyplot()
    reward_key = _first_key(log, REWARD_KEYS)
    length_key = _first_key(log, LENGTH_KEYS)
    keys = [key for key in (reward_key, length_key) if key]
    figure, axes_list = plt.subplots(len(keys), 1, figsize=(7, 2.6 * len(keys)), sharex=True, squeeze=False)
    for axes, key in zip(axes_list[:, 0], keys):
        points = [
            (record.get("step", index), record[key]) for index, record in enumerate(log) if _number(record.get(key))
        ]
        axes.plot([p[0] for p in points], [p[1] for p in points], marker=".", linewidth=1)
        axes.set_ylabel(key)
        axes.grid(alpha=0.3)
    axes_list[-1, 0].set_xlabel("training step")
    axes_list[0, 0].set_title("Training: reward and reply length per step")
    _save(figure, path)


def _save(figure: Any, path: Path) -> None:
    """Save a figure atomically (temporary PNG in the same folder, then rename)."""
    import matplotlib.pyplot as plt

    try:
        figure.tight_layout()
        with atomic_file(path, "wb") as handle:
            figure.savefig(handle, format="png", dpi=110)
    finally:
        plt.close(figure)


# ---------------------------------------------------------------------------------------------- markdown


def report_markdown(result: EvalResult, plotted: set[str]) -> str:
    config = result.config
    judge = result.judge_delta
    lines = ["# tracegym evaluation: trained vs base", ""]
    for warning in result.warnings:
        lines += [f"> **⚠ {warning[0].upper()}{warning[1:]}**", ">"]
    if result.warnings:
        lines[-1] = ""
    decoding = "greedy" if not config.temperature else f"sampled at temperature {config.temperature}"
    lines += [
        f"- **Eval judge:** `{result.judge_name}` (fingerprint `{result.judge_fingerprint}`)",
        f"- **Training judge:** `{result.training_judge or 'unknown (no run.json; give --training_judge)'}`",
        f"- **Base model:** `{config.base_model}`; **trained model:** `{config.trained_model_dir}`",
        *[line for line in [kept_policy_line(result.run_dir)] if line],
        f"- **Held-out prompts:** {len(result.items)} from `{config.eval_jsonl}` (seed {config.seed}); "
        f"{config.num_samples} repl{'y' if config.num_samples == 1 else 'ies'} per prompt, {decoding}"
        + (f", at most {config.max_new_tokens} new tokens" if config.max_new_tokens else "")
        + (f", prompts cut to {config.max_prompt_length} tokens" if config.max_prompt_length else ""),
        *(
            [
                "- **Replies:** written with [n] placeholders and filled in from the reference acts the prompt showed "
                "(act-conditioned framing); everything here is scored on the filled-in text"
                + (
                    "; decoding let each reply write each [n] of its acts at most once and no other, for both models"
                    if config.framing and config.framing.constrained
                    else ""
                )
            ]
            if config.framing and config.framing.placeholders
            else []
        ),
        f"- **Judge failures** (left out of the statistics): base {result.judge_failures['base']}, "
        f"trained {result.judge_failures['trained']}",
        "",
        "## Judge score",
        "",
        "```",
        *result.seed_lines(),
        "```",
        "",
        f"Δ mean {judge.delta:+.4f}, paired bootstrap 95% CI [{judge.ci.low:+.4f}, {judge.ci.high:+.4f}] "
        f"over {judge.n} prompts ({config.bootstrap_resamples:,} resamples): {_verdict(judge)}. "
        f"Trained wins {result.win_rates.win:.0%}, ties {result.win_rates.tie:.0%}, loses {result.win_rates.loss:.0%}.",
        "",
        *_cost_section(result),
        "## Independent signals (not from the judge: their own rules, none of the judge's code)",
        "",
        "| signal | n | base | trained | Δ | 95% CI | |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for name, c in result.comparisons.items():
        if name == JUDGE:
            continue
        lines.append(_comparison_row(SIGNAL_LABELS[name], c))
    lines += [
        "",
        f"Corpus chrF: base {result.corpus_chrf['base']:.2f}, trained {result.corpus_chrf['trained']:.2f}; "
        f"corpus BLEU: base {result.corpus_bleu['base']:.2f}, trained {result.corpus_bleu['trained']:.2f}. "
        "Every signal here is computed by its own plain rule from the sample's acts, schema and context, not by "
        "the judge's code (`evaluation/metrics.py`), so the fidelity warning can catch a student gaming the judge. "
        "Slot error rate follows Kale & Rastogi (2020, T2G2): a reply is wrong when a value of a non-categorical "
        "slot in its acts is missing from it (lowercase substring). Two figures: the T2G2 count has every reply "
        "in its denominator (one without such values is correct), as the paper's reference code counts it; the "
        "other counts only prompts whose acts hold such values (n), so it is larger. "
        "Act-value recall: the share of the acts' values the reply states as whole words (surface or canonical "
        "form). Hallucination rate: the share of replies stating a number, or another result's name, found "
        "nowhere in the context or the acts. "
        'Broken text: a stray punctuation mark (" ."), a doubled word, a leftover placeholder ("[2]") or a '
        'dangling last word ("… at 10 at"). '
        "Lower is better for slot error, hallucination and broken text rates.",
        "",
        *_t2g2_section(result),
        "## Δ judge score by group",
        "",
        "| group | n | base | trained | Δ | 95% CI | |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    lines += [
        _comparison_row(f"{group} services ({'not ' if group == 'unseen' else ''}in the train split)", c)
        for group, c in result.by_seen_unseen.items()
    ]
    lines += [_comparison_row(f"{group}: {BASE_SCORE_GROUPS[group]}", c) for group, c in result.by_base_score.items()]
    lines += [_comparison_row(f"act {act}", c) for act, c in result.by_act_type.items()]
    if result.by_base_score:
        lines += [
            "",
            'The two "base scored" rows split the prompts by the base\'s own score: where it scored 1 the trained '
            "model can only keep or lose, where it scored below 1 only keep or gain, so each moves one way by "
            "construction; their sizes say how much training fixed and how much it broke.",
        ]
    lines += ["", "## Plots", ""]
    if "score_histogram" in plotted:
        lines += [f"![Judge scores, base vs trained]({SCORE_HISTOGRAM})", ""]
    if "training_curves" in plotted:
        lines += [f"![Reward and reply length over training steps]({TRAINING_CURVES})", ""]
    else:
        lines += ["_No training log (`log.jsonl` in the run dir) was found, so no training curves._", ""]
    if "validation_curve" in plotted:
        points = read_validation_points(result.run_dir)
        lines += [f"![Validation slice: judge vs independent signals]({VALIDATION_CURVE})", ""]
        lines += validation_report_lines(points)
    if "delta_by_service" in plotted:
        lines += [f"![Δ judge score per service]({DELTA_BY_SERVICE})", ""]
    lines += _examples_section(result)
    return "\n".join(lines) + "\n"


def _cost_section(result: EvalResult) -> list[str]:
    """What the judge spent in training, on the run's validation slice and in this evaluation, and per point of gain
    (+0.01 of Δ)."""
    delta = result.judge_delta.delta
    gain = (
        f"+{POINT:g} of the eval judge's Δ mean: Δ {delta:+.4f} is {delta / POINT:.1f} points"
        if delta > 0
        else f"the eval judge's Δ mean {delta:+.4f}: {NO_GAIN}"
    )
    lines = [
        "## Cost per point of gain",
        "",
        f"What the judge spent, in all and per point of gain ({gain}). A judge call is an API request, or for a judge "
        "that makes none (acts, a local model) one per reply it scored itself, not from the cache; an offline judge "
        "costs no dollars. Seconds: wall-clock time spent waiting on the judge.",
        "",
        "| stage | judge | replies judged | judge calls | tokens (in + out) | dollars | seconds "
        "| calls per point | tokens per point | dollars per point | seconds per point |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    stages = (
        ("training", "training", result.training_judge or "unknown"),
        ("validation", "validation (the gaming alarm's slice)", result.training_judge or "unknown"),
        ("evaluation", "this evaluation", result.judge_name),
    )
    for stage, label, judge in stages:
        spend = result.judge_spend.get(stage)
        lines.append(_cost_row(label, judge, spend, delta, _not_recorded(result, stage)))
    return [*lines, ""]


def _cost_row(label: str, judge: str, spend: JudgeSpend | None, delta: float, missing: str) -> str:
    if spend is None:
        return f"| {label} | `{judge}` | {missing} |" + " – |" * 8
    totals = [f"{spend.replies:,}", f"{spend.calls:,}", f"{spend.tokens:,}", _dollars(spend.cost_usd)]
    totals.append(f"{spend.seconds:,.1f}")
    figures = per_point(spend, delta)
    if figures is None:
        each = ["–"] * 4
    else:
        each = [
            f"{figures.calls:,.2f}",
            f"{figures.tokens:,.0f}",
            _dollars(figures.cost_usd),
            f"{figures.seconds:,.2f}",
        ]
    return f"| {label} | `{judge}` | " + " | ".join(totals + each) + " |"


def _not_recorded(result: EvalResult, stage: str) -> str:
    if stage in ("training", "validation") and not result.run_dir:
        return "not recorded: no `tracegym train` run dir was evaluated"
    if stage == "training":
        return "not recorded: the run's log.jsonl has no judge_totals (a run cut short, or an older tracegym)"
    if stage == "validation":
        return "none: the run did not validate (`--validate_every`)"
    return "not recorded"


def _dollars(amount: float) -> str:
    return "$0" if amount == 0 else f"${amount:.4g}"


def _t2g2_section(result: EvalResult) -> list[str]:
    """The T2G2 slot error rate in percent, overall and seen / unseen by the reference's domain rule, in the
    published table's shape."""
    overall = result.comparisons["slot_error_rate_t2g2"]
    if not overall.n:
        return []
    columns = [("all", overall)] + [
        (group, result.slot_error_rate_t2g2_by_split[group])
        for group in ("seen", "unseen")
        if group in result.slot_error_rate_t2g2_by_split
    ]
    lines = [
        "### Slot error rate as T2G2 counts it (%)",
        "",
        "Counted as Kale & Rastogi (2020) count the SER of their table, by their reference code "
        "(google-research/task-oriented-dialogue, `generation/ser.py`): every reply is in the denominator; unseen "
        "= the domains Alarm, Messaging, Payment, Train, compared as that code compares them (so `Trains_1` counts "
        "as seen). Their figures are over every system turn of SGD's test split, these over the held-out prompts "
        "above (n: " + ", ".join(f"{name} {c.n}" for name, c in columns) + ").",
        "",
        "| model | " + " | ".join(name for name, _ in columns) + " |",
        "| --- |" + " ---: |" * len(columns),
    ]
    for side in ("base", "trained"):
        cells = [_percent(getattr(c, f"{side}_mean")) for _, c in columns]
        lines.append(f"| {side} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _percent(rate: float) -> str:
    return "–" if math.isnan(rate) else f"{100 * rate:.2f}"


def _comparison_row(label: str, c: Comparison) -> str:
    if not c.n:
        return f"| {label} | 0 | – | – | – | – | does not apply |"
    places = decimals_for(c.signal)
    return (
        f"| {label} | {c.n} | {c.base_mean:.{places}f} | {c.trained_mean:.{places}f} | {c.delta:+.{places}f} | "
        f"[{c.ci.low:+.{places}f}, {c.ci.high:+.{places}f}] | {_verdict(c)} |"
    )


def decimals_for(signal: str) -> int:
    """chrF (0-100) and word counts read best with 2 places; scores and rates in [0, 1] with 4."""
    return 2 if signal in ("chrf", "reply_length_words") else 4


def _verdict(c: Comparison) -> str:
    if c.signal == "reply_length_words":  # length has no better side; its drop is flagged as avoidance instead
        return "longer" if c.significantly_better else "shorter" if c.significantly_worse else "no significant change"
    if c.significantly_better:
        return "better"
    if c.significantly_worse:
        return "**worse**"
    return "no significant change"


def _examples_section(result: EvalResult) -> list[str]:
    scored = [
        item for item in result.items if item.base.mean_score() is not None and item.trained.mean_score() is not None
    ]
    by_gain = sorted(scored, key=_gain)
    losses = [item for item in by_gain[:EXAMPLES_SHOWN] if _gain(item) < 0]
    gains = [item for item in reversed(by_gain[-EXAMPLES_SHOWN:]) if _gain(item) > 0]
    shown_ids = {item.sample.id for item in gains + losses}
    # Ties say something too (the same reply, or two different replies the judge cannot tell apart).
    others = [item for item in scored if item.sample.id not in shown_ids][: 2 * EXAMPLES_SHOWN - len(shown_ids)]
    lines = [
        "## Examples",
        "",
        f"The {len(gains)} largest gains and {len(losses)} largest losses of the judge score"
        + (f", then {len(others)} more prompt{'s' if len(others) != 1 else ''}" if others else "")
        + " (first reply of each model). Every generation is in `generations.jsonl`.",
        "",
        "| id | last turns | reference | base reply | trained reply | base | trained |",
        "| --- | --- | --- | --- | --- | ---: | ---: |",
    ]
    for item in gains + losses + others:
        lines.append(
            f"| {_cell(item.sample.id)} | {_cell(_last_turns(item))} | {_cell(item.sample.ground_truth)} | "
            f"{_cell(item.base.replies[0])} | {_cell(item.trained.replies[0])} | "
            f"{item.base.mean_score():.2f} | {item.trained.mean_score():.2f} |"
        )
    return lines


def _gain(item: EvalItem) -> float:
    return item.trained.mean_score() - item.base.mean_score()


def _last_turns(item: EvalItem, count: int = 2) -> str:
    turns = [m for m in item.sample.messages if m.get("role") != "system"]
    if not turns:
        return "\n".join(item.sample.prompt.splitlines()[-count:])
    return "\n".join(f"{m['role']}: {m['content']}" for m in turns[-count:])


def _cell(text: str, limit: int = 240) -> str:
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|").replace("\r", "").replace("\n", "<br>") or "_(empty)_"


# ------------------------------------------------------------------------------------------------- helpers


def _unseen(result: EvalResult, service: str) -> bool:
    return any(item.sample.unseen_service for item in result.items if (item.sample.service or "(none)") == service)


def _first_key(log: Sequence[dict[str, Any]], keys: Sequence[str]) -> str | None:
    for key in keys:
        if any(_number(record.get(key)) for record in log):
            return key
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _finite(tree: Any) -> Any:
    """JSON has no NaN: figures that do not apply (no pairs) become null."""
    if isinstance(tree, float):
        return tree if math.isfinite(tree) else None
    if isinstance(tree, dict):
        return {key: _finite(value) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_finite(value) for value in tree]
    return tree
