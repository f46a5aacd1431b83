"""Best-of-N curves and accuracy-vs-compute points, as plain numbers for tables and plots.

- :func:`best_of_n_curve`: for N = 1, 2, 4, ... (up to the fewest samples any problem has),
  the accuracy of picking the top-scored of N samples, with majority vote over the same N
  samples and unbiased pass@N (an upper bound) beside it. Each problem averages over its
  N-subsets: all of them when there are at most ``subsets``, else ``subsets`` drawn at
  random with a seed (per problem and N, so results do not depend on problem order).
  Ties in score go to the earlier sample; samples without a score rank last.
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
    "best_of_n_curve",
    "compute_points",
    "pick_best",
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


def best_of_n_curve(
    candidates_by_problem: Mapping[str, Sequence[Candidate]],
    *,
    ns: Iterable[int] | None = None,
    subsets: int = 100,
    seed: int = 0,
) -> list[BestOfNPoint]:
    """Best-of-N, majority@N and pass@N for each N (default 1, 2, 4, ..., fewest samples)."""
    if subsets < 1:
        raise ValueError(f"subsets must be at least 1, got {subsets}")
    problems = {pid: list(c) for pid, c in candidates_by_problem.items() if c}
    if not problems:
        return []
    fewest = min(len(c) for c in problems.values())
    chosen = sorted({n for n in (ns or default_ks(fewest)) if 1 <= n <= fewest})
    points = []
    for n in chosen:
        best_total = majority_total = pass_total = 0.0
        exhaustive = True
        for pid, candidates in problems.items():
            rng = random.Random(f"{seed}/{pid}/{n}")
            picks, complete = _subsets(len(candidates), n, subsets, rng)
            exhaustive = exhaustive and complete
            best = majority = 0
            for subset in picks:
                best += candidates[pick_best(candidates, subset)].correct
                votes = [Sample(candidates[i].answer, candidates[i].correct) for i in subset]
                majority += majority_correct(votes)
            best_total += best / len(picks)
            majority_total += majority / len(picks)
            pass_total += pass_at_k(len(candidates), sum(c.correct for c in candidates), n)
        count = len(problems)
        points.append(
            BestOfNPoint(
                n=n,
                best_of_n=best_total / count,
                majority=majority_total / count,
                pass_at_n=pass_total / count,
                n_problems=count,
                exhaustive=exhaustive,
            )
        )
    return points


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
