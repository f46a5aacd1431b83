"""A bug inside a lenient rule or the sympy grader surfaces; only a parser's "cannot read this" is swallowed (issue #34).

Rules used to run inside ``except Exception: continue``, so a rule that crashed read as
"the rule does not apply". Now a rule's exception is raised as a ``RuleError`` naming the
rule, and the grading pool turns it into an ``error`` verdict that carries the rule's name
(counted as ungraded and audited), never a silent "not equal".
"""

from __future__ import annotations

import pytest

from mathverify.grading import EQUAL, ERROR, NOT_EQUAL
from mathverify.grading.graders import math_verify_grader
from mathverify.grading.lenient import ADDS, RULES, Rule, lenient_equal
from mathverify.grading.pool import grade_in_worker
from mathverify.grading.rule_tools import RuleError
from mathverify.grading.sympy_grader import answers_equal, latex_to_sympy


def strict(pred: str, gold: str) -> bool:
    return math_verify_grader(pred, gold)[0]


def _divides_by_zero(pred: str, gold: str, compare) -> bool | None:
    """A rule with a bug: it divides by zero on every pair."""
    return len(pred) / 0 > 1


def _wrong_type(pred: str, gold: str, compare) -> bool | None:
    """A rule with a bug: it adds a string to a number."""
    return pred + 1 == gold  # type: ignore[operator]


@pytest.fixture
def buggy_rules(monkeypatch: pytest.MonkeyPatch) -> tuple[str, ...]:
    monkeypatch.setitem(RULES, "divides_by_zero", Rule("divides_by_zero", ADDS, _divides_by_zero))
    monkeypatch.setitem(RULES, "wrong_type", Rule("wrong_type", ADDS, _wrong_type))
    return ("divides_by_zero", "wrong_type")


@pytest.mark.parametrize(
    ("rule", "error"), [("divides_by_zero", ZeroDivisionError), ("wrong_type", TypeError)]
)
def test_a_rule_that_raises_surfaces_named(buggy_rules: tuple, rule: str, error: type) -> None:
    with pytest.raises(RuleError, match=rule) as raised:
        lenient_equal("3", "4", strict, (rule,))
    assert raised.value.rule == rule
    assert isinstance(raised.value.__cause__, error)


def test_a_rule_that_raises_on_a_part_is_named_once(buggy_rules: tuple) -> None:
    # list_items compares items with the whole lenient comparison, where the bug fires
    with pytest.raises(RuleError, match="'divides_by_zero' failed: ZeroDivisionError"):
        lenient_equal("1.414, 3", "2, \\sqrt{2}", strict, ("list_items", "divides_by_zero"))


def test_a_rule_that_raises_is_an_error_verdict_naming_it(buggy_rules: tuple) -> None:
    equal, reason, error, rule = grade_in_worker(
        "math-verify", "3", "4", "lenient", ("divides_by_zero",)
    )
    assert (equal, reason, rule) == (False, ERROR, "divides_by_zero")
    assert error is not None and "ZeroDivisionError" in error


def test_a_rule_that_is_not_reached_changes_nothing(buggy_rules: tuple) -> None:
    # equal pairs only meet rules that take an equality away: the buggy ADDS rule never runs
    assert grade_in_worker("math-verify", "0.5", "1/2", "lenient", buggy_rules) == (
        True,
        EQUAL,
        None,
        None,
    )


def test_a_grader_that_raises_is_an_error_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    from mathverify.grading import graders

    def broken(pred: str, gold: str) -> tuple[bool, str]:
        raise KeyError("bug")

    monkeypatch.setitem(graders.GRADERS, "math-verify", broken)
    equal, reason, error, rule = grade_in_worker("math-verify", "3", "3")
    assert (equal, reason, rule) == (False, ERROR, None)
    assert error == "KeyError: 'bug'"


def test_working_rules_give_their_verdicts() -> None:
    assert grade_in_worker("math-verify", "17</s>", "17", "lenient", ("end_tokens",)) == (
        True,
        EQUAL,
        None,
        "end_tokens",
    )
    assert grade_in_worker("math-verify", "18</s>", "17", "lenient", ("end_tokens",)) == (
        False,
        NOT_EQUAL,
        None,
        None,
    )


# -- the sympy grader's parser -------------------------------------------------------------


@pytest.mark.parametrize("text", ["\\frac{1}{", "\\begin{pmatrix}1&2\\\\3\\end{pmatrix}", "@@"])
def test_text_the_parser_cannot_read_has_no_value(text: str) -> None:
    assert latex_to_sympy(text) is None
    assert answers_equal(text, "1") is False


@pytest.mark.parametrize("error", [ZeroDivisionError, KeyError, AttributeError])
def test_a_bug_under_the_parser_surfaces(monkeypatch: pytest.MonkeyPatch, error: type) -> None:
    import latex2sympy2_extended

    def broken(text: str):
        raise error("bug")

    monkeypatch.setattr(latex2sympy2_extended, "latex2sympy", broken)
    with pytest.raises(error):
        latex_to_sympy("x+1")
