"""Calibration of verifier scores: reliability-diagram bins and expected calibration error.

A score is calibrated when, among steps (or solutions) scored about p, a fraction p is
correct. Scores go into ``n_bins`` equal-width bins over [0, 1] (the last bin includes 1);
each bin reports its count, mean score and mean target. The expected calibration error
(ECE, Guo et al. 2017) is the count-weighted mean of ``|mean target - mean score|`` over
bins. Targets may be soft (a rollout's success fraction), which the same formula handles.

:func:`step_pairs` turns a solution's step labels into targets through the label scheme of
its ``label_source`` (PRM800K neutral steps count as correct, as in "Let's Verify Step by
Step"); :func:`solution_score` is the solution's score as ``mathverify score`` wrote it.
Pure functions on plain data; not for ranking metrics (see :mod:`mathverify.eval.curves`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from mathverify.errors import MathverifyError
from mathverify.labeling.schemes import scheme_for_source, to_training_targets
from mathverify.records import Solution
from mathverify.step_scores import aggregate_or_none

__all__ = [
    "Bin",
    "Reliability",
    "label_scheme",
    "reliability",
    "solution_pairs",
    "solution_score",
    "step_pairs",
]


@dataclass(frozen=True)
class Bin:
    """One reliability bin ``[low, high)`` (``[low, 1]`` for the last)."""

    low: float
    high: float
    count: int
    mean_score: float | None
    mean_target: float | None


@dataclass
class Reliability:
    """Reliability-diagram data and ECE for one set of (score, target) pairs."""

    n: int
    ece: float | None
    bins: list[Bin] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reliability(pairs: Iterable[tuple[float, float]], n_bins: int = 10) -> Reliability:
    """Bins and ECE of ``(score, target)`` pairs; scores and targets must lie in [0, 1]."""
    if n_bins < 1:
        raise MathverifyError(f"need at least 1 bin, got {n_bins}")
    counts = [0] * n_bins
    score_sums = [0.0] * n_bins
    target_sums = [0.0] * n_bins
    n = 0
    for score, target in pairs:
        if not (0.0 <= score <= 1.0):
            raise MathverifyError(
                f"calibration needs scores in [0, 1] (probabilities), got {score!r}"
            )
        if not (0.0 <= target <= 1.0):
            raise MathverifyError(f"calibration needs targets in [0, 1], got {target!r}")
        index = min(int(score * n_bins), n_bins - 1)
        counts[index] += 1
        score_sums[index] += score
        target_sums[index] += target
        n += 1
    bins = [
        Bin(
            low=i / n_bins,
            high=(i + 1) / n_bins,
            count=counts[i],
            mean_score=score_sums[i] / counts[i] if counts[i] else None,
            mean_target=target_sums[i] / counts[i] if counts[i] else None,
        )
        for i in range(n_bins)
    ]
    ece = (
        sum(abs(target_sums[i] - score_sums[i]) for i in range(n_bins)) / n if n else None
    )  # sum_b n_b/N * |t_b/n_b - s_b/n_b| = sum_b |t_b - s_b| / N
    return Reliability(n=n, ece=ece, bins=bins)


def label_scheme(solution: Solution) -> str:
    """The label scheme of a solution's ``step_labels`` (see :mod:`mathverify.labeling.schemes`)."""
    # Unknown or missing sources are read as probabilities; "soft" checks they are in [0, 1]
    # and leaves 0/1 labels as they are.
    source = solution.label_source
    if source is None:
        return "soft"
    try:
        return scheme_for_source(source)
    except MathverifyError:
        return "soft"


def step_pairs(solution: Solution) -> list[tuple[float, float]]:
    """``(step score, step target)`` for each step that has both."""
    if solution.step_scores is None or solution.step_labels is None:
        return []
    try:
        targets = to_training_targets(solution.step_labels, label_scheme(solution))
    except MathverifyError as exc:
        raise MathverifyError(f"solution {solution.key()}: {exc}") from None
    return [
        (float(score), float(target))
        for score, target in zip(solution.step_scores, targets, strict=True)
        if score is not None and target is not None
    ]


def solution_score(solution: Solution) -> float | None:
    """``meta.score`` (as ``mathverify score --aggregate`` wrote it), else the minimum step
    score; None when the solution has no score at all."""
    value = solution.meta.get("score")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if solution.step_scores is None:
        return None
    return aggregate_or_none(solution.step_scores, "min")


def solution_pairs(rows: Iterable[tuple[Solution, bool | None]]) -> list[tuple[float, float]]:
    """``(solution score, 1.0 if right else 0.0)`` from ``(solution, correct)`` rows, for
    solutions that have a score and a known correctness."""
    pairs = []
    for solution, correct in rows:
        score = solution_score(solution)
        if score is not None and correct is not None:
            pairs.append((score, 1.0 if correct else 0.0))
    return pairs
