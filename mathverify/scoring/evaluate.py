"""How well a scorer's step scores rank labeled steps: ``train-value --eval-labels``.

Step AUROC of any scorer directory (value, PRM) against step labels in [0, 1], e.g. the
exact labels of ``label --method exact``, over every labeled step of every solution.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mathverify.errors import MathverifyError
from mathverify.eval.labels import auroc
from mathverify.records import read_numbered, read_problems_by_id
from mathverify.scoring import load_scorer

__all__ = ["evaluate_value", "step_auroc"]


def step_auroc(scores: Sequence[float], labels: Sequence[float]) -> float | None:
    """AUROC of ``scores`` for binary ``labels`` (>= 0.5 = correct step); ties count half.

    None when one class is missing.
    """
    return auroc(scores, [label >= 0.5 for label in labels])


def evaluate_value(
    model_dir: str, labeled_path: str, problems_path: str, *, batch_size: int = 32
) -> dict[str, Any]:
    """Step AUROC of a value (or any scorer) directory against step labels in [0, 1]
    (e.g. ``label --method exact``), over every labeled step of every solution."""
    problems = read_problems_by_id(problems_path)
    solutions = [s for _, s in read_numbered(labeled_path) if s.step_labels is not None]
    if not solutions:
        raise MathverifyError(f"{labeled_path}: no solutions with step_labels")
    missing = [s.problem_id for s in solutions if s.problem_id not in problems]
    if missing:
        raise MathverifyError(f"{labeled_path}: problem id {missing[0]!r} not in {problems_path}")
    scorer = load_scorer(model_dir, batch_size=batch_size)
    step_scores = scorer.score(
        [problems[s.problem_id].problem for s in solutions], [s.steps for s in solutions]
    )
    scores: list[float] = []
    labels: list[float] = []
    for solution, row in zip(solutions, step_scores, strict=True):
        assert solution.step_labels is not None
        for score, label in zip(row, solution.step_labels, strict=True):
            if score is not None and label is not None:
                scores.append(float(score))
                labels.append(float(label))
    return {
        "model": model_dir,
        "labels": labeled_path,
        "n_solutions": len(solutions),
        "n_steps": len(scores),
        "n_correct_steps": sum(1 for y in labels if y >= 0.5),
        "step_auroc": step_auroc(scores, labels),
    }
