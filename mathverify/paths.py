"""Where shared data lives: one setting, `MATHVERIFY_DATA`, defaulting to `../shared/data`."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "MATHVERIFY_DATA"
DEFAULT_DATA_DIR = "../shared/data"


def data_dir() -> Path:
    """The folder holding the real data files (MATH500, GSM8K, ProcessBench, ...)."""
    return Path(os.environ.get(DATA_ENV, DEFAULT_DATA_DIR)).expanduser()
