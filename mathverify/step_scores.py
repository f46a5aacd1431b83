"""The ``Scorer`` protocol and the aggregation of step scores into one solution score.

A scorer judges partial or whole solutions step by step. A process reward model or a value
model gives a score after every step; an outcome reward model judges only the last step it
is shown and leaves the others ``None``. Search and best-of-N depend only on this protocol.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

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
