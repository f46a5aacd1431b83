"""Tables for finding steps and final answers in solution text (mathverify.steps)."""

from __future__ import annotations

import pytest

from mathverify.steps import (
    extract_answer,
    extract_answer_is,
    extract_boxed,
    extract_gsm8k,
    join_steps,
    split_steps,
)

BOXED_CASES = [
    # (text, expected content of the last box)
    ("\\boxed{5}", "5"),
    ("So $x = \\boxed{42}$.", "42"),
    ("\\boxed{ 7 }", "7"),
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ("\\boxed{\\sqrt{\\frac{a}{b^{2}}}}", "\\sqrt{\\frac{a}{b^{2}}}"),
    ("\\fbox{9}", "9"),
    ("\\boxed 5", "5"),
    ("so the answer is $\\boxed 5$.", "5"),
    ("\\boxed 5.", "5"),
    ("\\boxed {12}", "12"),
    ("\\boxed\n{12}", "12"),
    ("First \\boxed{1}, then \\boxed{2}.", "2"),
    ("\\fbox{1} and later \\boxed{2}", "2"),
    ("\\boxed{1} and later \\fbox{2}", "2"),
    ("\\boxed{\\frac{1}{2}", None),  # unbalanced: no truncated answer
    ("\\boxed{1} and \\boxed{\\frac{3}{4}", None),  # the last box is the one that counts
    ("\\boxed{}", ""),
    ("\\boxed{\\text{(C)}}", "\\text{(C)}"),
    ("\\boxed{\\textbf{(B) }12}", "\\textbf{(B) }12"),
    ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
    ("\\boxed{\\$18.90}", "\\$18.90"),
    (
        "\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}",
        "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
    ),
    ("\\boxed{x \\\\}", "x \\\\"),  # an escaped backslash does not escape the closing brace
    ("\\boxed{\n3\n}", "3"),
    ("\\boxedfoo{3}", None),  # another command, not a box
    ("no box here", None),
    ("", None),
    ("truncated at \\boxed", None),
    ("\\boxed{2} then \\boxedfoo{3}", "2"),
]


@pytest.mark.parametrize(("text", "expected"), BOXED_CASES)
def test_extract_boxed(text: str, expected: str | None) -> None:
    assert extract_boxed(text) == expected


ANSWER_CASES = [
    # (solution text, the answer the solution commits to)
    ("Thus $x=\\boxed{5}$.", "5"),
    ("The answer is $\\frac{1}{2}$.", "\\frac{1}{2}"),
    ("The answer is: 13520", "13520"),
    ("So the final answer is 42.", "42"),
    ("The answer is 3.5.", "3.5"),
    ("The answer is 5. Then we double check.", "5"),
    ("Final Answer: The final answer is $7$. I hope it is correct.", "7"),
    ("The answer is $5$ dollars.", "5"),
    ("THE ANSWER IS 8", "8"),
    ("The answer is \\boxed{9}.", "9"),
    ("The answer isn't obvious, so we compute more.", None),
    ("Janet makes 9 * 2 = $18.\n#### 18", "18"),
    ("Total: 1,234 apples\n#### 1,234", "1234"),
    ("#### 72\n", "72"),
    ("####", None),
    ("#### \nmore text", None),
    ("We compute 3 + 4 = 7.", None),
    ("", None),
    (None, None),
    ("\\boxed{}", None),  # an empty box is no answer
    ("\\boxed{}\nThe answer is 4.", "4"),
    ("First \\boxed{1}.\n\nOn second thought \\boxed{2}.", "2"),
    ("The answer is 3.\n\nActually, the answer is 4.", "4"),
    ("\\boxed{\\text{(C)}}", "\\text{(C)}"),
    ("Line one\nline two\n\nSo we get $\\boxed{\\dfrac{9}{7}}$.\n", "\\dfrac{9}{7}"),
    ("The answer is 12 (in dollars)\nDone", "12 (in dollars)"),
]


@pytest.mark.parametrize(("text", "expected"), ANSWER_CASES)
def test_extract_answer(text: str | None, expected: str | None) -> None:
    assert extract_answer(text) == expected


def test_box_takes_precedence_over_answer_is() -> None:
    # A solution that states one value and boxes another commits to the box.
    assert extract_answer("The answer is 3.\n\n\\boxed{4}") == "4"


def test_gsm8k_and_answer_is_helpers_directly() -> None:
    assert extract_gsm8k("#### 1,000,000") == "1000000"
    assert extract_gsm8k("no marker") is None
    assert extract_answer_is("the answer is $\\pi$") == "\\pi"
    assert extract_answer_is("nothing stated") is None


SPLIT_CASES = [
    # (text, separator, steps)
    ("a\n\nb", "\n\n", ["a", "b"]),
    ("a\n\n\n\nb", "\n\n", ["a", "b"]),
    ("  a  \n\n  ", "\n\n", ["a"]),
    ("\n\na\n\nb\n\n", "\n\n", ["a", "b"]),
    ("", "\n\n", []),
    ("   ", "\n\n", []),
    ("a\nb", "\n\n", ["a\nb"]),
    ("one ки two ки", "ки", ["one", "two"]),
    ("x=1\ny=2", "\n", ["x=1", "y=2"]),
    ("Step 1 ## Step 2 ##", " ## ", ["Step 1", "Step 2 ##"]),
]


@pytest.mark.parametrize(("text", "separator", "expected"), SPLIT_CASES)
def test_split_steps(text: str, separator: str, expected: list[str]) -> None:
    assert split_steps(text, separator) == expected


def test_split_steps_default_separator_is_blank_line() -> None:
    assert split_steps("first\n\nsecond") == ["first", "second"]


def test_split_steps_rejects_empty_separator() -> None:
    with pytest.raises(ValueError, match="separator"):
        split_steps("a", "")


@pytest.mark.parametrize("steps", [["a"], ["a", "b c"], ["x = 1\ny = 2", "\\boxed{3}"]])
def test_join_then_split_round_trips(steps: list[str]) -> None:
    assert split_steps(join_steps(steps)) == steps
