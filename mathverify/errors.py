"""Domain errors: failures a user can fix, reported by the CLI as one line and exit code 2."""

from __future__ import annotations


class MathverifyError(Exception):
    """A failure caused by input or settings, with a message meant for the user."""


class RecordError(MathverifyError):
    """A JSONL line that is malformed or has a missing or mistyped field."""

    def __init__(self, path: str, line: int | None, message: str, field: str | None = None):
        self.path = path
        self.line = line
        self.field = field
        where = f"{path}:{line}" if line is not None else path
        what = f"field '{field}': {message}" if field else message
        super().__init__(f"{where}: {what}")
