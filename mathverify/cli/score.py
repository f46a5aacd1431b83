"""``mathverify score``: attach a verifier's step scores to solutions.

Reads solutions, scores them in batches with the PRM or ORM in ``--scorer``, and writes
each solution with ``step_scores`` and ``scorer`` set, plus ``meta.score`` (the solution
score from ``--aggregate``) and ``meta.aggregate``. ``meta.provenance.score`` names the scorer,
the format it was read in and the aggregation; ``--resume`` keeps rows already written when
those equal the partial file's, and refuses otherwise (scores of two scorers never mix).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mathverify.cli.app import (
    DEFAULT_DEVICE,
    PERFORMANCE,
    QUIET_RENAMED,
    SCORING,
    DeviceOpt,
    InputOpt,
    OutputOpt,
    ProblemsOpt,
    QuietOpt,
    ResumeOpt,
    ShardOpt,
    command,
    console,
    progress_bar,
)
from mathverify.errors import MathverifyError
from mathverify.provenance import Provenance
from mathverify.records import (
    STDIO,
    RecordWriter,
    Solution,
    in_shard,
    parse_shard,
    read_problems_by_id,
    read_records,
)
from mathverify.scoring import AGGREGATIONS, Scorer, load_scorer, scorer_provenance
from mathverify.scoring.solutions import write_scores

ScorerOpt = Annotated[
    str | None,
    typer.Option(
        "--scorer",
        "-s",
        help="Scorer: a PRM, ORM or value model, directory or hub name.",
        rich_help_panel=SCORING,
    ),
]
ScorerFormatOpt = Annotated[
    str,
    typer.Option(
        "--scorer-format",
        help="How the scorer reads solutions: auto or one format (see docs/scoring.md).",
        rich_help_panel=SCORING,
    ),
]
AGGREGATE_HELP = f"How step scores make a solution's score: {', '.join(AGGREGATIONS)}."
AggregateOpt = Annotated[
    str, typer.Option("--aggregate", "-a", help=AGGREGATE_HELP, rich_help_panel=SCORING)
]
BatchOpt = Annotated[
    int,
    typer.Option(
        "--batch-size",
        "-b",
        help="Sequences (solutions) per scorer forward pass.",
        rich_help_panel=PERFORMANCE,
    ),
]


def _count_rows(path: str) -> int | None:
    """Non-blank lines of a JSONL file (one record each), without parsing them; None when
    it is no file (reading it says why)."""
    if not Path(path).is_file():
        return None
    with Path(path).open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def _warn_truncated(scorer: Scorer) -> None:
    """Say how many solutions were longer than the scorer reads: their steps past the cut
    have no score (None), so their aggregate covers part of the solution."""
    truncated = getattr(scorer, "n_truncated", 0)
    if truncated:
        console.print(
            f"warning: score: {truncated} solutions longer than the scorer's max length: "
            "steps past it have no score",
            soft_wrap=True,
        )


@command(
    "score",
    renamed=QUIET_RENAMED,
    help=(
        "Score solutions step by step with a PRM or ORM (ours or a public one): step_scores, "
        "and the solution score in meta.score (--aggregate)."
    ),
)
def score(
    problems: ProblemsOpt,
    scorer: ScorerOpt,
    input: InputOpt = "-",
    output: OutputOpt = "-",
    resume: ResumeOpt = False,
    shard: ShardOpt = None,
    quiet: QuietOpt = False,
    scorer_format: ScorerFormatOpt = "auto",
    aggregate_how: AggregateOpt = "min",
    batch_size: BatchOpt = 16,
    device: DeviceOpt = DEFAULT_DEVICE,
) -> None:
    if aggregate_how not in AGGREGATIONS:
        raise MathverifyError(
            f"--aggregate {aggregate_how!r}: choose one of {', '.join(AGGREGATIONS)}"
        )
    if batch_size < 1:
        raise MathverifyError(f"--batch-size must be at least 1, got {batch_size}")
    shard_spec = parse_shard(shard)
    by_id = read_problems_by_id(problems)
    torch_device = None if device == DEFAULT_DEVICE else device
    model = load_scorer(scorer, scorer_format, batch_size=batch_size, device=torch_device)
    # Batch size and device are left out: they change float rounding, not which scores.
    provenance = Provenance("score", {**scorer_provenance(model), "aggregate": aggregate_how})
    # The bar's total: the input's rows, when it is a file and every row is this run's.
    total = None if input == STDIO or shard_spec is not None else _count_rows(input)
    with (
        RecordWriter(output, Solution, resume=resume, provenance=provenance) as writer,
        progress_bar("score", total, "solutions", quiet=quiet),
    ):
        todo = (s for s in read_records(input, Solution) if in_shard(s.problem_id, shard_spec))
        # Several batches per chunk: the scorer sorts a chunk by length before batching.
        write_scores(todo, by_id, model, writer, how=aggregate_how, chunk_size=8 * batch_size)
    _warn_truncated(model)
    kept = f", {writer.resumed} kept from before" if resume else ""
    console.print(f"score: {writer.written} solutions scored with {scorer}{kept}", soft_wrap=True)
