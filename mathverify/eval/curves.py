"""Best-of-N curves and accuracy-vs-compute points, as plain numbers for tables and plots.

- :func:`best_of_n_curve`: for N = 1, 2, 4, ... (up to the fewest samples any problem has),
  the accuracy of picking the top-scored of N samples, with majority vote and unbiased
  pass@N beside it (an upper bound). All three are the expected value over every N-subset
  of a problem's samples, computed exactly (:func:`best_of_k`,
  :func:`mathverify.eval.metrics.majority_at_k`, :func:`mathverify.eval.metrics.pass_at_k`):
  the maj@k and pass@k of ``mathverify eval``'s table, on the same definition. Ties in score
  go to the earlier sample; samples without a score rank last.
  :func:`problem_points` gives the same numbers per problem, for paired comparisons.
- :func:`compute_points`: one (mean generated tokens per problem, accuracy) point per input
  and search method, the compute-matched view that puts every method in one plot.

Grading happens before (labels or the grading pool), drawing after
(:mod:`mathverify.eval.plots`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from mathverify.eval.metrics import Sample, default_ks, majority_at_k, pass_at_k

__all__ = [
    "BEST_OF_N_DEFINITION",
    "BestOfNPoint",
    "Candidate",
    "ComputePoint",
    "ProblemPoint",
    "best_of_k",
    "best_of_n_curve",
    "compute_points",
    "mean_over_problems",
    "pick_best",
    "problem_points",
]


BEST_OF_N_DEFINITION = (
    "expected correctness of the top-scored of N samples over all N-subsets of a problem's "
    "samples, exact, mean over problems; score ties go to the earlier sample, unscored last"
)


@dataclass(frozen=True)
class Candidate:
    """One sampled solution of a problem: its answer, whether it is right, its score."""

    answer: str | None
    correct: bool
    score: float | None


@dataclass(frozen=True)
class BestOfNPoint:
    n: int
    best_of_n: float
    majority: float
    pass_at_n: float
    n_problems: int
    # Every problem averaged over all its N-subsets: always true since the curve is exact
    # (kept so readers of diagnostics.json and callers that set it keep working).
    exhaustive: bool = True

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class ProblemPoint:
    """One problem at one N: the share of its N-subsets whose top-scored sample is right,
    its maj@N and its pass@N."""

    best_of_n: float
    majority: float
    pass_at_n: float


@dataclass(frozen=True)
class ComputePoint:
    name: str
    method: str
    n_problems: int
    n_results: int
    accuracy: float
    mean_tokens: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _rank_key(candidates: Sequence[Candidate], i: int) -> tuple[bool, float, int]:
    """Higher scores first, unscored last, ties to the earlier sample."""
    score = candidates[i].score
    return (score is None, -score if score is not None else 0.0, i)


def pick_best(candidates: Sequence[Candidate], indices: Sequence[int]) -> int:
    """The index (from ``indices``) of the top-scored candidate; ties go to the earlier."""
    return min(indices, key=lambda i: _rank_key(candidates, i))


def best_of_k(candidates: Sequence[Candidate], k: int) -> float:
    """The expected correctness of the top-scored of ``k`` samples drawn without replacement,
    over all C(n, k) k-subsets, exactly.

    The candidate ranked r-th (0-based, by :func:`pick_best`'s order) is the pick of the
    C(n - 1 - r, k - 1) subsets made of it and k - 1 candidates ranked below it.
    """
    n = len(candidates)
    if not 1 <= k <= n:
        raise ValueError(f"best-of-{k} needs between 1 and {n} samples per subset")
    order = sorted(range(n), key=lambda i: _rank_key(candidates, i))
    picked_right = sum(
        math.comb(n - 1 - rank, k - 1) for rank, i in enumerate(order) if candidates[i].correct
    )
    return picked_right / math.comb(n, k)


def problem_points(
    candidates_by_problem: Mapping[str, Sequence[Candidate]],
    *,
    ns: Iterable[int] | None = None,
) -> dict[int, dict[str, ProblemPoint]]:
    """Each problem's best-of-N, maj@N and pass@N, by N (ascending) then problem id.

    The per-problem numbers :func:`best_of_n_curve` averages, for paired comparisons over
    problems (two verifiers, or a verifier and majority vote, on the same samples). Problems
    without samples are left out; N runs over ``ns`` (default 1, 2, 4, ..., fewest samples),
    keeping those from 1 to the fewest samples any problem has.
    """
    problems = {pid: list(c) for pid, c in candidates_by_problem.items() if c}
    if not problems:
        return {}
    fewest = min(len(c) for c in problems.values())
    chosen = sorted({n for n in (ns or default_ks(fewest)) if 1 <= n <= fewest})
    by_n: dict[int, dict[str, ProblemPoint]] = {}
    for n in chosen:
        by_n[n] = {}
        for pid, candidates in problems.items():
            votes = [Sample(c.answer, c.correct) for c in candidates]
            by_n[n][pid] = ProblemPoint(
                best_of_n=best_of_k(candidates, n),
                majority=majority_at_k(votes, n),
                pass_at_n=pass_at_k(len(candidates), sum(c.correct for c in candidates), n),
            )
    return by_n


def mean_over_problems(points: Mapping[int, Mapping[str, ProblemPoint]]) -> list[BestOfNPoint]:
    """One :class:`BestOfNPoint` per N of :func:`problem_points`' output: the means over
    its problems."""
    curve = []
    for n, by_problem in points.items():
        count = len(by_problem)
        curve.append(
            BestOfNPoint(
                n=n,
                best_of_n=sum(p.best_of_n for p in by_problem.values()) / count,
                majority=sum(p.majority for p in by_problem.values()) / count,
                pass_at_n=sum(p.pass_at_n for p in by_problem.values()) / count,
                n_problems=count,
            )
        )
    return curve


def best_of_n_curve(
    candidates_by_problem: Mapping[str, Sequence[Candidate]],
    *,
    ns: Iterable[int] | None = None,
) -> list[BestOfNPoint]:
    """Best-of-N, maj@N and pass@N for each N (default 1, 2, 4, ..., fewest samples)."""
    return mean_over_problems(problem_points(candidates_by_problem, ns=ns))


def compute_points(
    rows: Iterable[tuple[str, str, str, bool, int]],
) -> list[ComputePoint]:
    """Points from ``(name, method, problem_id, correct, n_generated_tokens)`` rows.

    A problem run several times (``run``) counts once: its accuracy and tokens are the means
    over its runs. Points come in first-seen order of (name, method).
    """
    grouped: dict[tuple[str, str], dict[str, list[tuple[bool, int]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for name, method, problem_id, correct, n_tokens in rows:
        grouped[(name, method)][problem_id].append((correct, n_tokens))
    points = []
    for (name, method), by_problem in grouped.items():
        runs = list(by_problem.values())
        points.append(
            ComputePoint(
                name=name,
                method=method,
                n_problems=len(runs),
                n_results=sum(len(r) for r in runs),
                accuracy=sum(sum(c for c, _ in r) / len(r) for r in runs) / len(runs),
                mean_tokens=sum(sum(t for _, t in r) / len(r) for r in runs) / len(runs),
            )
        )
    return points
