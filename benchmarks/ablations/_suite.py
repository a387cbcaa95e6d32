"""The suite's ``compare`` module (data sets, splits, fits) for the ablations, which
run as scripts from ``benchmarks/ablations/`` and so do not see ``benchmarks/``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import compare  # noqa: E402

__all__ = ["compare"]
