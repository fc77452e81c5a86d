"""The fast tier (`pytest -m "not slow"`) keeps out every test that builds, trains or generates with a model."""

from __future__ import annotations

import pytest

from cli_helpers import TIER_VARIABLE, fail_a_model_run_in_the_fast_tier


def test_a_test_using_a_model_fixture_directly_or_not_is_marked_slow(suite_pytester: pytest.Pytester):
    suite_pytester.makepyfile(
        test_tiers_inner="""
        import pytest
        from factories import model_fixture

        @model_fixture
        def student():
            return "a model"

        @pytest.fixture
        def run(student):
            return student

        def test_uses_the_model(student):
            pass

        def test_uses_it_through_another_fixture(run):
            pass

        def test_needs_no_model():
            pass
        """
    )
    result = suite_pytester.runpytest_subprocess("-p", "no:cacheprovider", "-m", "not slow", "-v")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["*test_needs_no_model PASSED*"])


def test_a_model_command_that_succeeds_in_a_fast_test_fails_it(monkeypatch):
    monkeypatch.setenv(TIER_VARIABLE, "fast")
    with pytest.raises(pytest.fail.Exception, match="mark the test @pytest.mark.slow"):
        fail_a_model_run_in_the_fast_tier(["train", "--train_jsonl", "t.jsonl"], 0)
    fail_a_model_run_in_the_fast_tier(["train", "--help"], 0)
    fail_a_model_run_in_the_fast_tier(["train", "--train_jsonl", "missing.jsonl"], 2)  # a user error: no model
    fail_a_model_run_in_the_fast_tier(["prepare", "--split", "dev"], 0)
    monkeypatch.setenv(TIER_VARIABLE, "slow")
    fail_a_model_run_in_the_fast_tier(["train", "--train_jsonl", "t.jsonl"], 0)
