"""The resumable loop every stage that writes JSONL runs: generate, label (rollout,
supervisor), score and search.

:func:`run_chunks` takes the stage's input items, an open
:class:`~mathverify.records.RecordWriter` (which, on ``--resume``, has read the keys of the
rows written before and checked their provenance) and the stage's work on one chunk of
items. It passes over the items already done, works through the rest chunk by chunk, and
appends each chunk's records as soon as the chunk is done (one flushed line each), so a
killed run loses at most the chunk in flight. Progress goes to :mod:`mathverify.progress`
in items of the input: items done before count as they are passed over, the items of a
chunk count when it is written (less what the work reported itself).

How the chunks of a resumed run are cut depends on whether a record depends on the other
items of its chunk:

* **Fixed chunks** (``whole_chunks=True``: generate, label rollout, search). The work
  samples with a seed per chunk or per backend call, so a row depends on its chunk. The
  chunks are cut on the whole input, done items included, so they are the same on every
  run; a chunk whose items are all done is skipped, and a chunk partly written before a
  crash is worked whole again (same inputs, same seed) and its rows written before are
  skipped when writing. A resumed run writes exactly the rows an unbroken one would.
* **Remaining items** (``whole_chunks=False``: score, label supervisor). A record is a
  function of its item alone, so the items done are dropped first and the rest is cut
  into chunks (no work is repeated).

An item is done when every key it makes (``keys``) is in the output. A stage that writes a
second output (search's trees) writes it inside its work: it is then flushed before the
chunk's records in the main output, which are what marks the chunk done.

Not for: what the work is (each stage's own module), opening files, printing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from typing import Generic, TypeVar

from mathverify import progress
from mathverify.iterutils import batched
from mathverify.records import Record, RecordWriter

T = TypeVar("T")
R = TypeVar("R", bound=Record)


@dataclass(frozen=True)
class Chunk(Generic[T]):
    """One chunk of a stage's input, as the work receives it."""

    index: int  # 0-based; with fixed chunks its place in the whole input, the same every run
    count: int | None  # how many chunks the input makes (fixed chunks of a sized input)
    items: list[T]


def run_chunks(
    items: Iterable[T],
    work: Callable[[Chunk[T]], Iterable[R]],
    writer: RecordWriter,
    *,
    size: int,
    keys: Callable[[T], Iterable[str]],
    whole_chunks: bool = True,
    on_chunk: Callable[[Chunk[T], list[R]], None] | None = None,
) -> None:
    """Run ``work`` on the items of ``items`` not yet in ``writer``'s output, ``size`` at a
    time, and append the records each chunk gives (see the module docstring).

    ``keys(item)``: the keys of the records the item makes; it is done when ``writer``
    holds all of them. ``on_chunk`` hears of each chunk once its records are written.
    """
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")

    def done(item: T) -> bool:
        return all(writer.done(key) for key in keys(item))

    chunks = _fixed(items, size, done) if whole_chunks else _remaining(items, size, done)
    for chunk in chunks:
        with progress.counting() as reported:
            records = list(work(chunk))
        writer.write_all(records)
        # The work may have reported items it finished; the rest end with the chunk.
        progress.advance(len(chunk.items) - reported.n)
        if on_chunk is not None:
            on_chunk(chunk, records)


def _fixed(items: Iterable[T], size: int, done: Callable[[T], bool]) -> Iterator[Chunk[T]]:
    """Every chunk of the whole input that has an item not done (see the module docstring)."""
    count = math.ceil(len(items) / size) if isinstance(items, Sized) else None
    for index, group in enumerate(batched(items, size)):
        if all(done(item) for item in group):
            progress.advance(len(group))
            continue
        yield Chunk(index, count, group)


def _remaining(items: Iterable[T], size: int, done: Callable[[T], bool]) -> Iterator[Chunk[T]]:
    """The items not done, in chunks of ``size``; the done ones count as passed over."""
    passed = 0

    def todo() -> Iterator[T]:
        nonlocal passed
        for item in items:
            if done(item):
                passed += 1
            else:
                yield item

    for index, group in enumerate(batched(todo(), size)):
        progress.advance(passed)
        passed = 0
        yield Chunk(index, None, group)
    progress.advance(passed)
