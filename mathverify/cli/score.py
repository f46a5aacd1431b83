"""``mathverify score``: attach a verifier's step scores to solutions.

Reads solutions, scores them in batches with the PRM or ORM in ``--scorer``, and writes
each solution with ``step_scores`` and ``scorer`` set, plus ``meta.score`` (the solution
score from ``--aggregate``) and ``meta.aggregate``. ``meta.provenance.score`` names the scorer,
the format it was read in and the aggregation; ``--resume`` keeps rows already written when
those equal the partial file's, and refuses otherwise (scores of two scorers never mix).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated

import typer

from mathverify.cli.app import (
    InputArg,
    OutputOpt,
    ProblemsOpt,
    ResumeOpt,
    ShardOpt,
    command,
    console,
)
from mathverify.errors import MathverifyError
from mathverify.provenance import Provenance
from mathverify.records import (
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
    str,
    typer.Option(
        "--scorer",
        "-s",
        help="A PRM or ORM directory (from train-prm / train-orm), or a public PRM or reward "
        "model (directory or hub name; see --scorer-format).",
    ),
]
SCORER_FORMAT_HELP = (
    "How the scorer reads solutions: auto (mathverify.json when there is one, else detected "
    "from the model's config and tokenizer), mathverify, math-shepherd, qwen-prm, rlhflow, "
    "orm-seqcls."
)
ScorerFormatOpt = Annotated[str, typer.Option("--scorer-format", help=SCORER_FORMAT_HELP)]
AggregateOpt = Annotated[
    str,
    typer.Option(
        "--aggregate",
        "-a",
        help=f"How step scores make the solution score in meta.score: {', '.join(AGGREGATIONS)}.",
    ),
]
BatchOpt = Annotated[int, typer.Option("--batch-size", "-b", help="Solutions per forward pass.")]
DeviceOpt = Annotated[
    str | None,
    typer.Option("--device", help="torch device (default: cuda when available, else cpu)."),
]


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


@command("score", help="Score solutions step by step with a PRM or ORM (ours or a public one).")
def score(
    scorer: ScorerOpt,
    problems: ProblemsOpt,
    input: InputArg = "-",
    output: OutputOpt = "-",
    aggregate_how: AggregateOpt = "min",
    batch_size: BatchOpt = 16,
    device: DeviceOpt = None,
    scorer_format: ScorerFormatOpt = "auto",
    resume: ResumeOpt = False,
    shard: ShardOpt = None,
) -> None:
    if aggregate_how not in AGGREGATIONS:
        raise MathverifyError(
            f"--aggregate {aggregate_how!r}: choose one of {', '.join(AGGREGATIONS)}"
        )
    if batch_size < 1:
        raise MathverifyError(f"--batch-size must be at least 1, got {batch_size}")
    shard_spec = parse_shard(shard)
    by_id = read_problems_by_id(problems)
    model = load_scorer(scorer, scorer_format, batch_size=batch_size, device=device)
    # Batch size and device are left out: they change float rounding, not which scores.
    provenance = Provenance("score", {**scorer_provenance(model), "aggregate": aggregate_how})
    with RecordWriter(output, Solution, resume=resume, provenance=provenance) as writer:
        todo = (
            s
            for s in read_records(input, Solution)
            if in_shard(s.problem_id, shard_spec) and not writer.done(s.key())
        )
        # Several batches per chunk: the scorer sorts a chunk by length before batching.
        for solution in score_solutions(todo, by_id, model, aggregate_how, 8 * batch_size):
            writer.write(solution)
        _warn_truncated(model)
        kept = f", {writer.resumed} kept from before" if resume else ""
        console.print(
            f"score: {writer.written} solutions scored with {scorer}{kept}", soft_wrap=True
        )
