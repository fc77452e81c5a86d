"""tracegym: dialogue traces in, a better small model out.

from tracegym import read_jsonl, write_jsonl, Sample
"""

from tracegym.samples import Sample, read_jsonl, read_samples, write_jsonl

__all__ = ["Sample", "read_jsonl", "read_samples", "write_jsonl"]
__version__ = "0.1.0"
