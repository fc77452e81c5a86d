"""The seed's `python scripts/eval.py --eval_jsonl … --base_model … --trained_model_dir … --n 50`, as a thin
wrapper of `tracegym eval` (every flag of `tracegym eval --help` works here too)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from tracegym.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["eval", *sys.argv[1:]]))
