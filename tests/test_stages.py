"""The stage runner (``mathverify.stages.run_chunks``): what a resumed run skips, what it
works again, and that a crash loses no row already flushed."""

from __future__ import annotations

from pathlib import Path

import pytest

from mathverify import progress
from mathverify.records import RecordWriter, Solution, read_all
from mathverify.stages import Chunk, run_chunks

IDS = [f"p{i}" for i in range(7)]


class Work:
    """Two solutions per problem id; the text names the chunk it was made in, as a seed
    per chunk would. Raises on chunk ``fail_at`` after it is called (a crash)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.chunks: list[tuple[int, list[str]]] = []
        self.fail_at = fail_at

    def __call__(self, chunk: Chunk[str]) -> list[Solution]:
        self.chunks.append((chunk.index, list(chunk.items)))
        if chunk.index == self.fail_at:
            raise RuntimeError("killed")
        return [
            Solution(problem_id=pid, sample_id=s, steps=["x"], text=f"chunk {chunk.index}")
            for pid in chunk.items
            for s in range(2)
        ]


def keys(pid: str) -> list[str]:
    return [Solution.key_for(pid, s) for s in range(2)]


def run(path: Path, work: Work, *, resume: bool, whole_chunks: bool = True) -> None:
    with RecordWriter(path, Solution, resume=resume) as writer:
        run_chunks(IDS, work, writer, size=3, keys=keys, whole_chunks=whole_chunks)


class Recorder:
    def __init__(self) -> None:
        self.advanced: list[int] = []

    def advance(self, n: int) -> None:
        self.advanced.append(n)

    def note(self, **parts: str) -> None:
        pass


@pytest.fixture
def reference(tmp_path: Path) -> bytes:
    path = tmp_path / "reference.jsonl"
    run(path, Work(), resume=False)
    return path.read_bytes()


def test_a_crash_loses_no_chunk_already_written_and_resume_skips_it(
    tmp_path: Path, reference: bytes
) -> None:
    path = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError, match="killed"):
        run(path, Work(fail_at=1), resume=False)
    # The first chunk's rows were flushed before the second chunk began.
    assert [s.key() for s in read_all(path, Solution)] == [k for p in IDS[:3] for k in keys(p)]
    work = Work()
    run(path, work, resume=True)
    assert [index for index, _ in work.chunks] == [1, 2]
    assert path.read_bytes() == reference


def test_fixed_chunks_work_a_partly_written_chunk_whole(tmp_path: Path, reference: bytes) -> None:
    # Killed while writing the second chunk: one of its rows, then a torn line.
    lines = reference.splitlines(keepends=True)
    path = tmp_path / "out.jsonl"
    path.write_bytes(b"".join(lines[:7]) + lines[7][:20])
    work = Work()
    run(path, work, resume=True)
    # Chunks are cut on the whole input: the second is p3..p5 again, with its index.
    assert work.chunks == [(1, ["p3", "p4", "p5"]), (2, ["p6"])]
    assert path.read_bytes() == reference


def test_remaining_items_drop_the_done_ones_before_cutting_chunks(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with RecordWriter(path, Solution) as writer:
        writer.write_all(Solution(problem_id=p, sample_id=s, steps=["x"]) for p in ("p1", "p4") for s in range(2))  # fmt: skip
    work = Work()
    run(path, work, resume=True, whole_chunks=False)
    assert work.chunks == [(0, ["p0", "p2", "p3"]), (1, ["p5", "p6"])]
    assert sorted(s.key() for s in read_all(path, Solution)) == sorted(
        k for p in IDS for k in keys(p)
    )


@pytest.mark.parametrize("whole_chunks", [True, False])
def test_progress_counts_every_item_once_done_ones_included(
    tmp_path: Path, reference: bytes, whole_chunks: bool
) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b"".join(reference.splitlines(keepends=True)[:6]))  # p0..p2 done
    recorder = Recorder()
    with progress.reporting(recorder):
        run(path, Work(), resume=True, whole_chunks=whole_chunks)
    assert sum(recorder.advanced) == len(IDS)
    assert recorder.advanced[0] == 3  # the items done before count at once


def test_items_the_work_reported_are_not_counted_twice(tmp_path: Path) -> None:
    def reporting_work(chunk: Chunk[str]) -> list[Solution]:
        progress.advance(1)  # one item finished early inside the chunk
        return Work()(chunk)

    recorder = Recorder()
    with progress.reporting(recorder), RecordWriter(tmp_path / "o.jsonl", Solution) as writer:
        run_chunks(IDS, reporting_work, writer, size=3, keys=keys)
    assert recorder.advanced == [1, 2, 1, 2, 1]
