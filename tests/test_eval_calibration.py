"""Calibration (reliability bins, ECE), the best-of-N pick and accuracy-vs-tokens points,
against hand-computed fixtures (the best-of-N curves: test_eval_curves.py)."""

from __future__ import annotations

import pytest

from mathverify.errors import MathverifyError
from mathverify.eval.calibration import (
    label_scheme,
    reliability,
    solution_pairs,
    solution_score,
    step_pairs,
)
from mathverify.eval.curves import Candidate, compute_points, pick_best
from mathverify.records import Solution

# Dyadic scores keep every sum exact. Four bins of width 1/4; 1.0 falls in the last.
PAIRS = [(0.125, 0.0), (0.1875, 1.0), (0.375, 0.0), (0.625, 1.0), (0.75, 0.5), (1.0, 1.0)]


def test_reliability_hand_computed():
    result = reliability(PAIRS, n_bins=4)
    assert result.n == 6
    rows = [(b.low, b.high, b.count, b.mean_score, b.mean_target) for b in result.bins]
    assert rows == [
        (0.0, 0.25, 2, 0.15625, 0.5),
        (0.25, 0.5, 1, 0.375, 0.0),
        (0.5, 0.75, 1, 0.625, 1.0),
        (0.75, 1.0, 2, 0.875, 0.75),
    ]
    # (|1 - .3125| + |0 - .375| + |1 - .625| + |1.5 - 1.75|) / 6
    assert result.ece == 0.28125


def test_reliability_empty_bins_and_perfect_calibration():
    result = reliability([(0.25, 0.25), (0.25, 0.25)], n_bins=2)
    assert result.ece == 0.0
    assert [b.count for b in result.bins] == [2, 0]
    assert result.bins[1].mean_score is None and result.bins[1].mean_target is None
    empty = reliability([], n_bins=3)
    assert empty.n == 0 and empty.ece is None and len(empty.bins) == 3


@pytest.mark.parametrize(
    ("pairs", "bins", "message"),
    [
        ([(1.5, 1.0)], 10, "scores in \\[0, 1\\]"),
        ([(-0.1, 1.0)], 10, "scores in \\[0, 1\\]"),
        ([(0.5, 2.0)], 10, "targets in \\[0, 1\\]"),
        ([], 0, "at least 1 bin"),
    ],
)
def test_reliability_rejects(pairs, bins, message):
    with pytest.raises(MathverifyError, match=message):
        reliability(pairs, n_bins=bins)


def sol(labels=None, scores=None, source="exact", meta=None, outcome=None):
    n = len(labels if labels is not None else scores)
    return Solution(
        problem_id="p",
        sample_id=0,
        steps=["s"] * n,
        step_labels=labels,
        step_scores=scores,
        label_source=source,
        outcome=outcome,
        meta=meta or {},
    )


@pytest.mark.parametrize(
    ("solution", "expected"),
    [
        (sol([1, 1, 0, None], [0.9, None, 0.2, 0.1]), [(0.9, 1.0), (0.2, 0.0)]),
        # PRM800K: neutral counts as correct, -1 as wrong
        (sol([1, 0, -1], [0.5, 0.25, 0.75], "prm800k"), [(0.5, 1.0), (0.25, 1.0), (0.75, 0.0)]),
        (sol([0.75, 0.25], [0.5, 0.5], "rollout-soft-k4"), [(0.5, 0.75), (0.5, 0.25)]),
        (sol([1, 0], [0.5, 0.5], None), [(0.5, 1.0), (0.5, 0.0)]),
        (sol([1], None), []),
        (sol(None, [0.5]), []),
    ],
)
def test_step_pairs(solution, expected):
    assert step_pairs(solution) == expected


def test_step_pairs_bad_labels_name_the_solution():
    with pytest.raises(MathverifyError, match="p#0: step 0"):
        step_pairs(sol([2], [0.5], "exact"))


def test_label_scheme_falls_back_to_probabilities():
    assert label_scheme(sol([1], source="prm800k")) == "prm800k"
    assert label_scheme(sol([1], source="someone-elses")) == "soft"


def test_solution_score_and_pairs():
    assert solution_score(sol(scores=[0.5, 0.25], meta={"score": 0.125})) == 0.125
    assert solution_score(sol(scores=[0.5, None, 0.25])) == 0.25  # min when meta.score is absent
    assert solution_score(sol(scores=[None, None])) is None
    assert solution_score(sol(labels=[1])) is None
    rows = [
        (sol(scores=[0.75]), True),
        (sol(scores=[0.25]), False),
        (sol(scores=[0.5]), None),  # unknown correctness: left out
        (sol(labels=[1]), True),  # no score: left out
    ]
    assert solution_pairs(rows) == [(0.75, 1.0), (0.25, 0.0)]


# --------------------------------------------------------------------------------------
# Best-of-N

A = Candidate("1", True, 0.2)
B = Candidate("2", False, 0.9)
C = Candidate("2", False, 0.5)
D = Candidate("1", True, 0.8)
E = Candidate("5", True, None)
F = Candidate("6", False, 0.1)
G = Candidate("5", True, 0.1)
H = Candidate(None, False, 0.3)
PROBLEMS = {"p": [A, B, C, D], "q": [E, F, G, H]}


def test_pick_best_ties_to_the_earlier_and_unscored_last():
    assert pick_best([F, G], [0, 1]) == 0
    assert pick_best([E, F], [0, 1]) == 1
    assert pick_best([E, E], [0, 1]) == 0
    assert pick_best(PROBLEMS["p"], [0, 2, 3]) == 3


def test_compute_points_hand_computed():
    rows = [
        ("a", "greedy", "p1", True, 10),
        ("a", "greedy", "p2", False, 20),
        ("b", "best-of-n", "p1", True, 100),
        ("b", "best-of-n", "p1", False, 50),  # a second run of p1
        ("b", "best-of-n", "p2", True, 30),
    ]
    a, b = compute_points(rows)
    assert (a.name, a.method, a.n_problems, a.n_results, a.accuracy, a.mean_tokens) == (
        "a",
        "greedy",
        2,
        2,
        0.5,
        15.0,
    )
    # p1: accuracy 1/2 over its runs, 75 tokens; p2: 1, 30 tokens.
    assert (b.n_problems, b.n_results, b.accuracy, b.mean_tokens) == (2, 3, 0.75, 52.5)
    assert compute_points([]) == []
