"""Best-of-N curves and accuracy-vs-compute points, as plain numbers for tables and plots.

- :func:`best_of_n_curve`: for N = 1, 2, 4, ... (up to the fewest samples any problem has),
  the accuracy of picking the top-scored of N samples, with majority vote over the same N
  samples and unbiased pass@N (an upper bound) beside it. Each problem averages over its
  N-subsets: all of them when there are at most ``subsets``, else ``subsets`` drawn at
  random with a seed (per problem and N, so results do not depend on problem order).
  Ties in score go to the earlier sample; samples without a score rank last.
  :func:`problem_points` gives the same numbers per problem, for paired comparisons.
- :func:`compute_points`: one (mean generated tokens per problem, accuracy) point per input
  and search method, the compute-matched view that puts every method in one plot.

Grading happens before (labels or the grading pool), drawing after
(:mod:`mathverify.eval.plots`).
"""

from __future__ import annotations

import itertools
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from mathverify.eval.metrics import Sample, default_ks, majority_correct, pass_at_k

__all__ = [
    "BestOfNPoint",
    "Candidate",
    "ComputePoint",
    "ProblemPoint",
    "best_of_n_curve",
    "compute_points",
    "mean_over_problems",
    "pick_best",
    "problem_points",
]


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
    exhaustive: bool  # every problem averaged over all its N-subsets

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class ProblemPoint:
    """One problem at one N: the share of its N-subsets whose top-scored sample is right,
    whose majority answer is right, and its unbiased pass@N."""

    best_of_n: float
    majority: float
    pass_at_n: float
    exhaustive: bool  # averaged over all its N-subsets


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


def pick_best(candidates: Sequence[Candidate], indices: Sequence[int]) -> int:
    """The index (from ``indices``) of the top-scored candidate; ties go to the earlier."""

    def key(i: int) -> tuple[bool, float, int]:
        score = candidates[i].score
        return (score is None, -score if score is not None else 0.0, i)

    return min(indices, key=key)


def _subsets(m: int, n: int, limit: int, rng: random.Random) -> tuple[list[tuple[int, ...]], bool]:
    if math.comb(m, n) <= limit:
        return list(itertools.combinations(range(m), n)), True
    return [tuple(sorted(rng.sample(range(m), n))) for _ in range(limit)], False


def problem_points(
    candidates_by_problem: Mapping[str, Sequence[Candidate]],
    *,
    ns: Iterable[int] | None = None,
    subsets: int = 100,
    seed: int = 0,
) -> dict[int, dict[str, ProblemPoint]]:
    """Each problem's best-of-N, majority@N and pass@N, by N (ascending) then problem id.

    The per-problem numbers :func:`best_of_n_curve` averages, for paired comparisons over
    problems (two verifiers, or a verifier and majority vote, on the same N-subsets). Problems
    without samples are left out; N runs over ``ns`` (default 1, 2, 4, ..., fewest samples),
    keeping those from 1 to the fewest samples any problem has.
    """
    if subsets < 1:
        raise ValueError(f"subsets must be at least 1, got {subsets}")
    problems = {pid: list(c) for pid, c in candidates_by_problem.items() if c}
    if not problems:
        return {}
    fewest = min(len(c) for c in problems.values())
    chosen = sorted({n for n in (ns or default_ks(fewest)) if 1 <= n <= fewest})
    by_n: dict[int, dict[str, ProblemPoint]] = {}
    for n in chosen:
        by_n[n] = {}
        for pid, candidates in problems.items():
            # Seeded per problem and N, so the subsets do not depend on problem order.
            rng = random.Random(f"{seed}/{pid}/{n}")
            picks, complete = _subsets(len(candidates), n, subsets, rng)
            best = majority = 0
            for subset in picks:
                best += candidates[pick_best(candidates, subset)].correct
                votes = [Sample(candidates[i].answer, candidates[i].correct) for i in subset]
                majority += majority_correct(votes)
            by_n[n][pid] = ProblemPoint(
                best_of_n=best / len(picks),
                majority=majority / len(picks),
                pass_at_n=pass_at_k(len(candidates), sum(c.correct for c in candidates), n),
                exhaustive=complete,
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
                exhaustive=all(p.exhaustive for p in by_problem.values()),
            )
        )
    return curve


def best_of_n_curve(
    candidates_by_problem: Mapping[str, Sequence[Candidate]],
    *,
    ns: Iterable[int] | None = None,
    subsets: int = 100,
    seed: int = 0,
) -> list[BestOfNPoint]:
    """Best-of-N, majority@N and pass@N for each N (default 1, 2, 4, ..., fewest samples)."""
    return mean_over_problems(
        problem_points(candidates_by_problem, ns=ns, subsets=subsets, seed=seed)
    )


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
