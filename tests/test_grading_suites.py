"""Agreement with other projects' published answer-equivalence suites (tests/equivalence_suites.py).

Every case of every suite is graded through a ``GradingPool`` in both modes. Lenient mode
must agree with at least 97% of each suite's expected verdicts; strict mode is Math-Verify's
own verdict and its agreement is printed for the record (``pytest -s``), not tuned.
"""

from __future__ import annotations

import pytest
from equivalence_suites import SUITES

from mathverify.grading import GradingPool

MIN_LENIENT_AGREEMENT = 0.97


@pytest.fixture(scope="module")
def agreement() -> dict[tuple[str, str], tuple[int, int, list[str]]]:
    pairs = [(pred, gold) for _, cases in SUITES.values() for pred, gold, _, _ in cases]
    out = {}
    for mode in ("strict", "lenient"):
        with GradingPool(workers=2, timeout=5.0, mode=mode) as pool:
            verdicts = dict(zip(pairs, pool.grade_many(pairs), strict=True))
        for name, (_, cases) in SUITES.items():
            misses = [
                f"{pred!r} vs {gold!r}: expected {expected}, {verdicts[(pred, gold)].reason}"
                for pred, gold, expected, _ in cases
                if verdicts[(pred, gold)].equal != expected
            ]
            out[(name, mode)] = (len(cases) - len(misses), len(cases), misses)
    for (name, mode), (agree, total, misses) in sorted(out.items()):
        print(f"{name} {mode}: {agree}/{total} = {agree / total:.1%}; misses: {misses}")
    return out


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_lenient_agrees_with_each_suite(agreement: dict, suite: str) -> None:
    agree, total, misses = agreement[(suite, "lenient")]
    assert agree / total >= MIN_LENIENT_AGREEMENT, misses


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_lenient_fixes_more_than_it_breaks(agreement: dict, suite: str) -> None:
    assert agreement[(suite, "lenient")][0] >= agreement[(suite, "strict")][0]


def test_suites_have_true_and_false_cases_with_sources() -> None:
    for name, (source, cases) in SUITES.items():
        assert source and cases, name
        assert {expected for _, _, expected, _ in cases} == {True, False}, name
        assert all(where for *_, where in cases), name
