"""``mathverify score``: attach a verifier's step scores to solutions.

Reads solutions, scores them in batches with the PRM or ORM in ``--scorer``, and writes
each solution with ``step_scores`` and ``scorer`` set, plus ``meta.score`` (the solution
score from ``--aggregate``) and ``meta.aggregate``. ``meta.provenance.score`` names the scorer,
the format it was read in and the aggregation; ``--resume`` keeps rows already written when
those equal the partial file's, and refuses otherwise (scores of two scorers never mix).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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
    Problem,
    RecordWriter,
    Solution,
    in_shard,
    parse_shard,
    read_problems_by_id,
    read_records,
)
from mathverify.scoring import AGGREGATIONS, Scorer, aggregate, load_scorer, scorer_provenance

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


def _chunks(items: Iterable[Solution], size: int) -> Iterator[list[Solution]]:
    chunk: list[Solution] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def score_solutions(
    solutions: Iterable[Solution],
    problems: dict[str, Problem],
    scorer: Scorer,
    how: str,
    chunk_size: int,
) -> Iterator[Solution]:
    """Scored copies of ``solutions``, in input order, scored ``chunk_size`` at a time."""
    for chunk in _chunks(solutions, chunk_size):
        texts = []
        for solution in chunk:
            problem = problems.get(solution.problem_id)
            if problem is None:
                raise MathverifyError(
                    f"solution {solution.key()}: problem id {solution.problem_id!r} is not in the problems file"
                )
            texts.append(problem.problem)
        for solution, step_scores in zip(
            chunk, scorer.score(texts, [s.steps for s in chunk]), strict=True
        ):
            solution.step_scores = step_scores
            solution.scorer = scorer.name
            value = aggregate(step_scores, how)
            # A solution with no scored step has no score (JSON has no -inf).
            solution.meta = {
                **solution.meta,
                "score": value if value != float("-inf") else None,
                "aggregate": how,
                **_raw_reward(scorer, step_scores),
            }
            yield solution


def _raw_reward(scorer: Scorer, step_scores: list[float | None]) -> dict[str, float]:
    """``{"reward": r}`` for a reward model scored as ``sigmoid(r)`` (``orm-seqcls``): the
    score keeps rankings and [0, 1] for votes and calibration; the record keeps the reward
    the model's card reports (Skywork's example is 23.0)."""
    if getattr(scorer, "format", None) != "orm-seqcls" or not step_scores:
        return {}
    last = step_scores[-1]
    if last is None:
        return {}
    from mathverify.scoring.public import orm_reward

    return {"reward": orm_reward(last)}


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
        progress_bar("score", total, "solutions", quiet=quiet) as bar,
    ):
        bar.advance(writer.resumed if total is not None else 0)
        todo = (
            s
            for s in read_records(input, Solution)
            if in_shard(s.problem_id, shard_spec) and not writer.done(s.key())
        )
        # Several batches per chunk: the scorer sorts a chunk by length before batching.
        for solution in score_solutions(todo, by_id, model, aggregate_how, 8 * batch_size):
            writer.write(solution)
            bar.advance(1)
    _warn_truncated(model)
    kept = f", {writer.resumed} kept from before" if resume else ""
    console.print(f"score: {writer.written} solutions scored with {scorer}{kept}", soft_wrap=True)
