"""maj@k, pass@k and the report that `mathverify eval` prints."""

from __future__ import annotations

import itertools
import math
import random
from math import comb

import pytest

from mathverify.errors import MathverifyError
from mathverify.eval.metrics import (
    Sample,
    default_ks,
    evaluate,
    majority_at_k,
    majority_credit,
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
        ([S("2", True)], 1.0),
        ([S("3", False)], 0.0),
        ([S("3", False), S("2", True), S("2", True)], 1.0),
        ([S("3", False), S("3", False), S("2", True)], 0.0),
        # correct answers written differently still vote together
        ([S("1/2", True), S("\\frac{1}{2}", True), S("3", False)], 1.0),
        # wrong answers equal up to spaces and dfrac vote together
        ([S("\\dfrac{1}{3}", False), S("\\frac{1}{3}", False), S("1", True)], 0.0),
        # a tie scores the share of tied answers that is right, whatever the order
        ([S("2", True), S("3", False)], 0.5),
        ([S("3", False), S("2", True)], 0.5),
        ([S("3", False), S("2", True), S("4", False)], 1 / 3),
        ([S("3", False), S("3", False), S("2", True), S("2", True), S("4", False)], 0.5),
        # a tie among wrong answers only scores 0
        ([S("3", False), S("3", False), S("4", False), S("4", False), S("2", True)], 0.0),
        # no answer does not vote
        ([S(None, False), S(None, False), S("2", True)], 1.0),
        ([S(None, False)], 0.0),
        ([], 0.0),
    ],
)
def test_majority_credit(samples, expected):
    assert majority_credit(samples) == pytest.approx(expected)


def _by_enumeration(samples, k):
    """maj@k by its definition: the mean credit over every k-subset."""
    subsets = list(itertools.combinations(samples, k))
    return sum(majority_credit(list(s)) for s in subsets) / len(subsets)


def _random_samples(rng, n):
    out = []
    for _ in range(n):
        draw = rng.random()
        if draw < 0.35:
            out.append(S("right", True))
        elif draw < 0.9:
            out.append(S(str(rng.randint(1, 3)), False))
        else:
            out.append(S(None, False))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_majority_at_k_is_the_mean_over_all_k_subsets(seed):
    rng = random.Random(seed)
    samples = _random_samples(rng, rng.randint(1, 11))
    for k in range(1, len(samples) + 1):
        assert majority_at_k(samples, k) == pytest.approx(_by_enumeration(samples, k), abs=1e-12)


def test_majority_at_k_does_not_depend_on_sample_order():
    samples = [S("9", False), S("9", False), S("2", True), S("5", False), S("2", True)]
    for k in range(1, 6):
        assert majority_at_k(samples, k) == pytest.approx(majority_at_k(samples[::-1], k))


def test_majority_at_one_is_accuracy_and_at_n_the_full_vote():
    samples = [S("3", False), S("2", True), S(None, False), S("2", True), S("3", False)]
    assert majority_at_k(samples, 1) == pytest.approx(2 / 5)
    assert majority_at_k(samples, 5) == majority_credit(samples) == 0.5
    with pytest.raises(ValueError):
        majority_at_k(samples, 6)
    with pytest.raises(ValueError):
        majority_at_k(samples, 0)


def test_majority_at_k_large_n_stays_finite_and_exact_at_the_edges():
    # 1,000 samples: binomials of this size overflow floats unless handled in logs.
    samples = [S("r", True)] * 400 + [S(str(i % 7), False) for i in range(600)]
    values = [majority_at_k(samples, k) for k in (1, 2, 10, 100, 999)]
    assert values[0] == pytest.approx(0.4) and values[1] == pytest.approx(0.4)
    assert all(0.0 <= v <= 1.0 for v in values)
    assert values == sorted(values)  # 400 right against at most 86 of one wrong answer
    assert values[-1] == pytest.approx(1.0)


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
    tokens = {"a": [10, 2, 3, 5], "b": [1, 1, 1, 1]}
    samples = {
        pid: [Sample(s.answer, s.correct, n) for s, n in zip(rows, tokens[pid], strict=True)]
        for pid, rows in samples.items()
    }
    report = evaluate("x", samples, groups={"level": {"a": "1", "b": "2"}})
    assert report.n_problems == 2 and report.samples_per_problem == 4
    assert report.accuracy == pytest.approx((3 / 4 + 1 / 4) / 2)
    assert report.maj == pytest.approx({1: 0.5, 2: 0.5, 4: 0.5})
    assert report.pass_at[4] == 1.0
    assert report.pass_at[1] == pytest.approx(0.5)
    assert (report.mean_tokens_per_problem, report.mean_tokens_per_sample) == (12.0, 3.0)
    assert report.samples_without_tokens == 0
    assert report.groups["level"]["1"].accuracy == 0.75
    assert report.to_dict()["groups"]["level"]["2"]["n_problems"] == 1


def test_a_sample_without_a_token_count_gives_no_token_means():
    # One sample of 8 with no count (0): a mean counting it as free would be too low.
    samples = {"a": [Sample("1", True, 10)] * 3 + [Sample("1", True)], "b": [Sample("2", False, 4)]}
    report = evaluate("x", samples)
    assert report.samples_without_tokens == 1
    assert report.mean_tokens_per_problem is None and report.mean_tokens_per_sample is None


def test_evaluate_empty():
    assert evaluate("none", {}).n_problems == 0


def test_maj_at_k_uses_every_sample_not_the_first_k():
    # The first sample is wrong, three of four are right: maj@1 is the accuracy (0.75),
    # not the first sample's verdict; pass@1 too.
    samples = {"a": [S("3", False), S("2", True), S("2", True), S("2", True)]}
    report = evaluate("x", samples)
    assert report.accuracy == report.maj[1] == report.pass_at[1] == pytest.approx(0.75)
    # maj@2: 3 of 6 pairs agree on the right answer, 3 tie (half credit each).
    assert report.maj[2] == pytest.approx((3 + 3 * 0.5) / 6)
    assert report.maj[4] == 1.0


def test_uneven_samples_use_all_of_each_problem():
    # b has 4 samples, a 2: every number still uses all of b's samples.
    samples = {
        "a": [S("1", True), S("2", False)],
        "b": [S("5", False), S("5", False), S("6", True), S("6", True)],
    }
    report = evaluate("x", samples)
    assert (report.samples_per_problem, report.samples_per_problem_max) == (2, 4)
    assert sorted(report.maj) == [1, 2]
    assert report.maj[1] == pytest.approx(report.accuracy) == pytest.approx(0.5)
    assert report.pass_at[2] == pytest.approx((1.0 + (1 - comb(2, 2) / comb(4, 2))) / 2)


def test_k_beyond_the_fewest_samples_is_an_error_not_a_missing_column():
    samples = {"a": [S("1", True)] * 4, "b": [S("1", True)] * 2}
    with pytest.raises(MathverifyError, match="problem 'b' has 2"):
        evaluate("x", samples, ks=[4])
    with pytest.raises(MathverifyError, match="at least 1"):
        evaluate("x", samples, ks=[0])


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
