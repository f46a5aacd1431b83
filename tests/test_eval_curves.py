"""Best-of-N, majority and pass@N curves: exact expectations over every N-subset.

The curve's majority and pass@N are the table's maj@k and pass@k (one definition), and
best-of-N is the same expectation for the top-scored pick, so hand-computed values over
all subsets are the specification.
"""

from __future__ import annotations

import itertools
import random

import pytest

from mathverify.eval.curves import (
    Candidate,
    ProblemPoint,
    best_of_k,
    best_of_n_curve,
    mean_over_problems,
    pick_best,
    problem_points,
)
from mathverify.eval.metrics import Sample, evaluate, majority_credit

A = Candidate("1", True, 0.2)
B = Candidate("2", False, 0.9)
C = Candidate("2", False, 0.5)
D = Candidate("1", True, 0.8)
E = Candidate("5", True, None)
F = Candidate("6", False, 0.1)
G = Candidate("5", True, 0.1)
H = Candidate(None, False, 0.3)
PROBLEMS = {"p": [A, B, C, D], "q": [E, F, G, H]}


def test_best_of_n_curve_hand_computed():
    # p, N=2 (6 pairs): best right for AD, CD (2/6); majority: AD agree (1), CD, BD, AB,
    # AC tie (1/2 each), BC agree on a wrong answer (0): 3/6. q, N=2: best right for EG
    # (1/6); majority: EG, EH, GH right (H does not vote), EF and FG tie, FH wrong: 4/6.
    # N=4: best picks B and H (both wrong); majority: p ties 2-2 (1/2), q 2 right against 1.
    points = best_of_n_curve(PROBLEMS)
    got = [(p.n, p.best_of_n, p.majority, p.pass_at_n) for p in points]
    expected = [
        (1, 0.5, 0.5, 0.5),
        (2, (2 / 6 + 1 / 6) / 2, (3 / 6 + 4 / 6) / 2, 5 / 6),
        (4, 0.0, (0.5 + 1.0) / 2, 1.0),
    ]
    assert len(got) == len(expected)
    for row, want in zip(got, expected, strict=True):
        assert row == pytest.approx(want, rel=1e-12)
    assert all(p.n_problems == 2 for p in points)


def _enumerated(candidates, n):
    """(best-of-n, majority) by definition: the mean over every n-subset."""
    subsets = list(itertools.combinations(range(len(candidates)), n))
    best = sum(candidates[pick_best(candidates, s)].correct for s in subsets)
    votes = [[Sample(candidates[i].answer, candidates[i].correct) for i in s] for s in subsets]
    return best / len(subsets), sum(majority_credit(v) for v in votes) / len(subsets)


@pytest.mark.parametrize("seed", range(25))
def test_every_n_is_the_mean_over_all_n_subsets(seed):
    rng = random.Random(seed)
    candidates = [
        Candidate(
            rng.choice([None, "1", "2", "3"]),
            rng.random() < 0.4,
            rng.choice([None, 0.1, 0.5, 0.5, 0.9, rng.random()]),
        )
        for _ in range(rng.randint(1, 9))
    ]
    points = problem_points({"p": candidates}, ns=range(1, len(candidates) + 1))
    for n, by_problem in points.items():
        best, majority = _enumerated(candidates, n)
        assert by_problem["p"].best_of_n == pytest.approx(best, abs=1e-12)
        assert by_problem["p"].majority == pytest.approx(majority, abs=1e-12)


def test_the_curve_majority_is_the_tables_maj_at_k():
    rng = random.Random(7)
    by_problem = {
        f"p{i}": [
            Candidate(str(rng.randint(0, 3)), rng.random() < 0.3, rng.random()) for _ in range(8)
        ]
        for i in range(5)
    }
    curve = best_of_n_curve(by_problem)
    report = evaluate(
        "x", {pid: [Sample(c.answer, c.correct) for c in cs] for pid, cs in by_problem.items()}
    )
    assert [p.n for p in curve] == sorted(report.maj) == [1, 2, 4, 8]
    for point in curve:
        assert point.majority == pytest.approx(report.maj[point.n], abs=1e-12)
        assert point.pass_at_n == pytest.approx(report.pass_at[point.n], abs=1e-12)
    # At N = 1 a pick is a random sample: best-of-1 = maj@1 = pass@1 = accuracy.
    assert curve[0].best_of_n == pytest.approx(report.accuracy)
    assert curve[0].majority == pytest.approx(report.accuracy)


def test_best_of_n_curve_chosen_ns():
    # N=3: p best right only for ACD (1/4); majority for ABD, ACD (2/4); q best never,
    # majority: EFG, EGH right, EFH and FGH tie (1/2): 3/4.
    (point,) = best_of_n_curve(PROBLEMS, ns=[3, 7])
    assert (point.n, point.best_of_n, point.majority, point.pass_at_n) == pytest.approx(
        (3, 1 / 8, 5 / 8, 1.0)
    )


def test_best_of_k_edges():
    assert best_of_k([A], 1) == 1.0
    assert best_of_k([B, A], 2) == 0.0  # B scores higher
    # Unscored ranks last; ties go to the earlier sample.
    assert best_of_k([E, F], 2) == 0.0
    assert best_of_k([G, F], 2) == 1.0 and best_of_k([F, G], 2) == 0.0
    for k in (0, 3):
        with pytest.raises(ValueError):
            best_of_k([A, B], k)


def test_best_of_n_curve_edges():
    assert best_of_n_curve({}) == []
    assert best_of_n_curve({"p": []}) == []
    # The curve stops at the fewest samples any problem has.
    points = best_of_n_curve({"p": [A, B, C, D], "q": [E, F, G]})
    assert [p.n for p in points] == [1, 2, 3]


def test_large_n_is_exact_and_quick():
    # 256 samples per problem (the letsverify example's N): no random subsets to draw.
    rng = random.Random(0)
    candidates = [
        Candidate(str(rng.randint(0, 20)), rng.random() < 0.3, rng.random()) for _ in range(256)
    ]
    curve = best_of_n_curve({"p": candidates, "q": candidates[::-1]})
    assert [p.n for p in curve] == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert curve[0].best_of_n == pytest.approx(sum(c.correct for c in candidates) / 256)
    assert all(0.0 <= p.majority <= 1.0 and 0.0 <= p.best_of_n <= 1.0 for p in curve)


# Three samples each. r: "1" right (score 0.2), "2" wrong (0.9), "1" right (0.5).
# s: "7" wrong (0.8), "5" right (0.1), "7" wrong (unscored: ranks last).
SMALL = {
    "r": [Candidate("1", True, 0.2), Candidate("2", False, 0.9), Candidate("1", True, 0.5)],
    "s": [Candidate("7", False, 0.8), Candidate("5", True, 0.1), Candidate("7", False, None)],
}


def test_problem_points_hand_computed():
    # N=2, r: ab picks b (wrong), ac picks c, bc picks b -> best 1/3; majority: ab and bc
    # tie (1/2 each), ac agrees on "1" -> 2/3. s: de and df pick d, ef picks e (scored beats
    # unscored) -> 1/3; majority: de and ef tie (1/2 each), df "7" -> 1/3. N=3: best picks
    # b and d (both wrong); majority "1" in r (right), "7" in s.
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
    point = problem_points(SMALL, ns=[2, 9])[2]["r"]
    assert isinstance(point, ProblemPoint)
    assert (point.best_of_n, point.majority, point.pass_at_n) == pytest.approx((1 / 3, 2 / 3, 1.0))
    assert problem_points({}) == {} and mean_over_problems({}) == []


def test_problem_points_are_the_curve_per_problem_in_any_problem_order():
    points = problem_points(PROBLEMS)
    assert mean_over_problems(points) == best_of_n_curve(PROBLEMS)
    reordered = problem_points({"q": PROBLEMS["q"], "p": PROBLEMS["p"]})
    assert reordered[2]["p"] == points[2]["p"] and reordered[2]["q"] == points[2]["q"]
