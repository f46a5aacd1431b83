"""maj@k, pass@k and the report that `mathverify eval` prints."""

from __future__ import annotations

import math
from math import comb

import pytest

from mathverify.eval.metrics import (
    Sample,
    default_ks,
    evaluate,
    majority_correct,
    normalize_answer,
    paired_difference,
    pass_at_k,
)


@pytest.mark.parametrize(
    ("n", "c", "k"),
    [(4, 1, 2), (16, 3, 4), (16, 0, 8), (16, 16, 1), (10, 9, 5), (256, 7, 64), (5, 2, 5)],
)
def test_pass_at_k_matches_the_binomial_definition(n, c, k):
    expected = 1 - comb(n - c, k) / comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_needs_enough_samples():
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def S(answer, correct):  # noqa: N802 - a short constructor for tables
    return Sample(answer, correct)


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([S("2", True)], True),
        ([S("3", False)], False),
        ([S("3", False), S("2", True), S("2", True)], True),
        ([S("3", False), S("3", False), S("2", True)], False),
        # correct answers written differently still vote together
        ([S("1/2", True), S("\\frac{1}{2}", True), S("3", False)], True),
        # wrong answers equal up to spaces and dfrac vote together
        ([S("\\dfrac{1}{3}", False), S("\\frac{1}{3}", False), S("1", True)], False),
        # a tie goes to the answer seen first
        ([S("2", True), S("3", False)], True),
        ([S("3", False), S("2", True)], False),
        # no answer does not vote
        ([S(None, False), S(None, False), S("2", True)], True),
        ([S(None, False)], False),
    ],
)
def test_majority(samples, expected):
    assert majority_correct(samples) is expected


def test_normalize_answer():
    assert normalize_answer(" $\\dfrac{1}{2}$ ") == "\\frac{1}{2}"
    assert normalize_answer("") is None and normalize_answer(None) is None


def test_default_ks():
    assert default_ks(1) == [1]
    assert default_ks(16) == [1, 2, 4, 8, 16]
    assert default_ks(5) == [1, 2, 4, 5]


def test_evaluate_report_and_groups():
    samples = {
        "a": [S("1", True), S("2", False), S("1", True), S("1", True)],
        "b": [S("5", False), S("5", False), S("6", True), S("7", False)],
    }
    samples["a"][0] = Sample("1", True, n_tokens=10)
    report = evaluate("x", samples, groups={"level": {"a": "1", "b": "2"}})
    assert report.n_problems == 2 and report.samples_per_problem == 4
    assert report.accuracy == pytest.approx((3 / 4 + 1 / 4) / 2)
    assert report.maj == {1: 0.5, 2: 0.5, 4: 0.5}
    assert report.pass_at[4] == 1.0
    assert report.pass_at[1] == pytest.approx(0.5)
    assert report.mean_tokens_per_problem == 5.0
    assert report.groups["level"]["1"].accuracy == 0.75
    assert report.to_dict()["groups"]["level"]["2"]["n_problems"] == 1


def test_evaluate_empty():
    assert evaluate("none", {}).n_problems == 0


def test_step_label_stats():
    from mathverify.eval.metrics import step_label_stats

    rows = [
        (True, None),
        (True, 2),
        (False, 0),
        (False, 0),
        (False, 3),
        (False, None),
        (True, None),
        (True, None),
    ]
    stats = step_label_stats(rows)
    assert stats["labeled"] == 8
    assert stats["right_answer_with_wrong_step"] == 0.25
    assert stats["first_wrong_step_histogram"] == {"0": 2, "3": 1, "none": 1}
    assert list(stats["first_wrong_step_histogram"]) == ["0", "3", "none"]
    assert step_label_stats([(False, 1)])["right_answer_with_wrong_step"] is None


def test_paired_difference_counts_only_shared_problems():
    a = {"p1": True, "p2": True, "p3": False, "only-a": True}
    b = {"p1": True, "p2": False, "p3": True, "only-b": False}
    # Per shared problem: 0, +1, -1 -> mean 0; sample variance 1, SE sqrt(1/3).
    mean, se = paired_difference(a, b)
    assert mean == pytest.approx(0.0)
    assert se == pytest.approx(100 * math.sqrt(1 / 3))
    mean, se = paired_difference({"p": True, "q": True}, {"p": False, "q": False})
    assert (mean, se) == (pytest.approx(100.0), pytest.approx(0.0))
    with pytest.raises(ValueError):
        paired_difference({"p": True}, {"q": True})
