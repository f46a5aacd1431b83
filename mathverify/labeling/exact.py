"""Exact step labels for the synthetic task, from its checker (the gold standard)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from mathverify.data.synthetic import check_steps
from mathverify.errors import MathverifyError
from mathverify.records import Problem, Solution


def label_exact(
    solutions: Iterable[Solution], problems: Mapping[str, Problem]
) -> Iterator[Solution]:
    """Yield solutions with 0/1 ``step_labels``, ``first_wrong_step`` and ``outcome`` set."""
    for solution in solutions:
        problem = problems.get(solution.problem_id)
        if problem is None:
            raise MathverifyError(f"problem id {solution.problem_id!r} is not in the problems file")
        try:
            check = check_steps(problem, solution.steps)
        except ValueError as exc:
            raise MathverifyError(
                f"problem {problem.id!r} is not a synthetic arithmetic problem ({exc}); "
                "--method exact works only on `mathverify data synth` problems"
            ) from None
        solution.step_labels = [float(label) for label in check.labels]
        solution.first_wrong_step = check.first_wrong_step
        solution.outcome = check.final_correct
        solution.label_source = "exact"
        yield solution
