"""Accuracy, maj@k and pass@k over graded samples.

Input is plain data: per problem, a list of samples (answer, correct, n_tokens) in sample
order. Grading happens before (labels or the grading pool); printing happens after
(:mod:`mathverify.cli.eval`). Not for verifier metrics (AUROC, ProcessBench F1).

One definition for every "@k" number drawn from n samples per problem (here, in
:mod:`mathverify.eval.curves`, in tables, JSON and plots): the expected value over all
k-subsets of the problem's n samples, computed exactly (no random subsets): pass@k as in
Chen et al. 2021 (`human-eval`, ``evaluation.py``, ``estimate_pass_at_k``), maj@k by
:func:`majority_at_k`, best-of-k by :func:`mathverify.eval.curves.best_of_k`. Majority vote
ties score the share of tied answers that is correct (1/t for t tied answers, one of them
right): the expected result of breaking the tie uniformly at random. Hence maj@1 = pass@1 =
mean accuracy (and maj@2 = maj@1 when every sample has an answer: two agree, or tie).
"""

from __future__ import annotations

import functools
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mathverify.errors import MathverifyError

# How each "@k" number is defined, in the words --help and every JSON report's provenance use.
DEFINITIONS = {
    "accuracy": "mean over problems of the share of right samples",
    "pass@k": "expected over all k-subsets of a problem's n samples that one is right "
    "(unbiased estimator, Chen et al. 2021), mean over problems",
    "maj@k": "expected majority-vote credit over all k-subsets of a problem's n samples, "
    "exact, mean over problems; a tie of the right answer with t-1 wrong ones counts 1/t",
}


@dataclass(frozen=True)
class Sample:
    answer: str | None
    correct: bool
    n_tokens: int = 0


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    # Product form avoids huge binomials.
    value = 1.0
    for i in range(n - c + 1, n + 1):
        value *= 1.0 - k / i
    return 1.0 - value


_SPACES = re.compile(r"\s+")


def normalize_answer(answer: str | None) -> str | None:
    """A light string normal form for grouping votes: whitespace, ``$`` and ``\\!`` removed."""
    if answer is None:
        return None
    text = _SPACES.sub("", answer).replace("\\!", "").strip("$")
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return text or None


@dataclass(frozen=True)
class Votes:
    """How a problem's samples vote: the size of the correct class, of each wrong-answer
    class (largest first), and the samples without an answer (they do not vote)."""

    correct: int
    wrong: tuple[int, ...]
    silent: int

    @property
    def n(self) -> int:
        return self.correct + sum(self.wrong) + self.silent


def votes(samples: Sequence[Sample]) -> Votes:
    """Group ``samples`` into vote classes.

    Correct answers form one class (each was graded equal to the gold answer, so they are
    equivalent to one another); wrong answers are grouped by :func:`normalize_answer`;
    a wrong sample without an answer does not vote.
    """
    correct = silent = 0
    wrong: dict[str, int] = defaultdict(int)
    for sample in samples:
        if sample.correct:
            correct += 1
            continue
        normal = normalize_answer(sample.answer)
        if normal is None:
            silent += 1
        else:
            wrong[normal] += 1
    return Votes(correct, tuple(sorted(wrong.values(), reverse=True)), silent)


def _credit(correct: int, wrong: Sequence[int]) -> float:
    """Majority-vote credit of vote counts: 1 when the correct class has the most votes,
    ``1/t`` when it ties with ``t - 1`` wrong classes, else 0 (also with no vote at all)."""
    if correct == 0 or any(w > correct for w in wrong):
        return 0.0
    return 1.0 / (1 + sum(w == correct for w in wrong))


def majority_credit(samples: Sequence[Sample]) -> float:
    """Majority vote over ``samples``: 1 if the most frequent answer is correct, 0 if not.

    A tie between the correct answer and ``t - 1`` wrong ones scores ``1/t``: the chance
    that a pick uniformly at random among the tied answers is correct (the tie rule of
    every maj@k here, so that no answer wins by its position in the file).
    """
    v = votes(samples)
    return _credit(v.correct, v.wrong)


def majority_at_k(samples: Sequence[Sample], k: int) -> float:
    """maj@k: the expected :func:`majority_credit` of ``k`` samples drawn without
    replacement from ``samples``, i.e. the mean over all C(n, k) k-subsets, computed exactly.

    The definition of the unbiased pass@k (Chen et al. 2021) applied to majority vote, so
    maj@k, pass@k and best-of-k are estimates of one quantity each from the same n samples
    (maj@1 is the mean accuracy; maj@n is the vote of all n).
    """
    n = len(samples)
    if not 1 <= k <= n:
        raise ValueError(f"maj@{k} needs between 1 and {n} samples per subset")
    v = votes(samples)
    if k == n:
        return _credit(v.correct, v.wrong)
    if k == 1 or v.correct == 0:
        return v.correct / n
    return _expected_majority(v.correct, v.wrong, v.silent, k)


def _binomial(size: int, p: float, upto: int) -> np.ndarray:
    """Binomial(size, p) probabilities of 0, 1, ..., min(size, upto) (through logs: sizes
    in the thousands do not overflow)."""
    top = min(size, upto)
    log_comb = [
        math.lgamma(size + 1) - math.lgamma(j + 1) - math.lgamma(size - j + 1)
        for j in range(top + 1)
    ]
    j = np.arange(top + 1)
    return np.exp(np.asarray(log_comb) + j * math.log(p) + (size - j) * math.log1p(-p))


@functools.lru_cache(maxsize=65536)
def _expected_majority(correct: int, wrong: tuple[int, ...], silent: int, k: int) -> float:
    """Exact maj@k for vote classes ``correct``, ``wrong`` and ``silent`` (1 < k < n).

    A uniform k-subset is a Bernoulli(p = k/n) draw of every sample conditioned on k drawn,
    so the mean credit is E[credit; k drawn] / P(k drawn) under independent draws, where
    class sizes drawn are independent binomials. For each count ``a`` of correct samples
    drawn, a dynamic programme over the wrong classes tracks (samples drawn, wrong classes
    drawn exactly ``a`` times = ties) while no class exceeds ``a``; a tie with ``t`` classes
    scores 1/(t + 1). Classes smaller than ``a`` cannot beat it and merge with the silent
    samples into one binomial. Probabilities keep every term below 1 (no huge binomials).
    """
    n = correct + sum(wrong) + silent
    p = k / n
    drawn_correct = _binomial(correct, p, k)
    largest = max(wrong, default=0)
    total = 0.0
    # With more correct votes than the largest wrong class has samples, the vote is won.
    above = np.arange(largest + 1, min(correct, k) + 1)
    above = above[k - above <= n - correct]
    if above.size:
        rest = _binomial(n - correct, p, k)
        total += float((drawn_correct[above] * rest[k - above]).sum())
    for a in range(1, min(correct, k, largest) + 1):
        total += drawn_correct[a] * _not_beaten(
            a, k - a, [w for w in wrong if w >= a], n - correct, p
        )
    return min(1.0, float(total / _binomial(n, p, k)[k]))


def _not_beaten(a: int, left: int, rivals: list[int], others: int, p: float) -> float:
    """P(exactly ``left`` of the ``others`` non-correct samples drawn, no rival class drawn
    more than ``a`` times) weighted by 1/(1 + classes drawn exactly ``a`` times)."""
    most_ties = min(len(rivals), left // a)
    # table[t, m]: probability of m samples drawn so far with t rival classes tied at a.
    table = np.zeros((most_ties + 1, left + 1))
    free = _binomial(others - sum(rivals), p, left)
    table[0, : free.size] = free
    for size in rivals:
        drawn = _binomial(size, p, a)
        below = drawn[:a]  # the class drawn fewer than a times
        if a <= most_ties + 1:
            grown = np.zeros_like(table)
            for j, weight in enumerate(below[: left + 1]):
                grown[:, j:] += weight * table[:, : left + 1 - j]
        else:  # few rows, long kernel: convolve row by row
            grown = np.stack([np.convolve(row, below)[: left + 1] for row in table])
        if a <= left and most_ties > 0 and drawn.size > a:
            grown[1:, a:] += drawn[a] * table[:-1, : left + 1 - a]
        table = grown
    return float((table[:, left] / np.arange(1, most_ties + 2)).sum())


def standard_error(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n) if n > 0 else 0.0


def paired_difference(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[float, float]:
    """Mean and standard error, in points, of a's minus b's correctness per problem, over the
    problems both have (two methods on the same problems: a paired comparison). Correctness
    is a bool, or a share in [0, 1] (a problem's mean over several tries)."""
    diffs = [float(a[key]) - float(b[key]) for key in a if key in b]
    if not diffs:
        raise ValueError("no problem in common")
    mean = sum(diffs) / len(diffs)
    var = sum((d - mean) ** 2 for d in diffs) / max(len(diffs) - 1, 1)
    return 100 * mean, 100 * math.sqrt(var / len(diffs))


@dataclass
class Report:
    """The numbers ``mathverify eval`` prints for one input.

    ``missing_problems``: problems of the problems file without a sample here;
    ``rows_without_problem``: samples whose problem is not in the problems file (left out);
    ``ungraded``: samples the grader could not decide (timeout, error, unparsable gold), by
    reason, counted wrong; ``samples_without_tokens``: samples with no token count (0, as
    converted datasets leave it), which make both token means None rather than too low.
    """

    name: str
    n_problems: int
    samples_per_problem: int  # the fewest any problem has: maj@k and pass@k go up to it
    accuracy: float
    accuracy_se: float
    maj: dict[int, float] = field(default_factory=dict)
    maj_se: dict[int, float] = field(default_factory=dict)
    pass_at: dict[int, float] = field(default_factory=dict)
    mean_tokens_per_problem: float | None = 0.0
    mean_tokens_per_sample: float | None = 0.0
    groups: dict[str, dict[str, Report]] = field(default_factory=dict)
    missing_problems: int = 0
    step_labels: dict[str, Any] | None = None
    samples_per_problem_max: int = 0
    rows_without_problem: int = 0
    ungraded: dict[str, int] = field(default_factory=dict)
    samples_without_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["groups"] = {
            by: {value: report.to_dict() for value, report in reports.items()}
            for by, reports in self.groups.items()
        }
        return out


def default_ks(samples_per_problem: int) -> list[int]:
    """1, 2, 4, ... up to the sample count, and the sample count itself."""
    ks = []
    k = 1
    while k < samples_per_problem:
        ks.append(k)
        k *= 2
    ks.append(samples_per_problem)
    return ks


def _check_ks(ks: Iterable[int], samples_by_problem: Mapping[str, list[Sample]]) -> list[int]:
    """``ks`` sorted, each between 1 and the fewest samples of a problem; else an error
    naming that problem (a maj@k over fewer than k samples would be another number)."""
    fewest = min(samples_by_problem, key=lambda pid: len(samples_by_problem[pid]))
    chosen = sorted(set(ks))
    for k in chosen:
        if k < 1:
            raise MathverifyError(f"k must be at least 1, got {k}")
        if k > len(samples_by_problem[fewest]):
            raise MathverifyError(
                f"maj@{k} and pass@{k} need {k} samples of every problem; problem {fewest!r} "
                f"has {len(samples_by_problem[fewest])}"
            )
    return chosen


def evaluate(
    name: str,
    samples_by_problem: Mapping[str, list[Sample]],
    *,
    ks: Iterable[int] | None = None,
    groups: Mapping[str, Mapping[str, str]] | None = None,
) -> Report:
    """Compute a :class:`Report`; ``groups`` maps a facet (subject, level) to problem -> value.

    Every number uses all samples of each problem. accuracy: the mean over problems of the
    share of right samples. maj@k (:func:`majority_at_k`) and pass@k (:func:`pass_at_k`):
    the mean over problems of their expectation over the k-subsets of the problem's
    samples, for k from 1 to the fewest samples any problem has (default 1, 2, 4, ..., that
    count; a larger k is an error). So maj@1 = pass@1 = accuracy.
    """
    problems = {pid: samples for pid, samples in samples_by_problem.items() if samples}
    if not problems:
        return Report(name, 0, 0, 0.0, 0.0)
    sizes = [len(samples) for samples in problems.values()]
    chosen = _check_ks(default_ks(min(sizes)) if ks is None else ks, problems)
    n = len(problems)
    corrects = {pid: sum(s.correct for s in samples) for pid, samples in problems.items()}
    accuracy = sum(corrects[pid] / len(samples) for pid, samples in problems.items()) / n
    maj = {k: sum(majority_at_k(s, k) for s in problems.values()) / n for k in chosen}
    pass_at = {
        k: sum(pass_at_k(len(s), corrects[pid], k) for pid, s in problems.items()) / n
        for k in chosen
    }
    tokens = [sum(s.n_tokens for s in samples) for samples in problems.values()]
    # A sample without a count would pull the means down as if it were free.
    without_tokens = sum(s.n_tokens <= 0 for samples in problems.values() for s in samples)
    report = Report(
        name=name,
        n_problems=n,
        samples_per_problem=min(sizes),
        samples_per_problem_max=max(sizes),
        accuracy=accuracy,
        accuracy_se=standard_error(accuracy, n),
        maj=maj,
        maj_se={k: standard_error(v, n) for k, v in maj.items()},
        pass_at=pass_at,
        mean_tokens_per_problem=None if without_tokens else sum(tokens) / n,
        mean_tokens_per_sample=None if without_tokens else sum(tokens) / sum(sizes),
        samples_without_tokens=without_tokens,
    )
    for facet, values in (groups or {}).items():
        buckets: dict[str, dict[str, list[Sample]]] = defaultdict(dict)
        for pid, samples in problems.items():
            if pid in values:
                buckets[str(values[pid])][pid] = samples
        if buckets:
            report.groups[facet] = {
                value: evaluate(f"{name} [{facet}={value}]", bucket, ks=chosen)
                for value, bucket in sorted(buckets.items())
            }
    return report


def step_label_stats(rows: Iterable[tuple[bool, int | None]]) -> dict[str, Any]:
    """From ``(outcome, first_wrong_step)`` of step-labeled solutions: how often a right
    answer hides a wrong step, and where wrong answers first go wrong ("none" when no step
    was labeled wrong)."""
    rows = list(rows)
    right = [first for outcome, first in rows if outcome]
    histogram: dict[str, int] = defaultdict(int)
    for outcome, first in rows:
        if not outcome:
            histogram["none" if first is None else str(first)] += 1
    order = sorted(histogram, key=lambda key: (key == "none", int(key) if key != "none" else 0))
    return {
        "labeled": len(rows),
        "right_answer_with_wrong_step": (
            sum(first is not None for first in right) / len(right) if right else None
        ),
        "first_wrong_step_histogram": {key: histogram[key] for key in order},
    }
