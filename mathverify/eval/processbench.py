"""ProcessBench's metric for a step scorer: find the first wrong step by a score threshold.

A scorer (PRM or value model) flags the first step whose score falls below a threshold;
the prediction is that step's index, or None (no wrong step) when no score falls below.
ProcessBench ("ProcessBench: Identifying Process Errors in Mathematical Reasoning", Zheng
et al. 2024) scores it per split as

- accuracy on erroneous samples: the predicted index equals the gold first wrong step;
- accuracy on correct samples: nothing is flagged;
- F1: the harmonic mean of the two.

Steps without a score (``None``: beyond the scorer's context, or an ORM's inner steps) are
never flagged. :func:`choose_threshold` picks the threshold that maximises F1 on held-out
samples, exactly (a sweep over the points where F1 can change), never on the evaluated
samples. Pure functions on plain data: reading records and printing live in
:mod:`mathverify.cli.eval`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from mathverify.errors import MathverifyError
from mathverify.eval.calibration import label_scheme
from mathverify.labeling.schemes import first_wrong_step
from mathverify.records import Solution

__all__ = [
    "PBSample",
    "SplitScore",
    "choose_threshold",
    "evaluate_processbench",
    "f1_at",
    "predict_first_wrong",
    "sample_from_solution",
    "score_split",
]


@dataclass(frozen=True)
class PBSample:
    """One scored solution with its gold first wrong step (None: every step is correct)."""

    split: str
    first_wrong_step: int | None
    step_scores: tuple[float | None, ...]


@dataclass(frozen=True)
class SplitScore:
    """ProcessBench's numbers for one split (accuracies are None when the split has no
    sample of that kind; F1 is None unless both are defined)."""

    split: str
    n_erroneous: int
    n_correct: int
    erroneous_accuracy: float | None
    correct_accuracy: float | None
    f1: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sample_from_solution(solution: Solution, split: str) -> PBSample:
    """The :class:`PBSample` of a scored, step-labeled solution.

    The gold first wrong step is the record's ``first_wrong_step``, or, when that is unset,
    the first step its labels call wrong (by the scheme of its ``label_source``).
    """
    if solution.step_scores is None:
        raise MathverifyError("has no step_scores (score it first: mathverify score)")
    if solution.step_labels is None:
        raise MathverifyError(
            "has no step_labels (label it first, e.g. mathverify data processbench or "
            "mathverify label --method exact)"
        )
    gold = solution.first_wrong_step
    if gold is None:
        gold = first_wrong_step(solution.step_labels, label_scheme(solution))
    if gold is not None and not 0 <= gold < len(solution.steps):
        raise MathverifyError(
            f"first_wrong_step {gold} is not a step index (it has {len(solution.steps)} steps)"
        )
    return PBSample(split, gold, tuple(solution.step_scores))


def predict_first_wrong(step_scores: Sequence[float | None], threshold: float) -> int | None:
    """Index of the first step scored below ``threshold``; None when no step is."""
    for index, score in enumerate(step_scores):
        if score is not None and score < threshold:
            return index
    return None


def _f1(right_erroneous: int, n_erroneous: int, right_correct: int, n_correct: int) -> float:
    # 2ab/(a+b) with a = re/ne, b = rc/nc, as one division of integers: exact up to the
    # final rounding, so hand-computed fractions match to the last bit.
    denominator = right_erroneous * n_correct + right_correct * n_erroneous
    return 2 * right_erroneous * right_correct / denominator if denominator else 0.0


def score_split(
    split: str, gold: Sequence[int | None], predicted: Sequence[int | None]
) -> SplitScore:
    """ProcessBench's accuracies and F1 from gold and predicted first wrong steps."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels for {len(predicted)} predictions")
    erroneous = [p == g for g, p in zip(gold, predicted, strict=True) if g is not None]
    correct = [p is None for g, p in zip(gold, predicted, strict=True) if g is None]
    err_acc = sum(erroneous) / len(erroneous) if erroneous else None
    cor_acc = sum(correct) / len(correct) if correct else None
    f1 = (
        _f1(sum(erroneous), len(erroneous), sum(correct), len(correct))
        if erroneous and correct
        else None
    )
    return SplitScore(split, len(erroneous), len(correct), err_acc, cor_acc, f1)


def evaluate_processbench(samples: Iterable[PBSample], threshold: float) -> list[SplitScore]:
    """One :class:`SplitScore` per split, splits in first-seen order."""
    by_split: dict[str, tuple[list[int | None], list[int | None]]] = {}
    for sample in samples:
        gold, predicted = by_split.setdefault(sample.split, ([], []))
        gold.append(sample.first_wrong_step)
        predicted.append(predict_first_wrong(sample.step_scores, threshold))
    return [score_split(split, g, p) for split, (g, p) in by_split.items()]


def f1_at(samples: Sequence[PBSample], threshold: float) -> float:
    """F1 of all ``samples`` pooled as one split (0 when either kind is missing)."""
    result = score_split(
        "all",
        [s.first_wrong_step for s in samples],
        [predict_first_wrong(s.step_scores, threshold) for s in samples],
    )
    return result.f1 if result.f1 is not None else 0.0


def _window(sample: PBSample) -> tuple[float, float] | None:
    """The thresholds ``t`` that predict ``sample`` right, as the interval ``(low, high]``.

    Erroneous with gold g: step g is flagged (score < t) and no earlier one is (all >= t),
    so ``(score_g, min(scores before g)]``. Correct: no step is flagged, so
    ``(-inf, min(scores)]``. None when no threshold is right.
    """
    scores = list(sample.step_scores)
    gold = sample.first_wrong_step
    if gold is None:
        present = [s for s in scores if s is not None]
        return (-math.inf, min(present) if present else math.inf)
    if gold >= len(scores) or scores[gold] is None:
        return None
    before = [s for s in scores[:gold] if s is not None]
    high = min(before) if before else math.inf
    low = scores[gold]
    return (low, high) if low < high else None


def choose_threshold(samples: Sequence[PBSample]) -> tuple[float, float]:
    """The threshold with the highest pooled F1 on ``samples`` (held out), and that F1.

    F1 is constant between consecutive window ends (see :func:`_window`), so trying each
    piece once is exact. The threshold returned is the middle of the best piece (its upper
    end for the lowest piece; just above the highest score for the piece above them all);
    ties go to the lowest piece.
    """
    erroneous_lows: list[float] = []
    erroneous_highs: list[float] = []
    correct_highs: list[float] = []
    n_erroneous = n_correct = 0
    for sample in samples:
        window = _window(sample)
        if sample.first_wrong_step is None:
            n_correct += 1
            assert window is not None
            correct_highs.append(window[1])
        else:
            n_erroneous += 1
            if window is not None:
                erroneous_lows.append(window[0])
                erroneous_highs.append(window[1])
    if not n_erroneous or not n_correct:
        raise ValueError(
            "choosing a threshold needs held-out samples with and without a wrong step "
            f"(got {n_erroneous} erroneous, {n_correct} correct)"
        )
    for values in (erroneous_lows, erroneous_highs, correct_highs):
        values.sort()
    ends = sorted(
        {e for e in [*erroneous_lows, *erroneous_highs, *correct_highs] if math.isfinite(e)}
    )
    if not ends:
        raise ValueError("choosing a threshold needs held-out samples with step scores")

    def at_least(values: list[float], t: float) -> int:
        return len(values) - bisect.bisect_left(values, t)

    # Piece k is (ends[k-1], ends[k]]; the last candidate, inf, stands for (ends[-1], inf).
    best_f1, best_index = -1.0, 0
    for index, t in enumerate([*ends, math.inf]):
        # Right at t for windows (low, high] with low < t <= high.
        right_erroneous = at_least(erroneous_highs, t) - at_least(erroneous_lows, t)
        right_correct = at_least(correct_highs, t)
        f1 = _f1(right_erroneous, n_erroneous, right_correct, n_correct)
        if f1 > best_f1:
            best_f1, best_index = f1, index
    if best_index == len(ends):
        return math.nextafter(ends[-1], math.inf), best_f1
    upper = ends[best_index]
    if best_index == 0:
        return upper, best_f1
    middle = (ends[best_index - 1] + upper) / 2
    return (middle if ends[best_index - 1] < middle <= upper else upper), best_f1
