"""The seed's command, kept working: `python scripts/prepare_sgd_env.py --sgd_root DIR --out_path F [...]`.

A thin wrapper of `tracegym prepare`: every flag of that command is accepted, spelled the same.
"""

import sys

from tracegym.cli import main

if __name__ == "__main__":
    sys.exit(main(["prepare", *sys.argv[1:]]))
