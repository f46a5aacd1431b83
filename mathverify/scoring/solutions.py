"""The ``score`` stage: a scorer's step scores attached to solution records, resumably.

Each solution gets ``step_scores`` and ``scorer``, plus ``meta.score`` (the solution score
by the aggregation asked for; null when no step has one, the rule of
:func:`mathverify.step_scores.aggregate_or_none`) and ``meta.aggregate``; a reward model
scored as ``sigmoid(r)`` also keeps ``meta.reward``. Unlike a search, which leaves a
solution with no steps unscored, the stage scores every solution: one with no steps gets
``step_scores: []`` and ``meta.score: null``.

Not for: loading the scorer (:func:`mathverify.scoring.load_scorer`) or printing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from mathverify.errors import MathverifyError
from mathverify.records import Problem, RecordWriter, Solution
from mathverify.stages import run_chunks
from mathverify.step_scores import Scorer, StepScores, aggregate_or_none, checked_scores


def score_solutions(
    solutions: Sequence[Solution], problems: Mapping[str, Problem], scorer: Scorer, how: str
) -> list[Solution]:
    """``solutions``, in order, scored in one scorer call (the scorer batches inside it)."""
    texts = []
    for solution in solutions:
        problem = problems.get(solution.problem_id)
        if problem is None:
            raise MathverifyError(
                f"solution {solution.key()}: problem id {solution.problem_id!r} is not in the "
                "problems file"
            )
        texts.append(problem.problem)
    steps = [s.steps for s in solutions]
    scores = checked_scores(scorer, steps, scorer.score(texts, steps))
    for solution, step_scores in zip(solutions, scores, strict=True):
        solution.step_scores = step_scores
        solution.scorer = scorer.name
        solution.meta = {
            **solution.meta,
            "score": aggregate_or_none(step_scores, how),
            "aggregate": how,
            **_raw_reward(scorer, step_scores),
        }
    return list(solutions)


def write_scores(
    solutions: Iterable[Solution],
    problems: Mapping[str, Problem],
    scorer: Scorer,
    writer: RecordWriter,
    *,
    how: str,
    chunk_size: int,
) -> None:
    """Score the ``solutions`` not in ``writer``'s output yet, ``chunk_size`` per scorer
    call, and write each chunk as it is scored (:func:`mathverify.stages.run_chunks`; a
    score depends on its solution alone, so a resume scores only the rows not written)."""
    run_chunks(
        solutions,
        lambda chunk: score_solutions(chunk.items, problems, scorer, how),
        writer,
        size=chunk_size,
        keys=lambda solution: [solution.key()],
        whole_chunks=False,
    )


def _raw_reward(scorer: Scorer, step_scores: StepScores) -> dict[str, float]:
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
