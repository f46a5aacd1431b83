"""Outcome labels: grade each solution's final answer against its problem's gold answer.

The first streaming stage: solutions flow through in batches (so the grading pool stays
busy) and each labeled solution is written as soon as its batch is graded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from mathverify.errors import MathverifyError
from mathverify.grading import GradingPool
from mathverify.iterutils import batched
from mathverify.records import Problem, Solution


def gold_answer(problems: Mapping[str, Problem], problem_id: str) -> str:
    """The gold answer of ``problem_id``; a clear error when it is unknown or has none."""
    problem = problems.get(problem_id)
    if problem is None:
        raise MathverifyError(f"problem id {problem_id!r} is not in the problems file")
    if problem.answer is None:
        raise MathverifyError(f"problem {problem_id!r} has no gold answer to grade against")
    return problem.answer


def label_outcomes(
    solutions: Iterable[Solution],
    problems: Mapping[str, Problem],
    pool: GradingPool,
    *,
    batch_size: int = 64,
) -> Iterator[Solution]:
    """Yield each solution with ``outcome`` set and the grader's verdict in ``meta``."""
    for batch in batched(solutions, batch_size):
        pairs = [(s.answer, gold_answer(problems, s.problem_id)) for s in batch]
        for solution, verdict in zip(batch, pool.grade_many(pairs), strict=True):
            solution.outcome = verdict.equal
            solution.label_source = "outcome"
            solution.meta = {
                **solution.meta,
                "grader": verdict.grader,
                "grade_reason": verdict.reason,
                # only a lenient verdict that a rule decided carries one
                **({"grade_rule": verdict.rule} if verdict.rule else {}),
            }
            yield solution
