"""Progress events from long library loops to whoever shows them.

Library code reports what it finished (:func:`advance`: problems or solutions done) and
where it is inside one unit of work (:func:`note`: ``depth="3/10"``, ``sequences="64/256"``);
it never prints. A command installs a :class:`Reporter` for the length of a call with
:func:`reporting` and draws it (the CLI: a rich bar on stderr). Without one, the calls do
nothing, so tests and library users see no output.

Not a parameter of the functions that report: every search method keeps one signature
(:data:`mathverify.search.SEARCHES`), and a backend reports from inside ``complete``
without its callers passing anything down. A context variable, so a reporter installed
in one thread is not seen by another.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Protocol


class Reporter(Protocol):
    def advance(self, n: int) -> None:
        """``n`` more units (problems, solutions) are finished."""

    def note(self, **parts: str) -> None:
        """Where the current unit of work is, by part (``depth="3/10"``); ``""`` clears one."""


_current: ContextVar[Reporter | None] = ContextVar("mathverify_progress", default=None)


def advance(n: int = 1) -> None:
    """Tell the installed reporter that ``n`` more units are finished (no reporter: nothing)."""
    reporter = _current.get()
    if reporter is not None and n:
        reporter.advance(n)


def note(**parts: str) -> None:
    """Tell the installed reporter where the current unit of work is (no reporter: nothing)."""
    reporter = _current.get()
    if reporter is not None:
        reporter.note(**parts)


@contextlib.contextmanager
def reporting(reporter: Reporter) -> Iterator[Reporter]:
    """Send :func:`advance` and :func:`note` to ``reporter`` inside the ``with`` block."""
    token = _current.set(reporter)
    try:
        yield reporter
    finally:
        _current.reset(token)


class _Counting:
    """Forwards to the reporter it wraps (if any) and counts the units advanced."""

    def __init__(self, inner: Reporter | None) -> None:
        self.inner = inner
        self.n = 0

    def advance(self, n: int) -> None:
        self.n += n
        if self.inner is not None:
            self.inner.advance(n)

    def note(self, **parts: str) -> None:
        if self.inner is not None:
            self.inner.note(**parts)


@contextlib.contextmanager
def counting() -> Iterator[_Counting]:
    """Count the units advanced inside the block (still passed on to the reporter), so a
    loop can advance the rest of a batch whose worker reported only part of it."""
    counter = _Counting(_current.get())
    token = _current.set(counter)
    try:
        yield counter
    finally:
        _current.reset(token)
