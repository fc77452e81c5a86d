"""The two exceptions the CLI turns into exit codes.

Library code raises them; only `tracegym.cli.main` prints and exits.
"""


class UserError(Exception):
    """Bad input or usage: the CLI prints `error: <message>` on one line and exits 2.

    The message says what was wrong, where (file, record index, JSON position) and how to fix it.
    """


class BudgetExceeded(Exception):
    """A judge budget cap (`--max_judge_calls`, `--max_judge_cost_usd`) was reached: exit 3.

    What was written before the cap is valid, and re-running the same command resumes.
    """
