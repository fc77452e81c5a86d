"""Weighted mixtures of judges, the price table, and budget caps that stop cleanly.

`ListedJudge` below is a judge as a third-party plugin would write one (the Judge protocol, nothing of ours
replaced): it answers a fixed score per reply and reports usage like a remote backend, one call per reply.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest

from factories import restaurant_sample
from tracegym.errors import BudgetExceeded, UserError
from tracegym.judges import JudgeSettings, build_judge, score_sync
from tracegym.judges.base import Usage, Verdict, fingerprint_of
from tracegym.judges.budget import DEFAULT_PRICES, Budgeted, BudgetStop, Ledger, cost_usd, price_of
from tracegym.judges.cache import Cached, VerdictCache
from tracegym.judges.mixture import Mixture, parse_weights
from tracegym.samples import Sample


class ListedJudge:
    """Scores reply i by `scores[reply]` (None = a failure); one call, 1000 tokens in, 100 out per reply."""

    def __init__(self, name: str, scores: dict[str, float | None], model: str = "gemini-2.5-flash") -> None:
        self.name = name
        self.fingerprint = fingerprint_of(name, scores=scores)
        self.scores = scores
        self.model = model
        self.replies_seen: list[str] = []

    async def score(self, samples: Sequence[Sample], responses: Sequence[str]) -> list[Verdict]:
        await asyncio.sleep(0)
        self.replies_seen.extend(responses)
        usage = Usage(input_tokens=1000, output_tokens=100, cost_usd=cost_usd(self.model, 1000, 100), calls=1)
        return [
            Verdict.failure(f"{self.name} could not parse its verdict", usage)
            if self.scores[reply] is None
            else Verdict(score=self.scores[reply], reasoning=f"{self.name} says so", usage=usage)
            for reply in responses
        ]


def samples_for(replies: Sequence[str]) -> list[Sample]:
    return [restaurant_sample(index) for index in range(len(replies))]


# ---- mixtures -----------------------------------------------------------------------------------------------


def test_weights_default_to_equal_and_must_match_the_judges():
    assert parse_weights(None, 3) == [1.0, 1.0, 1.0]
    assert parse_weights("0.7, 0.3", 2) == [0.7, 0.3]
    for text, fragment in [
        ("0.7", "1 weight(s) for 2 judge(s)"),
        ("0.7,-0.3", "positive"),
        ("0.7,0", "positive"),
        ("a,b", "not a list of numbers"),
        ("0.5,nan", "positive"),
    ]:
        with pytest.raises(UserError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
            parse_weights(text, 2)


def test_a_mixture_is_the_weighted_mean_and_keeps_each_part():
    strict = ListedJudge("strict", {"a": 0.2, "b": 1.0})
    lenient = ListedJudge("lenient", {"a": 0.8, "b": 1.0})
    mixture = Mixture.from_weights([strict, lenient], "3,1")

    first, second = score_sync(mixture, samples_for("ab"), ["a", "b"])

    assert first.score == pytest.approx(0.75 * 0.2 + 0.25 * 0.8)
    assert first.parts == {"strict": 0.2, "lenient": 0.8}
    assert second.score == pytest.approx(1.0)
    assert first.usage.calls == 2 and first.usage.input_tokens == 2000  # both members' usage, summed
    assert mixture.name == "strict+lenient"


def test_a_member_failure_fails_the_mixture_instead_of_counting_as_zero():
    flaky = ListedJudge("flaky", {"a": None, "b": 0.5})
    steady = ListedJudge("steady", {"a": 0.9, "b": 0.5})
    mixture = Mixture.from_weights([flaky, steady], "0.5,0.5")

    failed, scored = score_sync(mixture, samples_for("ab"), ["a", "b"])

    assert failed.score is None
    assert "flaky" in failed.error and "could not parse" in failed.error
    assert failed.parts == {"steady": 0.9}
    assert scored.score == pytest.approx(0.5)


def test_members_score_the_same_batch_concurrently():
    class SlowJudge(ListedJudge):
        running = 0
        most_at_once = 0

        async def score(self, samples, responses):
            SlowJudge.running += 1
            SlowJudge.most_at_once = max(SlowJudge.most_at_once, SlowJudge.running)
            await asyncio.sleep(0.05)
            SlowJudge.running -= 1
            return await super().score(samples, responses)

    members = [SlowJudge(name, {"a": 0.5}) for name in ("one", "two", "three")]
    score_sync(Mixture.from_weights(members, None), samples_for("a"), ["a"])
    assert SlowJudge.most_at_once == 3
    assert all(member.replies_seen == ["a"] for member in members)


def test_the_fingerprint_covers_members_and_weights():
    strict = ListedJudge("strict", {"a": 0.2})
    lenient = ListedJudge("lenient", {"a": 0.8})
    base = Mixture.from_weights([strict, lenient], "0.7,0.3").fingerprint
    assert base.startswith("mixture:")
    assert Mixture.from_weights([strict, lenient], "7,3").fingerprint == base  # same normalised weights
    assert Mixture.from_weights([strict, lenient], "0.5,0.5").fingerprint != base
    assert Mixture.from_weights([lenient, strict], "0.3,0.7").fingerprint != base
    assert Mixture.from_weights([strict, ListedJudge("lenient", {"a": 0.9})], "0.7,0.3").fingerprint != base


def test_build_judge_makes_a_mixture_of_registered_judges_and_names_repeated_parts():
    judge = build_judge(JudgeSettings(judge="acts+acts", judge_weights="0.7,0.3"))
    single = build_judge(JudgeSettings(judge="acts"))
    sample = restaurant_sample()
    [mixed] = score_sync(judge, [sample], ["It is at 377 Santana Row."])
    [alone] = score_sync(single, [sample], ["It is at 377 Santana Row."])
    assert isinstance(judge, Mixture) and set(mixed.parts) == {"acts", "acts_2"}
    assert mixed.score == pytest.approx(alone.score)


@pytest.mark.parametrize(
    "settings, fragment",
    [
        (JudgeSettings(judge="nosuchjudge"), "unknown judge 'nosuchjudge'"),
        (JudgeSettings(judge="acts+nosuchjudge"), "unknown judge 'nosuchjudge'"),
        (JudgeSettings(judge="acts+"), "empty judge name"),
        (JudgeSettings(judge="acts+acts", judge_weights="1,2,3"), "3 weight(s) for 2 judge(s)"),
    ],
)
def test_build_judge_reports_bad_settings_as_user_errors(settings, fragment):
    with pytest.raises(UserError) as error:
        build_judge(settings)
    assert fragment in str(error.value)
    if "unknown" in fragment:
        assert "acts" in str(error.value) and "gemini" in str(error.value)  # it lists the names to choose from


# ---- prices ------------------------------------------------------------------------------------------------


def test_cost_is_priced_per_million_tokens_by_model():
    assert cost_usd("gemini-2.5-flash", 1_000_000, 0) == pytest.approx(DEFAULT_PRICES["gemini-2.5-flash"].input)
    assert cost_usd("gpt-4o-mini", 2_000_000, 1_000_000) == pytest.approx(2 * 0.15 + 0.60)
    assert price_of("gpt-4o-mini-2024-07-18") == DEFAULT_PRICES["gpt-4o-mini"]  # a dated release of a listed model
    assert price_of("models/gemini-2.5-pro") == DEFAULT_PRICES["gemini-2.5-pro"]
    assert cost_usd("local", 10**6, 10**6) == 0.0
    assert cost_usd("qwen2.5:7b-on-my-vllm", 10**6, 10**6) == 0.0
    assert all(name in DEFAULT_PRICES for name in ("gemini-2.0-flash", "gpt-4o", "gpt-4.1-mini"))


def test_a_price_file_overrides_the_table(tmp_path, monkeypatch):
    json_file = tmp_path / "prices.json"
    json_file.write_text(
        json.dumps({"gemini-2.5-flash": {"input": 1, "output": 2}, "my-model": {"input": 3, "output": 4}})
    )
    yaml_file = tmp_path / "prices.yaml"
    yaml_file.write_text("my-model:\n  input: 5\n  output: 6\n")

    assert cost_usd("my-model", 10**6, 10**6, prices=json_file) == pytest.approx(7.0)
    assert cost_usd("my-model", 10**6, 10**6, prices=yaml_file) == pytest.approx(11.0)
    monkeypatch.setenv("TRACEGYM_PRICES", str(json_file))
    assert cost_usd("gemini-2.5-flash", 10**6, 10**6) == pytest.approx(3.0)
    assert cost_usd("gpt-4o", 10**6, 0) == pytest.approx(2.5)  # the rest of the table stays


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("{not json", "cannot parse"),
        ('{"m": {"input": 1}}', "numeric `input` and `output`"),
        ('{"m": {"input": -1, "output": 1}}', "negative"),
        ("[1, 2]", "mapping of model name"),
    ],
)
def test_a_bad_price_file_is_a_user_error(tmp_path, text, fragment):
    path = tmp_path / "prices.json"
    path.write_text(text)
    with pytest.raises(UserError, match=fragment):
        cost_usd("m", 1, 1, prices=path)
    with pytest.raises(UserError, match="no such file"):
        cost_usd("m", 1, 1, prices=tmp_path / "absent.json")


# ---- budget caps -------------------------------------------------------------------------------------------


def test_the_call_cap_scores_what_fits_then_stops_with_those_verdicts():
    inner = ListedJudge("remote", {reply: 0.5 for reply in "abcdefgh"})
    judge = Budgeted(inner, max_calls=5)

    with pytest.raises(BudgetStop) as stop:
        score_sync(judge, samples_for("abcdefgh"), list("abcdefgh"))

    assert isinstance(stop.value, BudgetExceeded)  # the CLI turns it into exit 3
    assert inner.replies_seen == list("abcde")  # nothing sent past the cap
    assert [v.score for v in stop.value.verdicts] == [0.5] * 5
    assert "5 of --max_judge_calls 5" in str(stop.value)
    with pytest.raises(BudgetStop):
        score_sync(judge, samples_for("h"), ["h"])
    assert inner.replies_seen == list("abcde")


def test_the_cost_cap_stops_before_a_reply_that_would_pass_it():
    inner = ListedJudge("remote", {reply: 0.5 for reply in "abcdefgh"}, model="gemini-2.5-pro")
    per_reply = cost_usd("gemini-2.5-pro", 1000, 100)  # $0.00225
    judge = Budgeted(inner, max_cost_usd=3.5 * per_reply)

    with pytest.raises(BudgetStop) as stop:
        score_sync(judge, samples_for("abcdefgh"), list("abcdefgh"))

    assert len(stop.value.verdicts) == 3 and inner.replies_seen == list("abc")
    assert judge.spent.cost_usd == pytest.approx(3 * per_reply) and judge.spent.cost_usd <= judge.max_cost_usd
    assert "--max_judge_cost_usd" in str(stop.value)


def test_a_local_judge_counts_one_call_per_reply():
    judge = build_judge(JudgeSettings(judge="acts", max_judge_calls=3))
    with pytest.raises(BudgetStop) as stop:
        score_sync(judge, samples_for("abcd"), list("abcd"))
    assert len(stop.value.verdicts) == 3


def test_with_the_cache_outside_the_caps_a_rerun_resumes_and_hits_cost_nothing(tmp_path):
    replies = list("abcdefgh")
    inner = ListedJudge("remote", {reply: 0.5 for reply in replies})
    judge = Cached(Budgeted(inner, max_calls=5), VerdictCache(tmp_path / "verdicts.sqlite"))

    with pytest.raises(BudgetStop):
        score_sync(judge, samples_for(replies), replies)
    assert judge.cache.count() == 5  # what was paid for was kept

    rerun = Cached(Budgeted(inner, max_calls=5), VerdictCache(tmp_path / "verdicts.sqlite"))
    verdicts = score_sync(rerun, samples_for(replies), replies)

    assert inner.replies_seen == replies  # each reply was sent exactly once over both runs
    ledger = Ledger()
    ledger.add(verdicts)
    assert (ledger.replies, ledger.cache_hits, ledger.calls) == (8, 5, 3)
    assert ledger.cost_usd == pytest.approx(3 * cost_usd("gemini-2.5-flash", 1000, 100))


def test_caps_must_be_positive():
    with pytest.raises(UserError, match="max_judge_calls"):
        Budgeted(ListedJudge("remote", {}), max_calls=0)
    with pytest.raises(UserError, match="max_judge_cost_usd"):
        Budgeted(ListedJudge("remote", {}), max_cost_usd=-1.0)
