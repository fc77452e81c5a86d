"""Shared test setup: canary keys, the slow tier, and the canary scan at the end of the session.

A canary API key is in the environment for the whole suite; when the session finishes, `pytest_sessionfinish`
scans everything the suite wrote for it (tests/canary.py) and fails the session if any file holds it. No test may
reach a real API: the real SDKs talk only to local servers started by the tests.

`pytest -m "not slow"` is the fast tier. A test is slow when it builds, trains or generates with a model: mark it
`@pytest.mark.slow`, or use a fixture made with `factories.model_fixture`, which marks every test that uses it. A
test of the fast tier whose `run_cli` builds, trains or runs a model fails and says so (tests/cli_helpers.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from canary import canary_needles, repository_output_roots, scan_for_canary
from cli_helpers import TIER_VARIABLE

CANARY_KEY = "AIzaCANARY-tracegym-test-key-0000000000000"
os.environ["GEMINI_API_KEY"] = CANARY_KEY
os.environ["GOOGLE_API_KEY"] = CANARY_KEY
os.environ["OPENAI_API_KEY"] = "sk-CANARY-tracegym-test-key-00000000000000"
os.environ.pop("OPENAI_BASE_URL", None)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytest_plugins = ("pytester",)
REPO_ROOT = Path(__file__).resolve().parent.parent
CANARY_SCAN = pytest.StashKey["CanaryScan"]()


@pytest.fixture(scope="session")
def suite_output_root(tmp_path_factory):
    """A folder every test that writes files should write under, so the canary scan sees it all."""
    return tmp_path_factory.getbasetemp()


@pytest.fixture
def suite_pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """A pytester folder with this conftest (canary keys, tiers, the scan) and the tests' helpers on the path.
    Emptied afterwards: the copies name the canary key, which the outer session's scan would find."""
    for name in ("conftest.py", "canary.py"):
        shutil.copy(Path(__file__).with_name(name), pytester.path / name)
    tests_dir = str(Path(__file__).parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [tests_dir, os.environ.get("PYTHONPATH")])))
    yield pytester
    for path in pytester.path.iterdir():
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks slow every test that uses a fixture made with `factories.model_fixture`, directly or through
    another fixture, so a new test of a model cannot land in the fast tier by forgetting the mark."""
    for item in items:
        fixture_info = getattr(item, "_fixtureinfo", None)
        if fixture_info is None or item.get_closest_marker("slow"):
            continue
        for definitions in fixture_info.name2fixturedefs.values():
            if any(getattr(definition.func, "makes_a_model", False) for definition in definitions):
                item.add_marker(pytest.mark.slow)
                break


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tells `cli_helpers.run_cli` the tier of the test about to run, before its fixtures are made."""
    os.environ[TIER_VARIABLE] = "slow" if item.get_closest_marker("slow") else "fast"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Scans pytest's basetemp and the repository's run folders for the canary; a leak fails the session.

    Runs once: in the pytest-xdist controller (whose basetemp holds every worker's), not in the workers."""
    config = session.config
    if hasattr(config, "workerinput") or config.option.collectonly or not session.testscollected:
        return
    roots = [config._tmp_path_factory.getbasetemp(), *repository_output_roots(REPO_ROOT)]
    scan = scan_for_canary(roots, canary_needles())
    config.stash[CANARY_SCAN] = scan
    if scan.leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    scan = config.stash.get(CANARY_SCAN, None)
    if scan is None:
        return
    if scan.leaks:
        terminalreporter.write_sep("=", "canary scan failed", red=True, bold=True)
        terminalreporter.write_line(scan.leak_report())
        terminalreporter.write_line(scan.summary())
    else:
        terminalreporter.write_line(scan.summary() + ": no canary")
