"""Under ``--graders sympy`` the lenient rules read values with the sympy grader's parser (issue #37).

The rules that parse (``rounded_decimal``, ``imaginary_unit``, ``identity``,
``inequality_interval``) used to call Math-Verify whatever the grader; now each grader hands
them its own reader (``mathverify.grading.graders.READERS``). With Math-Verify broken, the
sympy grader still gives every lenient verdict, and the Math-Verify grader fails loudly, so
the test can tell which parser ran.
"""

from __future__ import annotations

import math_verify
import pytest

from mathverify.grading import EQUAL, ERROR
from mathverify.grading.lenient import RULE_NAMES
from mathverify.grading.pool import grade_in_worker

# (pred, gold, rule that decides under the sympy grader): pairs the strict sympy grader
# calls unequal and a rule that reads values turns equal.
READING_CASES = [
    ("1.732", "\\sqrt3", "rounded_decimal"),
    ("125.663", "40\\pi", "rounded_decimal"),
    ("i(2-i)", "1+2i", "imaginary_unit"),
    ("\\sin(90^\\circ - x)", "\\cos x", "identity"),
    ("x > 3", "(3, \\infty)", "inequality_interval"),
    ("3 < x \\le 5", "(3, 5]", "inequality_interval"),
    ("x<-1 \\text{ or } x>1", "(-\\infty,-1)\\cup(1,\\infty)", "inequality_interval"),
]
# The same rules, saying "not equal" where the values differ.
UNEQUAL_CASES = [
    ("125.6", "40\\pi"),
    ("2+i", "1+2i"),
    ("\\sin(90^\\circ - x)", "\\sin x"),
    ("x \\ge 3", "(3, \\infty)"),
]


@pytest.fixture
def math_verify_broken(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Math-Verify's ``parse`` and ``verify`` raise; the list records each call."""
    calls: list[str] = []

    def broken(name: str):
        def call(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"math_verify.{name} called")

        return call

    monkeypatch.setattr(math_verify, "parse", broken("parse"))
    monkeypatch.setattr(math_verify, "verify", broken("verify"))
    return calls


@pytest.mark.parametrize(("pred", "gold", "rule"), READING_CASES)
def test_sympy_grader_rules_never_call_math_verify(
    math_verify_broken: list[str], pred: str, gold: str, rule: str
) -> None:
    verdict = grade_in_worker("sympy", pred, gold, "lenient", RULE_NAMES)
    assert verdict == (True, EQUAL, None, rule)
    assert math_verify_broken == []


@pytest.mark.parametrize(("pred", "gold"), UNEQUAL_CASES)
def test_sympy_reader_keeps_unequal_values_apart(
    math_verify_broken: list[str], pred: str, gold: str
) -> None:
    equal, _, error, _ = grade_in_worker("sympy", pred, gold, "lenient", RULE_NAMES)
    assert (equal, error) == (False, None)
    assert math_verify_broken == []


def test_math_verify_grader_does_read_with_math_verify(math_verify_broken: list[str]) -> None:
    # the other side of the test above: the broken Math-Verify is seen where it is used
    equal, reason, error, _ = grade_in_worker("math-verify", "1.732", "\\sqrt3", "lenient")
    assert (equal, reason) == (False, ERROR)
    assert error is not None and "math_verify.parse called" in error
    assert math_verify_broken


@pytest.mark.parametrize(("pred", "gold", "rule"), READING_CASES)
def test_both_readers_agree_on_the_reading_rules(pred: str, gold: str, rule: str) -> None:
    for grader in ("math-verify", "sympy"):
        assert grade_in_worker(grader, pred, gold, "lenient", RULE_NAMES) == (
            True,
            EQUAL,
            None,
            rule,
        ), grader
