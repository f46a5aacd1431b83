"""Print ``name==floor`` for the named dependencies, read from pyproject.toml's ``>=`` bounds.

``make test-oldest`` installs these pins, so the job follows pyproject: raising a floor there
moves the tested release with it. A named package without a ``>=`` bound is an error.
Usage: python mk/oldest_pins.py torch transformers ...
"""

from __future__ import annotations

import sys
from pathlib import Path

from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def floors(names: list[str], pyproject: Path) -> list[str]:
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    lower = {}
    for text in dependencies:
        requirement = Requirement(text)
        for spec in requirement.specifier:
            if spec.operator == ">=":
                lower[requirement.name.lower()] = spec.version
    missing = [name for name in names if name.lower() not in lower]
    if missing:
        raise SystemExit(f"{pyproject}: no '>=' bound for {', '.join(missing)}")
    return [f"{name}=={lower[name.lower()]}" for name in names]


if __name__ == "__main__":
    print("\n".join(floors(sys.argv[1:], Path(__file__).resolve().parents[1] / "pyproject.toml")))
