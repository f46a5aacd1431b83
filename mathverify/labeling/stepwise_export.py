"""Labeled solutions to the hub's stepwise-supervision layout (``prompt``, ``completions``,
``labels``: trl-lib/math_shepherd, trl-lib/prm800k, TRL's PRM code): each solution's step
labels become booleans through its label scheme. Reading that layout and writing the rows
are :mod:`mathverify.data.stepwise`'s; this module is the labeling side (it reads the label
schemes, which the data layer below it may not import).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from mathverify.errors import MathverifyError, RecordError
from mathverify.labeling.schemes import SCHEMES, scheme_for_source, to_training_targets
from mathverify.records import Solution, display_name, iter_json_lines, read_problems_by_id

__all__ = ["ExportStats", "export_stepwise", "stepwise_labels"]


@dataclass
class ExportStats:
    """What an export read and wrote; the CLI prints it as the summary."""

    solutions: int = 0
    written: int = 0
    skipped_bad: int = 0
    skipped_unlabeled: int = 0  # no labeled first step: nothing the layout can hold
    cut: int = 0  # rows that lost the steps from an unlabeled one on
    first_error: str | None = None


def stepwise_labels(
    step_labels: Iterable[float | None],
    scheme: str,
    *,
    neutral: str = "positive",
    threshold: float | None = None,
) -> list[bool]:
    """The booleans of the labeled prefix: the steps before the first unlabeled one.

    A step is right when its training target (:func:`to_training_targets`) is at least
    ``threshold``; soft labels need one, since any choice of it is a decision about the data.
    """
    if threshold is not None and not 0 < threshold <= 1:
        raise MathverifyError(f"--threshold must be in (0, 1], got {threshold}")
    if scheme == "soft" and threshold is None:
        raise MathverifyError(
            "soft labels: give --threshold T (a step is true when its label is at least T)"
        )
    cutoff = 0.5 if threshold is None else threshold  # hard and PRM800K targets are 0 or 1
    labels: list[bool] = []
    for target in to_training_targets(list(step_labels), scheme, neutral):
        if target is None:
            break
        labels.append(target >= cutoff)
    return labels


def _scheme(solution: Solution, requested: str, name: str, line: int) -> str:
    if requested != "auto":
        return requested
    if solution.label_source is None:
        return "hard"
    try:
        return scheme_for_source(solution.label_source)
    except MathverifyError as exc:
        raise RecordError(name, line, f"{exc}; pass --label-scheme", field="label_source") from None


def export_stepwise(
    solutions: str,
    problems: str,
    *,
    label_scheme: str = "auto",
    neutral: str = "positive",
    threshold: float | None = None,
    skip_bad: bool = False,
    stats: ExportStats | None = None,
) -> Iterator[dict[str, Any]]:
    """Stepwise-supervision rows from labeled solutions (JSONL) and their problems."""
    if label_scheme != "auto" and label_scheme not in SCHEMES:
        raise MathverifyError(
            f"--label-scheme {label_scheme!r}: choose auto or one of {', '.join(SCHEMES)}"
        )
    stats = stats if stats is not None else ExportStats()
    by_id = read_problems_by_id(problems)
    name = display_name(solutions)
    for line, obj in iter_json_lines(solutions):
        stats.solutions += 1
        try:
            solution = Solution.from_dict(obj, path=name, line=line)
            if solution.step_labels is None:
                raise RecordError(
                    name, line, "missing (label the steps first)", field="step_labels"
                )
            problem = by_id.get(solution.problem_id)
            if problem is None:
                raise RecordError(
                    name, line, f"{solution.problem_id!r} not in {problems}", field="problem_id"
                )
            scheme = _scheme(solution, label_scheme, name, line)
            try:
                labels = stepwise_labels(
                    solution.step_labels, scheme, neutral=neutral, threshold=threshold
                )
            except MathverifyError as exc:
                raise RecordError(name, line, str(exc), field="step_labels") from None
        except RecordError as exc:
            if not skip_bad:
                raise
            stats.skipped_bad += 1
            stats.first_error = stats.first_error or str(exc)
            continue
        if not labels:
            stats.skipped_unlabeled += 1
            continue
        if len(labels) < len(solution.steps):
            stats.cut += 1
        stats.written += 1
        yield {
            "prompt": problem.problem,
            "completions": solution.steps[: len(labels)],
            "labels": labels,
        }
