"""The ``mathverify`` command line: one entry point, one module per command group."""

from __future__ import annotations

import importlib

from mathverify.cli.app import app

# Each module registers its commands on `app` when imported. Listed here, not discovered,
# so the set of commands is explicit and import errors surface in tests. One entry a line.
_COMMAND_MODULES = (
    "label",
    "eval",
    "select",
    "data",
    "synth",
    "generate",
    "train_verifiers",
    "score",
    "train_policy",
    "search",
    "train_value",
    "seeds",
)

for _module in _COMMAND_MODULES:
    importlib.import_module(f"mathverify.cli.{_module}")


def main() -> None:
    app()


__all__ = ["app", "main"]
