"""One search over JSONL files: the problems it covers, the provenance of what it writes,
and the batch loop that searches, grades and writes results and trees, resumably.

The command line (:mod:`mathverify.cli.search`) parses options, names the files, loads
the models and opens the grading pool, then calls :func:`write_search`; a script or a test
can do the same. The search methods themselves live one per module beside this one and
run through :func:`mathverify.search.run_search`; the batch loop is the stage runner's
(:func:`mathverify.stages.run_chunks`, fixed chunks).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from mathverify import progress
from mathverify.backends.base import Policy
from mathverify.errors import MathverifyError
from mathverify.grading import GradingPool
from mathverify.provenance import Provenance, collect
from mathverify.records import (
    Problem,
    RecordWriter,
    SearchResult,
    Tree,
    in_shard,
    parse_shard,
    read_all,
)
from mathverify.search import grade_results, run_search
from mathverify.search.config import SearchConfig
from mathverify.stages import Chunk, run_chunks
from mathverify.step_scores import Scorer


def select_problems(
    path: str, shard: str | None, limit: int | None, tree_ids: set[str] | None = None
) -> list[Problem]:
    """The problems of ``path`` a search covers: those with a tree in ``tree_ids`` (offline;
    a tree for a problem not in the file is an error), in ``shard``, the first ``limit``."""
    shard_spec = parse_shard(shard)
    problems = read_all(path, Problem)
    if tree_ids is not None:
        known = {p.id for p in problems}
        unknown = sorted(tree_ids - known)
        if unknown:
            raise MathverifyError(
                f"--trees has a tree for problem {unknown[0]!r}, which is not in {path}"
            )
        problems = [p for p in problems if p.id in tree_ids]
    problems = [p for p in problems if in_shard(p.id, shard_spec)]
    if limit is not None:
        if limit < 1:
            raise MathverifyError(f"--limit must be at least 1, got {limit}")
        problems = problems[:limit]
    return problems


def grading_settings(pool: GradingPool) -> dict[str, Any]:
    """The grading mode, graders, lenient rules and timeout: they decide every outcome."""
    return {
        "grading": pool.mode,
        "graders": list(pool.graders),
        "rules": list(pool.rules),
        "grade_timeout": pool.timeout,
    }


def search_provenance(
    policy: dict[str, Any],
    scorer: dict[str, Any],
    recorded: dict[str, Any],
    pool: GradingPool,
    trees: dict[str, list[Tree]] | None = None,
) -> Provenance:
    """What made a search's results and trees: the policy's settings, the scorer's and its
    format, the method's config (the fields it read, each under its own name so a resume
    names the one that differs), grading, and for offline the searches that saved the trees."""
    settings = {**policy, **scorer, **recorded, **grading_settings(pool)}
    if trees is not None:
        metas = [tree.meta for runs in trees.values() for tree in runs]
        settings["trees_provenance"] = collect(metas).get("search", [])
    return Provenance("search", settings)


@dataclass(frozen=True)
class BatchDone:
    """One batch searched, graded and written (for a log line)."""

    index: int  # 1-based
    batches: int
    problems: int
    seconds: float  # the search time its results report


@dataclass(frozen=True)
class Written:
    """What :func:`write_search` wrote: this run's results, and the output's row counts."""

    results: list[SearchResult]
    written: int
    resumed: int  # rows kept from an earlier run (--resume)


def write_search(
    method: str,
    problems: list[Problem],
    models: tuple[Policy | None, Scorer | None],
    config: SearchConfig,
    pool: GradingPool,
    *,
    output: str,
    provenance: Provenance,
    save_tree: str | None = None,
    resume: bool = False,
    extra: dict[str, Any] | None = None,
    on_batch: Callable[[BatchDone], None] | None = None,
) -> Written:
    """Search ``problems`` batch by batch, grade each batch's results and write them (and,
    with ``save_tree``, their trees); ``extra`` joins each record's config.

    With ``resume`` the rows of ``output`` written before are kept; a batch partly written
    before a crash is searched whole, so its backend calls (and samples) are those of the
    first run, and its written rows are skipped.
    """
    with (
        RecordWriter(output, SearchResult, resume=resume, provenance=provenance) as writer,
        _tree_writer(save_tree, resume, provenance) as tree_writer,
    ):
        results = _search_batches(
            method, problems, models, config, pool, (writer, tree_writer), extra or {}, on_batch
        )
    return Written(results, writer.written, writer.resumed)


def _tree_writer(
    path: str | None, resume: bool, provenance: Provenance
) -> AbstractContextManager[RecordWriter | None]:
    """A writer for --save-tree's trees, or nothing to write to."""
    if path is None:
        return nullcontext()
    return RecordWriter(path, Tree, resume=resume, provenance=provenance)


def _search_batches(
    method: str,
    selected: list[Problem],
    models: tuple[Policy | None, Scorer | None],
    config: SearchConfig,
    pool: GradingPool,
    writers: tuple[RecordWriter, RecordWriter | None],
    extra: dict[str, Any],
    on_batch: Callable[[BatchDone], None] | None,
) -> list[SearchResult]:
    (policy, scorer), (writer, tree_writer) = models, writers
    by_id = {p.id: p for p in selected}
    written: list[SearchResult] = []

    def work(batch: Chunk[Problem]) -> list[SearchResult]:
        progress.note(batch=f"{batch.index + 1}/{batch.count}")
        sink: list[Tree] = []
        results = run_search(
            method,
            batch.items,
            policy,
            scorer,
            config,
            pool=pool,
            tree_sink=sink if tree_writer is not None else None,
        )
        grade_results(results, by_id, pool)
        for record in [*results, *sink]:
            record.config.update(extra)
        if tree_writer is not None:  # before the results, which mark the batch done
            tree_writer.write_all(sink)
        return results

    def finished(batch: Chunk[Problem], results: list[SearchResult]) -> None:
        written.extend(results)
        if on_batch is not None:
            seconds = sum(r.seconds for r in results)
            on_batch(BatchDone(batch.index + 1, batch.count or 0, len(batch.items), seconds))

    # Offline loads no model, so one batch (one read of the trees file) does.
    size = max(1, len(selected)) if method == "offline" else config.batch_problems
    run_chunks(
        selected,
        work,
        writer,
        size=size,
        keys=lambda problem: [SearchResult.key_for(problem.id)],
        on_chunk=finished,
    )
    return written
