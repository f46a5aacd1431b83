"""Calibration (reliability bins, ECE), best-of-N curves and accuracy-vs-tokens points,
against hand-computed fixtures."""

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
from mathverify.eval.curves import (
    Candidate,
    ProblemPoint,
    best_of_n_curve,
    compute_points,
    mean_over_problems,
    pick_best,
    problem_points,
)
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


def test_best_of_n_curve_hand_computed():
    # p, N=2 (6 pairs): best right for AD, CD (2/6); majority right for AB, AC, AD (3/6,
    # ties go to the first seen). q, N=2: best right for EG (1/6); majority for EF, EG, EH,
    # GH (4/6; H has no answer and does not vote). N=4: best picks B and H (both wrong);
    # majority ties 2-2 in p to "1" (first seen), q has 2 right against 1. pass@2 = 1 - 1/6.
    points = best_of_n_curve(PROBLEMS)
    got = [(p.n, p.best_of_n, p.majority, p.pass_at_n, p.exhaustive) for p in points]
    expected = [
        (1, 0.5, 0.5, 0.5, True),
        (2, (2 / 6 + 1 / 6) / 2, (3 / 6 + 4 / 6) / 2, 5 / 6, True),
        (4, 0.0, 1.0, 1.0, True),
    ]
    assert len(got) == len(expected)
    for row, want in zip(got, expected, strict=True):
        assert row == pytest.approx(want, rel=1e-12)
    assert all(p.n_problems == 2 for p in points)


def test_best_of_n_curve_chosen_ns():
    # N=3: p best right only for ACD (1/4), majority for ABD, ACD (2/4); q best never, majority
    # for EFG, EFH, EGH (3/4).
    (point,) = best_of_n_curve(PROBLEMS, ns=[3, 7])
    assert (point.n, point.best_of_n, point.majority, point.pass_at_n) == pytest.approx(
        (3, 1 / 8, 5 / 8, 1.0)
    )


def test_best_of_n_random_subsets_are_seeded_and_unbiased():
    exhaustive = best_of_n_curve(PROBLEMS, ns=[2])[0]
    sampled = best_of_n_curve(PROBLEMS, ns=[2], subsets=3, seed=1)[0]
    assert not sampled.exhaustive  # 6 pairs > 3 subsets: drawn at random
    assert sampled == best_of_n_curve(PROBLEMS, ns=[2], subsets=3, seed=1)[0]
    # Drawn per problem and N, not by position: reordering problems changes nothing.
    reordered = {"q": PROBLEMS["q"], "p": PROBLEMS["p"]}
    assert best_of_n_curve(reordered, ns=[2], subsets=3, seed=1)[0].best_of_n == pytest.approx(
        sampled.best_of_n
    )
    # Different seeds draw different subsets, and on average match all subsets.
    by_seed = [best_of_n_curve(PROBLEMS, ns=[2], subsets=3, seed=s)[0] for s in range(400)]
    assert len({p.best_of_n for p in by_seed}) > 1
    mean = sum(p.best_of_n for p in by_seed) / len(by_seed)
    assert mean == pytest.approx(exhaustive.best_of_n, abs=0.02)


def test_best_of_n_curve_edges():
    assert best_of_n_curve({}) == []
    assert best_of_n_curve({"p": []}) == []
    # The curve stops at the fewest samples any problem has.
    points = best_of_n_curve({"p": [A, B, C, D], "q": [E, F, G]})
    assert [p.n for p in points] == [1, 2, 3]
    with pytest.raises(ValueError):
        best_of_n_curve(PROBLEMS, subsets=0)


# Three samples each. r: "1" right (score 0.2), "2" wrong (0.9), "1" right (0.5).
# s: "7" wrong (0.8), "5" right (0.1), "7" wrong (unscored: ranks last).
SMALL = {
    "r": [Candidate("1", True, 0.2), Candidate("2", False, 0.9), Candidate("1", True, 0.5)],
    "s": [Candidate("7", False, 0.8), Candidate("5", True, 0.1), Candidate("7", False, None)],
}


def test_problem_points_hand_computed():
    # N=2, r: ab picks b (wrong), ac picks c, bc picks b -> best 1/3; majority ties in ab and
    # bc go to the first seen (a right, b wrong), ac agrees on "1" -> 2/3. s: de and df pick d,
    # ef picks e (scored beats unscored) -> 1/3; majority: de tie to d, df "7", ef tie to e
    # -> 1/3. N=3: best picks b and d (both wrong); majority "1" in r (right), "7" in s.
    points = problem_points(SMALL)
    assert list(points) == [1, 2, 3]
    assert all(list(by_problem) == ["r", "s"] for by_problem in points.values())
    got = {
        (n, pid): (p.best_of_n, p.majority, p.pass_at_n)
        for n, by_problem in points.items()
        for pid, p in by_problem.items()
    }
    expected = {
        (1, "r"): (2 / 3, 2 / 3, 2 / 3),
        (1, "s"): (1 / 3, 1 / 3, 1 / 3),
        (2, "r"): (1 / 3, 2 / 3, 1.0),
        (2, "s"): (1 / 3, 1 / 3, 2 / 3),
        (3, "r"): (0.0, 1.0, 1.0),
        (3, "s"): (0.0, 0.0, 1.0),
    }
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        assert got[key] == pytest.approx(want, rel=1e-12), key
    assert all(p.exhaustive for by_problem in points.values() for p in by_problem.values())
    assert problem_points(SMALL, ns=[2, 9])[2]["r"] == ProblemPoint(1 / 3, 2 / 3, 1.0, True)
    assert problem_points({}) == {} and mean_over_problems({}) == []


def test_problem_points_are_the_curve_per_problem():
    # The curve is their mean, drawn subsets included: the same subsets per problem and N.
    drawn = problem_points(PROBLEMS, subsets=2, seed=3)
    assert mean_over_problems(drawn) == best_of_n_curve(PROBLEMS, subsets=2, seed=3)
    assert not drawn[2]["p"].exhaustive  # 6 pairs > 2 subsets
    reordered = problem_points({"q": PROBLEMS["q"], "p": PROBLEMS["p"]}, subsets=2, seed=3)
    assert reordered[2]["p"] == drawn[2]["p"] and reordered[2]["q"] == drawn[2]["q"]
    with pytest.raises(ValueError):
        problem_points(PROBLEMS, subsets=0)


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
