"""The ``Scorer`` protocol and the aggregation of step scores into one solution score.

A scorer judges partial or whole solutions step by step. A process reward model or a value
model gives a score after every step; an outcome reward model judges only the last step it
is shown and leaves the others ``None``. Search and best-of-N depend only on this protocol.

One rule for a solution with no score: :func:`aggregate` gives ``-inf`` when no step has a
score (no steps, or every one ``None``), so it ranks below every scored solution; a record
stores that as ``null`` (:func:`aggregate_or_none`: JSON has no infinity). ``score`` and
every search method write solution scores through :func:`aggregate_or_none`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from mathverify.errors import MathverifyError

StepScores = list[float | None]


@runtime_checkable
class Scorer(Protocol):
    name: str

    def score(self, problems: list[str], steps: list[list[str]]) -> list[StepScores]:
        """One list per solution, one entry per step; ``None`` where the scorer has no opinion."""
        ...


def _present(scores: Sequence[float | None]) -> list[float]:
    return [s for s in scores if s is not None]


def _product(values: list[float]) -> float:
    return math.prod(values)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


AGGREGATIONS: dict[str, Callable[[list[float]], float]] = {
    "min": min,
    "product": _product,
    "last": lambda values: values[-1],
    "mean": _mean,
}


def aggregate(step_scores: Sequence[float | None], how: str = "min") -> float:
    """One solution score from its step scores; ``None`` entries are skipped.

    ``min`` and ``product`` are the PRM aggregations of "Let's Verify"; ``last`` is the
    ORM's (and a value model's) score of the whole solution.
    """
    try:
        fn = AGGREGATIONS[how]
    except KeyError:
        raise ValueError(
            f"unknown aggregation {how!r}; choose from {', '.join(AGGREGATIONS)}"
        ) from None
    values = _present(step_scores)
    if not values:
        return float("-inf")
    return fn(values)


def aggregate_or_none(step_scores: Sequence[float | None], how: str = "min") -> float | None:
    """:func:`aggregate` as a record stores it: None when no step has a score (``-inf``)."""
    value = aggregate(step_scores, how)
    return None if value == float("-inf") else value


def checked_scores(
    scorer: Scorer, steps: Sequence[Sequence[str]], scores: Sequence[StepScores]
) -> Sequence[StepScores]:
    """``scores``, the answer of ``scorer`` for solutions of ``steps``, once it has one list
    per solution and one score per step (else a :class:`MathverifyError` says which)."""
    if len(scores) != len(steps):
        raise MathverifyError(
            f"scorer {scorer.name}: returned {len(scores)} score lists for {len(steps)} solutions"
        )
    for i, (solution_scores, solution) in enumerate(zip(scores, steps, strict=True)):
        if len(solution_scores) != len(solution):
            raise MathverifyError(
                f"scorer {scorer.name}: solution {i} has {len(solution)} steps but "
                f"{len(solution_scores)} scores"
            )
    return scores
