"""The seed's `scripts/train_grpo.py`, as a thin wrapper of `tracegym train` (same flags)."""

import sys

from tracegym.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
