"""Lenient grading: each rule's table of true and false cases, switching rules off, the pool and CLI plumbing.

The rule tables run the rules in this process with Math-Verify as the strict grader (the
pool's timeouts are tested separately, at the end). Each row is ``(pred, gold, equal,
rule)``: the lenient verdict, and the rule that decided it (None: the strict verdict stands).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.errors import MathverifyError
from mathverify.grading import (
    EQUAL,
    ERROR,
    NOT_EQUAL,
    RULE_NAMES,
    RULES,
    TIMEOUT,
    GradingPool,
    grade,
    parse_rules,
)
from mathverify.grading.graders import math_verify_grader, run_grader
from mathverify.grading.lenient import ADDS, REMOVES, lenient_equal
from mathverify.records import Problem, Solution, read_all, write_records

TIMEOUT_S = 2.0
runner = CliRunner()


def strict(pred: str, gold: str) -> bool:
    return math_verify_grader(pred, gold)[0]


RULE_CASES: dict[str, list[tuple[str, str, bool, str | None]]] = {
    "ordered_list": [
        ("4, 10, -2", "10, 4, -2", False, "ordered_list"),
        ("3, 1, 2", "2, 3, 1", False, "ordered_list"),
        ("0.5, 4, 2", "4, 0.5, 2", False, "ordered_list"),
        ("1, 3, 2", "1, 2, 3", True, None),  # the gold is in increasing order: a set
        ("-5, -2, 7", "7, -2, -5", True, None),  # the prediction is: a set
        ("-2, 1", "1, -2", True, None),  # two items: never ordered
        ("\\{3, 1, 2\\}", "\\{2, 3, 1\\}", True, None),  # braces: a set
        ("10, 4, -2", "10, 4, -2", True, None),
    ],
    "glued_letters": [
        ("10cm", "10", False, "glued_letters"),
        ("10", "10m", False, "glued_letters"),
        ("2.5km", "2.5", False, "glued_letters"),
        ("10 cm", "10", True, None),
        ("10", "10", True, None),
    ],
    "escaped_backslash": [
        (
            "\\\\begin{pmatrix}1\\\\\\\\2\\\\end{pmatrix}",
            "\\begin{pmatrix}1\\\\2\\end{pmatrix}",
            True,
            "escaped_backslash",
        ),
        ("x+1\\", "1+x", True, "escaped_backslash"),
        ("\\sqrt{3}\\", "\\sqrt3", True, "escaped_backslash"),
        ("(1,2)\\", "(1,2)", True, "escaped_backslash"),
        ("x+1\\\\", "1+x", True, "escaped_backslash"),
        ("\\\\frac{1}{2}", "0.5", True, None),  # Math-Verify reads this one already
        ("\\\\frac{1}{3}", "0.5", False, None),
        ("12\\", "13", False, None),
    ],
    "units": [
        ("10 weeks", "10", True, "units"),
        ("10", "10weeks", True, "units"),
        ("10 cm^2", "10", True, "units"),
        ("10 m²", "10", True, "units"),
        ("10 square units", "10", True, None),  # Math-Verify strips these already
        ("3.5 hours", "\\frac{7}{2}", True, None),
        ("100 weeks", "10", False, None),
        ("10", "10^2", False, None),
        ("10 weeks", "100", False, None),
        ("5 x", "5", False, None),  # a single letter is a variable, not a unit
        ("10 \\sin x", "10", False, None),
        ("7 apples", "6", False, None),
    ],
    "clock_time": [
        ("20:34:00", "20:34", True, "clock_time"),
        ("08:34 \\text{P.M.}", "20:34", True, "clock_time"),
        ("8:34 pm", "20:34", True, "clock_time"),
        ("12:00 a.m.", "00:00", True, "clock_time"),
        ("08:34", "20:34", False, None),
        ("20:43", "20:34", False, None),
        ("12:00 a.m.", "12:00", False, None),
        ("20:34", "8:34", False, None),
    ],
    "rounded_decimal": [
        ("1.732", "\\sqrt3", True, "rounded_decimal"),
        ("125.663", "40\\pi", True, "rounded_decimal"),
        ("2.3148 \\times 10^{-3}", "\\frac{1}{432}", True, "rounded_decimal"),
        ("0.3333", "\\frac13", True, "rounded_decimal"),
        ("\\frac{\\sqrt2}{2}", "0.7071", True, "rounded_decimal"),
        ("3.14", "3", False, None),
        ("0.001", "0", False, None),
        ("2.99", "3", False, None),  # an integer is never a rounding
        ("1.7", "\\sqrt3", False, None),
        ("125.6", "40\\pi", False, None),
        ("0.33", "\\frac13", False, None),
        ("1.51", "1.5", False, None),  # two decimals: compared as written
    ],
    "mixed_number": [
        ("1.5", "1 1/2", True, "mixed_number"),
        ("\\frac{11}{4}", "2 3/4", True, "mixed_number"),
        ("-1 1/2", "-1.5", True, "mixed_number"),
        ("2.625", "2\\frac58", True, None),  # Math-Verify reads \\frac after a number so
        ("\\frac12", "1 1/2", False, None),
        ("2", "1 1/2", False, None),
        ("2 3/4", "2.5", False, None),
        ("2 8/5", "3.6", False, None),  # not a proper fraction: a product
    ],
    "digit_groups": [
        ("1 000", "1000", True, "digit_groups"),
        ("1\\,000\\,000", "1000000", True, "digit_groups"),
        ("1000,99", "1000.99", True, "digit_groups"),
        ("0,5", "0.5", True, "digit_groups"),
        ("1.22", "1,22", True, "digit_groups"),
        ("10\\ 000", "10000", True, "digit_groups"),
        ("1 000", "100", False, None),
        ("1,000", "1.000", False, None),  # a comma before three digits groups thousands
        ("12 34", "1234", False, None),
        ("1,5", "15", False, None),
        ("0,5", "5", False, None),
    ],
    "function_name": [
        ("y = 2x + 3", "f(x) = 2x + 3", True, "function_name"),
        ("h(x)=\\frac{1}{x}", "y=\\frac1x", True, "function_name"),
        ("f(x) = 2x + 3", "2x+3", True, None),  # Math-Verify takes the last side already
        ("f(x) = 2x + 3", "y = 2x + 4", False, None),
        ("f(x) = 2x + 3", "2x - 3", False, None),
        ("y = 2x", "z = 2x", False, None),
    ],
    "structure": [
        ("[0.5, 1]", "\\begin{matrix} \\frac12 \\\\ 1 \\end{matrix}", True, "structure"),
        ("(1, 2, 3)", "\\begin{pmatrix}1\\\\2\\\\3\\end{pmatrix}", True, "structure"),
        (
            "\\begin{cases} a+b=0.5\\\\ a-b=1.732\\end{cases}",
            "\\begin{cases} a+b=\\frac12 \\\\ a-b=\\sqrt3 \\end{cases}",
            True,
            "structure",
        ),
        ("x=1, y=2", "\\begin{cases}x=1\\\\y=2\\end{cases}", True, "structure"),
        ("[1, 2]", "\\begin{pmatrix}2\\\\1\\end{pmatrix}", False, None),
        ("x=1, y=3", "\\begin{cases}x=1\\\\y=2\\end{cases}", False, None),
        ("\\begin{pmatrix}1&2\\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", False, None),
        ("(1, 2, 3, 4)", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", False, None),
        (
            "\\begin{cases} a+b=1\\\\ a-b=2\\end{cases}",
            "\\begin{cases} a+b=1 \\\\ a-b=3 \\end{cases}",
            False,
            None,
        ),
    ],
    "list_items": [
        ("1/3, 1.732, 3.1416", "\\frac13, \\sqrt3, \\pi", True, "list_items"),
        ("1.414, 2", "2, \\sqrt{2}", True, "list_items"),
        ("-5,-2,7", "7, -2, \\text{ and } -5", True, None),
        ("1, 2", "1, 2, 3", False, None),
        ("1.732, 2", "\\sqrt3, 3", False, None),
    ],
    "imaginary_unit": [
        ("i(2-i)", "1+2i", True, "imaginary_unit"),
        ("(1+i)^2", "2i", True, "imaginary_unit"),
        ("1+2I", "1+2i", True, "imaginary_unit"),
        ("2+i", "1+2i", False, None),
        ("i^2", "1", False, None),
        ("3i", "3", False, None),
    ],
    "identity": [
        ("\\cos(x)", "\\sin(90^{\\circ}-x)", True, "identity"),
        (
            "$\\frac{v_0 \\cdot \\left(\\frac{r_0}{r + r_0}\\right)^{0.5}}{(r + r_0)}$",
            "$\\frac{v_{0}}{r_{0}} \\frac{1}{\\left(1+r / r_{0}\\right)^{3 / 2}}$",
            True,
            "identity",
        ),
        ("x + 1.414I", "x + \\sqrt2I", True, "identity"),
        ("\\cos\\theta", "\\sin(90^\\circ-\\theta)", True, "identity"),
        ("\\sin x", "\\cos x", False, None),
        ("\\sin\\theta", "\\cos\\theta", False, None),
        ("|x|", "x", False, None),
        ("\\sin(2x)", "2\\sin x", False, None),
        ("x + 1.4I", "x + \\sqrt2I", False, None),
    ],
    "list_multiplicity": [
        ("2", "2,2", False, "list_multiplicity"),  # Math-Verify reads 2,2 as the set {2}
        ("2, 2", "2", False, "list_multiplicity"),
        ("1,2", "1,2,2", False, "list_multiplicity"),
        ("1,1,2", "1,2,2", False, "list_multiplicity"),
        ("1,2,2", "2,1,2", True, None),
        ("\\pm 2", "2, -2", True, None),
        ("1,000", "1000", True, None),  # digit groups, not a list
        ("\\$1,000", "1000", True, None),
        ("1,2", "2,1", True, None),
        ("\\{2\\}", "\\{2,2\\}", True, None),  # braces: a set
    ],
    "scale_words": [
        ("10\\text{ thousand}", "10", False, "scale_words"),
        ("10", "10\\text{ million}", False, "scale_words"),
        ("5 million", "5", False, None),
        ("10 \\text{thousand}", "10\\text{ thousand}", True, None),
        ("5 hundred", "5", False, None),
    ],
    "label_mismatch": [
        ("E_k = 5", "E_p = 5", False, "label_mismatch"),  # Math-Verify reads E as e
        ("I_1 = 2", "I_2 = 2", False, "label_mismatch"),
        ("E_{\\text{p}} = 2", "E_k = 2", False, "label_mismatch"),
        ("E_{\\mathrm{k}}=5", "E_k=5", True, None),
        ("v_{0}=\\sqrt{2 g h}", "v_0 = \\sqrt{2gh}", True, None),
        ("x = 5", "x=5", True, None),
        ("y=5", "x=5", False, None),  # Math-Verify tells these apart already
    ],
    "choice_mismatch": [
        ("A. 5", "B. 5", False, "choice_mismatch"),  # Math-Verify grades the 5s
        ("A) 12", "C) 12", False, "choice_mismatch"),
        ("B. 5", "B. 5", True, None),
        ("C", "C. 7", True, "choice_letter"),
        ("(A) 5", "(A) 6", True, "choice_letter"),  # the letter is the answer
    ],
    "end_tokens": [
        ("17</s>", "17", True, "end_tokens"),
        ("17<|im_end|>", "17", True, "end_tokens"),
        ("17<｜end▁of▁sentence｜>", "17", True, "end_tokens"),
        ("17<eos>", "17", True, "end_tokens"),
        ("17", "17 <|eot_id|>", True, "end_tokens"),
        ("18</s>", "17", False, None),
        ("17</s>", "1", False, None),
        ("<|im_end|>", "17", False, None),  # nothing left
        ("17<br>", "17", False, None),  # not a special token
    ],
    "unicode_math": [
        ("2√3", "2\\sqrt3", True, "unicode_math"),
        ("x²", "x^2", True, "unicode_math"),
        ("½", "\\frac12", True, "unicode_math"),
        ("30°", "30", True, "unicode_math"),
        ("1，2", "1,2", True, "unicode_math"),
        ("3×10⁴", "30000", True, "unicode_math"),
        ("−5", "-5", True, None),  # Math-Verify reads this one already
        ("−5", "5", False, None),
        ("2√3", "3\\sqrt2", False, None),
        ("x³", "x^2", False, None),
        ("¼", "0.5", False, None),
    ],
    "trailing_punctuation": [
        ("5.", "5", True, "trailing_punctuation"),
        ("\\text{Monday}.", "Monday", True, "trailing_punctuation"),
        ("\\boxed{5.}", "5", True, "trailing_punctuation"),
        ("No.", "\\text{False}", True, "trailing_punctuation"),
        ("5.", "6", False, None),
        ("1, 2, ...", "1, 2", False, None),  # an ellipsis stays
        ("3!", "6", True, None),  # a factorial, read by Math-Verify
    ],
    "sci_notation": [
        ("2.5e-04", "2.5\\times 10^{-4}", True, "sci_notation"),
        ("1e-2", ".01", True, "sci_notation"),
        ("1e3", "1000", True, "sci_notation"),
        ("3.0e+2", "300", True, "sci_notation"),
        ("2.5E-4", "0.00025", True, None),  # Math-Verify reads a capital E already
        ("1e-3", "1e3", False, None),
        ("2e5", "20000", False, None),
        ("2.5e-4", "2.5\\times10^{4}", False, None),
        ("2e", "2", False, None),  # 2 times Euler's e: no exponent
    ],
    "number_words": [
        ("5 million", "5000000", True, "number_words"),
        ("2.5 billion", "2.5\\times10^9", True, "number_words"),
        ("3 thousand", "3000", True, "number_words"),
        ("\\$2 million", "2000000", True, "number_words"),
        ("5 million", "500000", False, None),
        ("2 billion", "2000000", False, None),
    ],
    "ordinal_suffix": [
        ("5^{\\mathrm{th}}", "5", True, "ordinal_suffix"),
        ("5^{th}", "5", True, "ordinal_suffix"),
        ("21^{st}", "21", True, "ordinal_suffix"),
        ("2nd", "2", True, "ordinal_suffix"),
        ("21^{st}", "22", False, None),
        ("5th", "6", False, None),
    ],
    "repeating_decimal": [
        ("0.\\overline{3}", "\\frac13", True, "repeating_decimal"),
        ("0.\\overline{36}", "\\frac{4}{11}", True, "repeating_decimal"),
        ("0.1\\overline{6}", "\\frac16", True, "repeating_decimal"),
        ("-1.\\overline{27}", "-\\frac{14}{11}", True, "repeating_decimal"),
        ("0.\\overline{9}", "1", True, "repeating_decimal"),
        ("0.\\overline{3}", "0.3", False, None),
        ("0.\\overline{3}", "0.33", False, None),
        ("0.\\overline{36}", "\\frac{36}{100}", False, None),
        ("\\overline{AB}", "AB", False, None),  # a segment, not a repeat
    ],
    "float_tolerance": [
        ("7.0000002", "7", True, "float_tolerance"),
        ("1.0001", "1", True, "float_tolerance"),
        ("2.9999", "3", True, "float_tolerance"),
        ("1.5001", "1.5", True, "float_tolerance"),
        ("-7.0000002", "-7", True, "float_tolerance"),
        ("1000.1", "1000", True, "float_tolerance"),
        ("3.14", "3", False, None),
        ("5.001", "5", False, None),
        ("2.001", "2", False, None),
        ("10001", "10000", False, None),  # two integers are never close
        ("0.0001", "0", False, None),
        ("-7.0000002", "7", False, None),
        ("0.00011", "0.0001", False, None),
    ],
    "yes_no": [
        ("no", "false", True, "yes_no"),
        ("yes", "true", True, "yes_no"),
        ("\\text{Yes}", "True", True, "yes_no"),
        ("yes", "no", False, None),
        ("true", "false", False, None),
        ("no", "0", False, None),
        ("yes", "1", False, None),
    ],
    "choice_letter": [
        ("C. x = 42", "C", True, "choice_letter"),
        ("(A) 5", "A", True, "choice_letter"),
        ("\\textbf{(C)}\\ 12", "C", True, "choice_letter"),
        ("B) 7", "(B)", True, "choice_letter"),
        ("D", "C. x = 42", False, None),
        ("(A) 5", "B", False, None),
        ("C", "D", False, None),
    ],
    "empty_set": [
        ("\\varnothing", "\\emptyset", True, "empty_set"),
        ("\\O", "\\varnothing", True, "empty_set"),
        ("\\{\\}", "\\emptyset", True, None),
        ("\\emptyset", "\\{0\\}", False, None),
        ("\\emptyset", "0", False, None),
    ],
    "infinity_word": [
        ("\\text{infinity}", "\\infty", True, "infinity_word"),
        ("(0, \\text{inf})", "(0, \\infty)", True, "infinity_word"),
        ("-infinity", "-\\infty", True, None),
        ("-infinity", "\\infty", False, None),
        ("infinity", "0", False, None),
        ("(0, infinity)", "[0, \\infty)", False, None),
    ],
    "subscript_font": [
        ("m_e", "m_{\\mathrm{e}}", True, "subscript_font"),
        ("v_{\\text{max}}", "v_{max}", True, "subscript_font"),
        ("m_{\\rm p}", "m_p", True, "subscript_font"),
        ("m_p", "m_{\\mathrm{e}}", False, None),
        ("v_{\\text{min}}", "v_{max}", False, None),
    ],
    "prime_mark": [
        ("x^\\prime", "x'", True, "prime_mark"),
        ("f^{\\prime\\prime}", "f''", True, "prime_mark"),
        ("x^{\\prime}", "x^\\prime", True, None),
        ("x^\\prime", "x''", False, None),
        ("f^{\\prime\\prime}", "f'", False, None),
    ],
    "labelled_equation": [
        ("E_k=\\frac12mv^2", "\\frac12mv^2", True, "labelled_equation"),
        ("\\sqrt{2gh}", "v_{0}=\\sqrt{2gh}", True, None),  # Math-Verify takes the last side
        ("v_1=\\sqrt{2gh}", "v_{0}=\\sqrt{2gh}", False, None),  # another label
        ("h=\\sqrt{2gh}", "\\sqrt{gh}", False, None),
        ("\\sqrt{gh}", "v_{0}=\\sqrt{2gh}", False, None),
        ("E=mc^2", "mc", False, None),
    ],
    "approx_value": [
        ("0.577", "\\frac{\\sqrt3}{3} \\approx 0.577", True, "approx_value"),
        ("1.41", "\\sqrt{2}\\approx 1.41", True, "approx_value"),
        ("\\frac{\\sqrt3}{3}", "\\frac{\\sqrt3}{3} \\approx 0.577", True, None),
        ("0.5", "\\frac{\\sqrt3}{3} \\approx 0.577", False, None),
        ("0.58", "\\frac{\\sqrt3}{3} \\approx 0.577", False, None),
    ],
    "comma_vector": [
        ("3,-1", "\\left[\\begin{array}{c}3\\\\-1\\end{array}\\right]", True, "comma_vector"),
        ("1, 2, 3", "\\begin{pmatrix}1\\\\2\\\\3\\end{pmatrix}", True, "comma_vector"),
        ("\\frac12, 1", "\\begin{bmatrix}0.5&1\\end{bmatrix}", True, "comma_vector"),
        ("-1,3", "\\left[\\begin{array}{c}3\\\\-1\\end{array}\\right]", False, None),
        ("1, 2", "\\begin{pmatrix}1\\\\2\\\\3\\end{pmatrix}", False, None),
        ("1,2,3,4", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", False, None),
    ],
    "plus_minus": [
        (
            "\\frac{3+\\sqrt{5}}{2}, \\frac{3-\\sqrt{5}}{2}",
            "\\frac{3\\pm\\sqrt{5}}{2}",
            True,
            "plus_minus",
        ),
        ("2, -2", "x=\\pm 2", True, None),  # Math-Verify reads this one already
        ("\\frac{3+\\sqrt{5}}{2}", "\\frac{3\\pm\\sqrt{5}}{2}", False, None),
        ("\\pm 3", "3,3", False, None),
        ("2, -3", "\\pm 2", False, None),
        (
            "\\frac{3+\\sqrt{5}}{2}, \\frac{3-\\sqrt{5}}{2}",
            "\\frac{3\\pm\\sqrt{7}}{2}",
            False,
            None,
        ),
    ],
    "inequality_interval": [
        ("x>3", "(3,\\infty)", True, "inequality_interval"),
        ("3 < x \\le 5", "(3,5]", True, "inequality_interval"),
        ("x \\le 3", "(-\\infty,3]", True, "inequality_interval"),
        (
            "x<-1 \\text{ or } x>1",
            "(-\\infty,-1)\\cup(1,\\infty)",
            True,
            "inequality_interval",
        ),
        ("x<-1 \\text{ or } x>1", "(-\\infty,-1]\\cup(1,\\infty)", False, None),
        ("x<-1 \\text{ or } x>2", "(-\\infty,-1)\\cup(1,\\infty)", False, None),
        ("x>3", "[3,\\infty)", False, None),
        ("x \\ge 3", "(3,\\infty)", False, None),
        ("x<3", "(-\\infty,4)", False, None),
    ],
}


def _rows() -> list:
    return [
        pytest.param(name, *row, id=f"{name}:{row[0]}|{row[1]}")
        for name, rows in RULE_CASES.items()
        for row in rows
    ]


@pytest.mark.parametrize(("name", "pred", "gold", "equal", "rule"), _rows())
def test_rule_table(name: str, pred: str, gold: str, equal: bool, rule: str | None) -> None:
    assert lenient_equal(pred, gold, strict) == (equal, rule)


def test_every_rule_has_a_table_with_true_and_false_cases() -> None:
    assert set(RULE_CASES) == set(RULE_NAMES)
    for name, rows in RULE_CASES.items():
        decided = {equal for _, _, equal, rule in rows if rule == name}
        other = {equal for _, _, equal, rule in rows if rule is None}
        # the rule's own verdicts, and the opposite one it must leave alone
        expected = {RULES[name].kind == ADDS}
        assert decided == expected, name
        assert (not RULES[name].kind == ADDS) in other, name
        assert RULES[name].doc, name


@pytest.mark.parametrize("name", RULE_NAMES)
def test_a_rule_switched_off_decides_nothing(name: str) -> None:
    others = tuple(n for n in RULE_NAMES if n != name)
    for pred, gold, _, rule in RULE_CASES[name]:
        if rule == name:
            assert lenient_equal(pred, gold, strict, others)[1] != name
            assert lenient_equal(pred, gold, strict, ())[1] is None


def test_strict_mode_is_math_verify_alone() -> None:
    for rows in RULE_CASES.values():
        for pred, gold, _, _ in rows:
            assert run_grader("math-verify", pred, gold) == (*math_verify_grader(pred, gold), None)


def test_list_multiplicity_is_math_verify_s_set_reading_in_strict_mode_only() -> None:
    """Strict mode is Math-Verify's verdict, which reads ``2,2`` as the set {2} (documented
    in docs/grading.md); lenient mode counts each item as often as it is written."""
    assert grade("2", "2,2", timeout=TIMEOUT_S).equal
    lenient_verdict = grade("2", "2,2", timeout=TIMEOUT_S, mode="lenient")
    assert (lenient_verdict.equal, lenient_verdict.rule) == (False, "list_multiplicity")
    assert grade("2, 2", "2,2", timeout=TIMEOUT_S, mode="lenient").equal


def test_every_rule_is_documented_with_its_table() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "grading.md").read_text(encoding="utf-8")
    for name in RULE_NAMES:
        assert f"| `{name}` | {RULES[name].kind} |" in doc, name
        assert f"### `{name}` ({RULES[name].kind})" in doc, name


def test_rule_kinds() -> None:
    assert {r.kind for r in RULES.values()} == {ADDS, REMOVES}
    assert [n for n in RULE_NAMES if RULES[n].kind == REMOVES] == [
        "ordered_list",
        "glued_letters",
        "list_multiplicity",
        "scale_words",
        "label_mismatch",
        "choice_mismatch",
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, RULE_NAMES),
        ("", RULE_NAMES),
        ("units", tuple(n for n in RULE_NAMES if n != "units")),
        (" units , identity ", tuple(n for n in RULE_NAMES if n not in ("units", "identity"))),
    ],
)
def test_parse_rules(spec: str | None, expected: tuple[str, ...]) -> None:
    assert parse_rules(spec) == expected


def test_parse_rules_rejects_unknown() -> None:
    with pytest.raises(MathverifyError, match="--no-rule: unknown rule 'unit'"):
        parse_rules("unit")


@pytest.mark.parametrize(
    "kwargs", [{"mode": "loose"}, {"mode": "lenient", "rules": ("units", "nonsense")}]
)
def test_pool_rejects_bad_modes(kwargs: dict) -> None:
    with pytest.raises(MathverifyError, match="grading pool"):
        GradingPool(**kwargs)


# -- through the worker pool -------------------------------------------------------------

NASTY_PAIRS = [
    pytest.param("\\boxed{9^{9^{9^{9}}}}", "1", id="tower"),
    pytest.param("9^{9^{9^{9}}} weeks", "1", id="tower-with-unit"),
    pytest.param("\\frac{1}{2}+" * 17_000, "1", id="200kB"),
    pytest.param("1.5, " * 40_000, "1", id="200kB-list"),
    pytest.param("\\frac{1}{2", "0.5", id="unbalanced-open"),
    pytest.param("{" * 5_000, "1", id="5000-open-braces"),
    pytest.param("}}}1", "1", id="stray-close"),
    pytest.param("\\begin{pmatrix}1\\\\2", "1", id="unclosed-env"),
    pytest.param("\\begin{cases} x=1 \\\\", "x=1", id="unclosed-cases"),
    pytest.param("\\boxed{", "\\boxed{", id="unclosed-box"),
    pytest.param("\\left(", "(", id="lone-left"),
    pytest.param("\x00\udcff", "1", id="odd-chars"),
    pytest.param("x^{x^{x^{x^{x}}}}", "\\sin(x)", id="identity-tower"),
    pytest.param("1.5", "2^{2^{2^{2^{2^{2}}}}}", id="decimal-vs-tower"),
]


@pytest.fixture(scope="module")
def lenient_pool(tmp_path_factory: pytest.TempPathFactory):
    audit = tmp_path_factory.mktemp("lenient") / "audit.jsonl"
    with GradingPool(workers=2, timeout=TIMEOUT_S, mode="lenient", audit_path=audit) as pool:
        yield pool


@pytest.mark.parametrize(("pred", "gold"), NASTY_PAIRS)
def test_nasty_input_gets_lenient_verdict_in_time(
    lenient_pool: GradingPool, pred: str, gold: str
) -> None:
    start = time.monotonic()
    verdict = lenient_pool.grade(pred, gold)
    assert time.monotonic() - start < TIMEOUT_S + 1.0
    assert verdict.reason in (EQUAL, NOT_EQUAL, TIMEOUT, ERROR, "gold not parsed")
    if "9^{9^{9^{9}}}" in pred:
        assert verdict.reason == TIMEOUT
    assert lenient_pool.grade("10 weeks", "10").equal


def test_pool_verdicts_carry_the_rule_and_go_to_the_audit(lenient_pool: GradingPool) -> None:
    verdicts = lenient_pool.grade_many(
        [("10 weeks", "10"), ("\\frac{1}{2}", "0.5"), ("4, 10, -2", "10, 4, -2"), ("3", "4")]
    )
    assert [(v.equal, v.reason, v.rule) for v in verdicts] == [
        (True, EQUAL, "units"),
        (True, EQUAL, None),
        (False, NOT_EQUAL, "ordered_list"),
        (False, NOT_EQUAL, None),
    ]
    assert lenient_pool.audit_path is not None
    records = [json.loads(line) for line in lenient_pool.audit_path.read_text().splitlines()]
    by_pair = {(r["pred"], r["gold"]): r for r in records}
    assert by_pair[("10 weeks", "10")]["verdicts"][0]["rule"] == "units"
    assert by_pair[("4, 10, -2", "10, 4, -2")]["verdicts"][0]["rule"] == "ordered_list"
    assert ("\\frac{1}{2}", "0.5") not in by_pair and ("3", "4") not in by_pair


def test_pool_with_some_rules_off() -> None:
    rules = parse_rules("units")
    with GradingPool(workers=1, timeout=TIMEOUT_S, mode="lenient", rules=rules) as pool:
        verdicts = pool.grade_many([("10 weeks", "10"), ("20:34:00", "20:34")])
    assert [(v.equal, v.rule) for v in verdicts] == [(False, None), (True, "clock_time")]


def test_grade_function_modes() -> None:
    strict_verdict = grade("10 weeks", "10", timeout=TIMEOUT_S)
    lenient_verdict = grade("10 weeks", "10", timeout=TIMEOUT_S, mode="lenient")
    assert (strict_verdict.equal, strict_verdict.rule) == (False, None)
    assert (lenient_verdict.equal, lenient_verdict.rule) == (True, "units")
    with pytest.raises(MathverifyError, match="--grading"):
        grade("1", "1", mode="loose")


# -- the CLI -----------------------------------------------------------------------------


def _unit_answers(tmp_path: Path) -> tuple[Path, Path]:
    problems = tmp_path / "problems.jsonl"
    solutions = tmp_path / "solutions.jsonl"
    write_records(problems, [Problem(id="p0", problem="How long?", answer="10")])
    write_records(
        solutions,
        [
            Solution(problem_id="p0", sample_id=j, steps=[f"\\boxed{{{a}}}"], answer=a)
            for j, a in enumerate(["10 weeks", "100 weeks", "10"])
        ],
    )
    return problems, solutions


@pytest.mark.parametrize(
    ("options", "outcomes", "rules"),
    [
        ([], [False, False, True], [None, None, None]),
        (["--grading", "strict"], [False, False, True], [None, None, None]),
        (["--grading", "lenient"], [True, False, True], ["units", None, None]),
        (["--grading", "lenient", "--no-rule", "units"], [False, False, True], [None] * 3),
    ],
)
def test_label_outcome_grading_modes(
    tmp_path: Path, options: list[str], outcomes: list[bool], rules: list
) -> None:
    problems, solutions = _unit_answers(tmp_path)
    out = tmp_path / "labeled.jsonl"
    args = ["label", "-m", "outcome", "-p", str(problems), "-i", str(solutions), "-o", str(out)]
    result = runner.invoke(app, args + options)
    assert result.exit_code == 0, result.output
    labeled = read_all(out, Solution)
    assert [s.outcome for s in labeled] == outcomes
    assert [s.meta.get("grade_rule") for s in labeled] == rules


def test_eval_lenient_audit_names_the_rule(tmp_path: Path) -> None:
    problems, solutions = _unit_answers(tmp_path)
    audit = tmp_path / "audit.jsonl"
    result = runner.invoke(
        app,
        ["eval", str(solutions), "-p", str(problems), "--json", "-", "--grading", "lenient"]
        + ["--audit", str(audit)],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["reports"][0]["accuracy"] == pytest.approx(2 / 3)
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(r["pred"], r["verdicts"][0]["rule"]) for r in records] == [("10 weeks", "units")]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--grading", "loose"], "--grading: unknown mode 'loose'"),
        (["--no-rule", "units"], "--no-rule goes with --grading lenient"),
        (["--grading", "lenient", "--no-rule", "unit"], "--no-rule: unknown rule 'unit'"),
    ],
)
def test_bad_grading_options_are_one_line_exit_2(
    tmp_path: Path, options: list[str], message: str
) -> None:
    problems, solutions = _unit_answers(tmp_path)
    args = ["label", "-m", "outcome", "-p", str(problems), "-i", str(solutions)]
    result = runner.invoke(app, args + options)
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize("command", ["label", "eval", "search"])
def test_commands_share_the_grading_options(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0
    assert "--grading" in result.output and "--no-rule" in result.output
