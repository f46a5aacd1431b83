"""Lenient grading: named rules for the answer conventions other evaluators accept and Math-Verify does not.

``--grading lenient`` runs the strict grader (Math-Verify by default) first and then the
rules of the registry :data:`RULES`, each a pure function of the two answer strings and of
the grader's reader: a rule that reads a value parses it with the grader's own parser
(:mod:`mathverify.grading.readers`; under ``--graders sympy`` Math-Verify is not called). Most
rules can only add an equality (``10 weeks`` = ``10``); a few can only take one away,
where the strict grader reads more (or less) into an answer than its writer meant
(``10cm`` is ``10*c*m``, not 10 with a unit; ``2,2`` is two answers, not the set {2}).
Each rule is named, documented in its docstring with its source, and can be switched off
on its own (``--no-rule NAME``); the rule that decided a verdict is recorded in it
(``Verdict.rule``) and in the ``--audit`` file. The rules on spellings are in
:mod:`mathverify.grading.notation_rules`, those on values, lists and equations in
:mod:`mathverify.grading.value_rules`, their helpers in :mod:`mathverify.grading.rule_tools`;
the MATH-specific ones are here.

Sources of the conventions: MARIO_EVAL (``math_evaluation/core``; tests in
``math_evaluation/tests/test_is_equiv.py``), the MATH release's ``is_equiv``
(hendrycks/math), Qwen2.5-Math's ``evaluation/grader.py``, Math-Verify's tests (see
``tests/equivalence_suites.py``), and PRM800K's grader, the Minerva normaliser
(lm-evaluation-harness), OlympiadBench's judger, MathArena's parser and NeMo-Skills'
tests; ``docs/grading.md`` lists each rule with its source and its table of cases.

A rule's exception is a bug, not "does not apply" (issue #34): it is raised as a
:class:`~mathverify.grading.rule_tools.RuleError` naming the rule, which the pool turns
into an ``error`` verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mathverify.errors import MathverifyError
from mathverify.grading.notation_rules import (
    choice_letter,
    choice_mismatch,
    empty_set,
    end_tokens,
    infinity_word,
    number_words,
    ordinal_suffix,
    prime_mark,
    scale_words,
    sci_notation,
    subscript_font,
    trailing_punctuation,
    unicode_math,
    yes_no,
)
from mathverify.grading.readers import MATH_VERIFY_READER, Reader
from mathverify.grading.rule_tools import (
    DECIMAL_LITERAL,
    NUMBER,
    Compare,
    Equal,
    RuleError,
    RuleFn,
    as_column,
    complex_value,
    matrix_cells,
    plain_number,
    split_top,
    strip_math,
    too_big,
    unwrap_text_words,
    variable_letters,
)
from mathverify.grading.value_rules import (
    approx_value,
    comma_vector,
    float_tolerance,
    inequality_interval,
    label_mismatch,
    labelled_equation,
    list_multiplicity,
    plus_minus,
    repeating_decimal,
)

__all__ = [
    "ADDS",
    "REMOVES",
    "RULES",
    "RULE_NAMES",
    "Rule",
    "apply_rules",
    "lenient_equal",
    "parse_rules",
]

ADDS = "adds"  # may turn "not equal" into "equal"
REMOVES = "removes"  # may turn "equal" into "not equal"

# Tolerance for a rounded decimal against an exact value, MARIO_EVAL's
# (math_evaluation/core/constants.py EPSILON = 1e-3, used in latex_parser._diff_equal):
# absolute 5e-3 when |exact| >= 1, relative 1e-3 below 1. MARIO allows 1e-3 against an
# integer; we allow nothing (3.14 != 3, 0.001 != 0). For comparison, Qwen2.5-Math and ToRA
# use math.isclose(rel_tol=1e-4) (evaluation/grader.py numeric_equal) and Math-Verify
# rounds to 6 digits (verify(float_rounding=6)).
DECIMAL_ABS_TOL = 5e-3
DECIMAL_REL_TOL = 1e-3
# Identities are checked numerically at fixed points (with free symbols) to this tolerance.
IDENTITY_REL_TOL = 1e-9
_PROBE_POINTS = (
    0.5772156649,
    1.3247179572,
    2.2360679775,
    0.3678794412,
    -0.6180339887,
    -1.4142135624,
)
_MAX_DEPTH = 3
_MAX_RULE_CHARS = 2_000  # longer answers are left to the strict grader


@dataclass(frozen=True)
class Rule:
    """A named lenient rule: ``kind`` says whether it adds or removes equalities."""

    name: str
    kind: str
    fn: RuleFn

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip().splitlines()[0]


# -- rules that take an equality away ---------------------------------------------------


def ordered_list(pred: str, gold: str, compare: Compare) -> bool | None:
    """A bare list of 3+ numbers, neither side in increasing order, keeps its order: ``10, 4, -2`` != ``4, 10, -2``.

    MATH writes a list of all solutions in increasing order; when either side is written
    so, the list is a set and any order matches (MARIO_EVAL: ``1, 2, 3`` = ``1, 3, 2``,
    ``7, -2, -5`` = ``-5, -2, 7``). When neither is, the order is taken to carry meaning
    (values of a, b, c in turn), as the MATH release's ``is_equiv`` (a string match) does.
    Two-item lists, lists with non-numbers, and ``\\{...\\}`` sets are never ordered.
    """
    pred_s, gold_s = strip_math(pred), strip_math(gold)
    if any(s.startswith(("\\{", "{", "(", "[")) for s in (pred_s, gold_s)):
        return None
    gold_items, pred_items = split_top(gold_s), split_top(pred_s)
    if len(gold_items) < 3 or len(gold_items) != len(pred_items):
        return None
    gold_values = [plain_number(item) for item in gold_items]
    if None in gold_values:
        return None
    pred_values = [plain_number(item) for item in pred_items]
    if any(_ascending(values) for values in (gold_values, pred_values)):
        return None
    return all(compare(p, g) for p, g in zip(pred_items, gold_items, strict=True))


def _ascending(values: list[float | None]) -> bool:
    return None not in values and all(a <= b for a, b in zip(values, values[1:], strict=False))  # type: ignore[operator]


_GLUED = re.compile(r"(" + NUMBER + r")([a-zA-Z]{1,2})")
_ORDINAL_SUFFIXES = {"st", "nd", "rd", "th"}


def glued_letters(pred: str, gold: str, compare: Compare) -> bool | None:
    """A number with one or two letters glued to it is a product, not a unit: ``10cm`` != ``10``, ``10m`` != ``10``.

    MARIO_EVAL: a short unit needs a space (``10 cm`` is 10 with a unit; ``10cm`` may be
    10*c*m); Math-Verify strips both. An ordinal suffix (``5th``, ``2nd``) is not a product.
    """
    pred_s, gold_s = strip_math(pred), strip_math(gold)
    for glued, other in ((pred_s, gold_s), (gold_s, pred_s)):
        match = _GLUED.fullmatch(glued)
        if match and match.group(2) in _ORDINAL_SUFFIXES:
            continue  # 5th is an ordinal (ordinal_suffix), not 5*t*h
        if match and re.fullmatch(NUMBER, other.replace(" ", "")):
            return False
    return None


# -- rules that add an equality ---------------------------------------------------------


def escaped_backslash(pred: str, gold: str, compare: Compare) -> bool | None:
    """Backslashes doubled by a JSON/string escape (``\\\\frac``, ``\\\\begin``) or a trailing ``\\`` or ``\\\\`` left by extraction are undone.

    Only text in which a doubled backslash stands before a command name of two or more
    letters is halved (a matrix row break ``\\\\`` before ``x`` is left alone).
    """

    def fix(text: str) -> str:
        out = text
        if re.search(
            r"\\\\(?:frac|dfrac|tfrac|sqrt|begin|end|pi|sin|cos|tan|cdot|times|left|right|text|infty|le|ge|circ|pm)(?![a-zA-Z])",
            out,
        ):
            out = out.replace("\\\\", "\\")
        out = re.sub(r"(?<!\\)\\{1,2}\s*$", "", out.rstrip())
        return out

    new_pred, new_gold = fix(pred), fix(gold)
    if (new_pred, new_gold) == (pred, gold) or not new_pred.strip() or not new_gold.strip():
        return None
    return compare(new_pred, new_gold)


_UNIT_AFTER_NUMBER = re.compile(
    r"([-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|" + NUMBER + r"|\\frac\{\d+\}\{\d+\}|\d+/\d+)"
    r"(\s+[a-zA-Z]{2,}(?:\s+[a-zA-Z]+)*|[a-zA-Z]{4,}|\s+[a-zA-Z](?=[²³]))"
    r"\s*(?:\^\s*\{?\d\}?|[²³])?"
)
_NOT_UNITS = {
    "sin",
    "cos",
    "tan",
    "cot",
    "sec",
    "csc",
    "log",
    "ln",
    "exp",
    "pi",
    "mod",
    "and",
    "or",
    # scale words multiply (number_words): 5 million is not 5
    "hundred",
    "thousand",
    "million",
    "billion",
    "trillion",
    "dozen",
}


def _without_unit(text: str) -> tuple[str, str] | None:
    """``10 cm^2`` -> ``("10", "cm")``; None if the answer is not a number followed by words."""
    s = strip_math(unwrap_text_words(text)).replace("\\ ", " ").replace("\\,", " ")
    s = re.sub(r"\\?\$", "", s).strip()
    match = _UNIT_AFTER_NUMBER.fullmatch(s)
    if not match:
        return None
    words = match.group(2).strip()
    first = words.split()[0].rstrip(".").lower()
    if first in _NOT_UNITS:
        return None
    unit = re.sub(r"\s+", " ", words.lower()).rstrip("s")
    return match.group(1), unit


def units(pred: str, gold: str, compare: Compare) -> bool | None:
    """A number followed by unit words equals the bare number: ``10 weeks``, ``10weeks``, ``10 cm^2``, ``10\\text{ units}`` = ``10``.

    A spaced unit may be any word of two or more letters (``cm``, ``square units``) or one
    letter with ``²``/``³`` (``10 m²``; ``5 x^2`` stays a product); a glued one needs four
    or more letters (``10weeks``; ``10cm`` is a product). If both
    sides carry a unit, the units must be the same word (``10 cm`` != ``10 m``).
    """
    pred_unit, gold_unit = _without_unit(pred), _without_unit(gold)
    if pred_unit is None and gold_unit is None:
        return None
    if pred_unit is not None and gold_unit is not None and pred_unit[1] != gold_unit[1]:
        return None
    new_pred = pred_unit[0] if pred_unit else pred
    new_gold = gold_unit[0] if gold_unit else gold
    return compare(new_pred, new_gold)


_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(?:(a|p)\.?\s*m\.?)?", re.IGNORECASE)


def _clock_seconds(text: str) -> int | None:
    s = strip_math(unwrap_text_words(text)).replace("\\ ", " ")
    match = _CLOCK.fullmatch(s.strip())
    if not match:
        return None
    hours, minutes = int(match.group(1)), int(match.group(2))
    seconds = int(match.group(3) or 0)
    if minutes > 59 or seconds > 59:
        return None
    half = (match.group(4) or "").lower()
    if half:
        if not 1 <= hours <= 12:
            return None
        hours = hours % 12 + (12 if half == "p" else 0)
    elif hours > 23:
        return None
    return hours * 3600 + minutes * 60 + seconds


def clock_time(pred: str, gold: str, compare: Compare) -> bool | None:
    """Clock times are compared as times of day: ``20:34`` = ``20:34:00`` = ``08:34 P.M.``; ``08:34`` != ``20:34``.

    A time is ``H:MM`` or ``H:MM:SS`` with minutes and seconds of two digits (so ratios
    such as ``3:4`` are not times), with an optional a.m./p.m.
    """
    pred_s, gold_s = _clock_seconds(pred), _clock_seconds(gold)
    if pred_s is None or gold_s is None:
        return None
    return pred_s == gold_s


_SPACED_GROUPS = re.compile(r"[-+]?\d{1,3}(?:(?:\s|\\,|\\ |\\;|~|\\!|\{,\})\d{3})+(?:\.\d+)?")
_DECIMAL_COMMA = re.compile(r"([-+]?\d+),(\d{1,2}|\d{4,})")
_ZERO_COMMA = re.compile(r"([-+]?0),(\d+)")
_POINT_DECIMAL = re.compile(r"[-+]?\d*\.\d+")


def _group_number(text: str, other: str) -> str | None:
    s = strip_math(text)
    if _SPACED_GROUPS.fullmatch(s) and re.search(r"\s|\\|~|\{", s):
        return re.sub(r"\s|\\,|\\ |\\;|~|\\!|\{,\}", "", s)
    # a decimal comma only against a number written with a decimal point
    if _POINT_DECIMAL.fullmatch(strip_math(other).replace(",", "")):
        match = _DECIMAL_COMMA.fullmatch(s) or _ZERO_COMMA.fullmatch(s)
        if match:
            return f"{match.group(1)}.{match.group(2)}"
    return None


def digit_groups(pred: str, gold: str, compare: Compare) -> bool | None:
    """Digit groups separated by spaces (``1 000``, ``1\\,000``) and decimal commas (``1,22`` = ``1.22``) are read as numbers.

    A comma is a decimal comma only when the other side is a number with a decimal point
    and the comma is not followed by exactly three digits (``1,000`` stays one thousand;
    ``1,22`` against ``1, 22`` stays a list).
    """
    new_pred, new_gold = _group_number(pred, gold), _group_number(gold, pred)
    if new_pred is None and new_gold is None:
        return None
    return compare(new_pred or pred, new_gold or gold)


_MIXED = re.compile(
    r"([-+]?)(\d+)\s*(?:\\[dt]?frac\s*\{?(\d+)\}?\s*\{?(\d+)\}?|\s(\d+)\s*/\s*(\d+))"
)


def mixed_number(pred: str, gold: str, compare: Compare) -> bool | None:
    """A whole number followed by a proper fraction is their sum: ``1 1/2`` = ``1\\frac12`` = ``1.5``; ``2\\frac58`` = ``2.625``.

    Only a fraction of whole numbers with numerator below denominator counts (``2\\frac{8}{5}``
    stays a product); the sign applies to the whole: ``-1\\frac12`` = ``-3/2``.
    """

    def rewrite(text: str) -> str | None:
        match = _MIXED.fullmatch(strip_math(text))
        if not match:
            return None
        sign, whole = match.group(1), int(match.group(2))
        numerator = int(match.group(3) or match.group(5))
        denominator = int(match.group(4) or match.group(6))
        if not 0 < numerator < denominator:
            return None
        total = whole * denominator + numerator
        return f"{'-' if sign == '-' else ''}\\frac{{{total}}}{{{denominator}}}"

    new_pred, new_gold = rewrite(pred), rewrite(gold)
    if new_pred is None and new_gold is None:
        return None
    return compare(new_pred or pred, new_gold or gold)


_FUNCTION_LHS = re.compile(
    r"\s*[a-zA-Z](?:_\{?\w+\}?)?\s*\(\s*[a-zA-Z](?:\s*,\s*[a-zA-Z])*\s*\)\s*=(?!=)"
)
_VARIABLE_LHS = re.compile(r"\s*[a-zA-Z]\s*=(?!=)")


def function_name(pred: str, gold: str, compare: Compare) -> bool | None:
    """A function's name on one side is dropped: ``f(x) = 2x+3`` = ``y = 2x+3`` = ``2x+3``.

    Applies when at least one side starts ``f(x) =`` (a letter applied to letters); a
    single-letter left side ``y =`` on the other is dropped with it. Two plain equations
    (``y = 2x`` against ``z = 2x``) are left to the strict grader.
    """
    pred_s, gold_s = strip_math(pred), strip_math(gold)
    pred_f, gold_f = _FUNCTION_LHS.match(pred_s), _FUNCTION_LHS.match(gold_s)
    if not pred_f and not gold_f:
        return None

    def rhs(text: str, function_match: re.Match | None) -> str:
        if function_match:
            return text[function_match.end() :]
        variable = _VARIABLE_LHS.match(text)
        return text[variable.end() :] if variable else text

    new_pred, new_gold = rhs(pred_s, pred_f), rhs(gold_s, gold_f)
    if "=" in new_pred or "=" in new_gold or not new_pred.strip() or not new_gold.strip():
        return None
    return compare(new_pred, new_gold)


def structure(pred: str, gold: str, compare: Compare) -> bool | None:
    """Matrices, column vectors, ``cases`` systems and bracketed lists are compared entry by entry, each entry leniently.

    Any matrix spelling (``pmatrix``, ``bmatrix``, ``matrix``, ``array`` in brackets) is
    the same matrix; a one-column or one-row matrix is the same as a list of its entries
    (``\\begin{matrix}\\frac12\\\\1\\end{matrix}`` = ``[0.5, 1]``), but a row is not a
    column; a ``cases`` system is its equations in order, also written as a comma list
    (``x=1, y=2``). Shapes must agree and entries stay in order.
    """
    pred_c, gold_c = matrix_cells(pred), matrix_cells(gold)
    if pred_c is None or gold_c is None:
        return None
    (pred_kind, pred_rows), (gold_kind, gold_rows) = pred_c, gold_c
    if "cases" in (pred_kind, gold_kind) and {pred_kind, gold_kind} - {"cases", "bare"}:
        return None
    if pred_kind == gold_kind == "list":
        return None  # tuples and intervals: the strict grader's (and their brackets') business
    if pred_kind == gold_kind == "matrix":
        same_shape = len(pred_rows) == len(gold_rows) and all(
            len(p) == len(g) for p, g in zip(pred_rows, gold_rows, strict=True)
        )
        return same_shape and all(
            compare(p, g)
            for prow, grow in zip(pred_rows, gold_rows, strict=True)
            for p, g in zip(prow, grow, strict=True)
        )
    if "bare" in (pred_kind, gold_kind) and {pred_kind, gold_kind} != {"bare", "cases"}:
        return None  # a bare comma list is a set of values; only a system reads as one
    pred_col, gold_col = as_column(pred_kind, pred_rows), as_column(gold_kind, gold_rows)
    if pred_col is None or gold_col is None or len(pred_col) != len(gold_col):
        return False
    return all(_equation_or_value(p, g, compare) for p, g in zip(pred_col, gold_col, strict=True))


def _equation_or_value(pred: str, gold: str, compare: Compare) -> bool:
    pred_sides, gold_sides = split_top(pred, "="), split_top(gold, "=")
    if len(pred_sides) == len(gold_sides) == 2:
        if compare(pred, gold):
            return True
        return compare(pred_sides[0], gold_sides[0]) and compare(pred_sides[1], gold_sides[1])
    return compare(pred, gold)


def list_items(pred: str, gold: str, compare: Compare) -> bool | None:
    """Comma lists are compared item by item, each item leniently, in any order: ``1/3, 1.732, 3.1416`` = ``\\frac13, \\sqrt3, \\pi``.

    Connective words between items are dropped (``7, -2, \\text{ and } -5``). Lists in
    brackets keep their order (tuples, intervals).
    """
    pred_s, gold_s = strip_math(unwrap_text_words(pred)), strip_math(unwrap_text_words(gold))

    def items(text: str) -> list[str] | None:
        text = re.sub(r"(?:,\s*|\s)(?:and|or)\s", ", ", text)
        bracketed = len(text) >= 2 and text[0] in "([" and text[-1] in ")]"
        parts = split_top(text[1:-1] if bracketed else text)
        if len(parts) < 2 or any(not p for p in parts):
            return None
        if bracketed and split_top(text) != [text]:
            return None
        return parts

    pred_items, gold_items = items(pred_s), items(gold_s)
    if pred_items is None or gold_items is None or len(pred_items) != len(gold_items):
        return None
    ordered = pred_s[:1] in "([" or gold_s[:1] in "(["
    if ordered:
        if pred_s[0] + pred_s[-1] != gold_s[0] + gold_s[-1]:
            return None
        return all(compare(p, g) for p, g in zip(pred_items, gold_items, strict=True))
    remaining = list(gold_items)
    for item in pred_items:
        match = next((i for i, g in enumerate(remaining) if compare(item, g)), None)
        if match is None:
            return False
        remaining.pop(match)
    return True


def imaginary_unit(pred: str, gold: str, compare: Compare) -> bool | None:
    """``i`` and ``I`` are the imaginary unit and complex products are multiplied out: ``i(2-i)`` = ``1+2i``; ``2+i`` != ``1+2i``.

    Applies when either side has a letter i or I standing alone (not in a command name).
    """
    import sympy

    pattern = re.compile(r"(?<![a-zA-Z\\])[iI](?![a-zA-Z])")
    if not (pattern.search(pred) or pattern.search(gold)):
        return None

    def value(text: str) -> Any:
        expr = compare.reader.value(pattern.sub("i", text))
        if expr is None or not isinstance(expr, sympy.Expr):
            return None
        names = {s.name: s for s in expr.free_symbols}
        for name in ("i", "I"):
            if name in names:
                expr = expr.subs(names[name], sympy.I)
        return expr

    pred_v, gold_v = value(pred), value(gold)
    if pred_v is None or gold_v is None or too_big(pred_v) or too_big(gold_v):
        return None
    if pred_v.free_symbols or gold_v.free_symbols:
        return _same_function(pred_v, gold_v, _tolerance(pred, gold))
    pred_n, gold_n = complex_value(pred_v), complex_value(gold_v)
    if pred_n is None or gold_n is None:
        return None
    return _close(pred_n, gold_n, _tolerance(pred, gold), exact_gold=False)


def _tolerance(pred: str, gold: str) -> float:
    return DECIMAL_REL_TOL if DECIMAL_LITERAL.search(pred + " " + gold) else IDENTITY_REL_TOL


def _close(pred: complex, gold: complex, rel_tol: float, exact_gold: bool) -> bool:
    if exact_gold:
        return pred == gold
    return abs(pred - gold) <= rel_tol * max(abs(gold), abs(pred))


def rounded_decimal(pred: str, gold: str, compare: Compare) -> bool | None:
    """A rounded decimal equals an exact value within MARIO_EVAL's tolerance: ``1.732`` = ``\\sqrt3``, ``125.663`` = ``40\\pi``.

    The tolerance is 5e-3 absolute for an exact value of size 1 or more, 1e-3 relative
    below (``0.3333`` = ``\\frac13``; ``125.6`` != ``40\\pi``). Exactly one side has a
    decimal point and the other is an exact value (a fraction, radical, ``\\pi``): two
    decimals are compared as written. An integer or zero is never matched by rounding
    (``3.14`` != ``3``, ``0.001`` != ``0``).
    """
    pred_dec, gold_dec = bool(DECIMAL_LITERAL.search(pred)), bool(DECIMAL_LITERAL.search(gold))
    if pred_dec == gold_dec:
        return None
    decimal, exact = (pred, gold) if pred_dec else (gold, pred)
    decimal_v, exact_v = compare.reader.value(decimal), compare.reader.value(exact)
    if decimal_v is None or exact_v is None:
        return None
    import sympy

    if not isinstance(decimal_v, sympy.Expr) or not isinstance(exact_v, sympy.Expr):
        return None
    if decimal_v.free_symbols or exact_v.free_symbols:
        return None
    decimal_n, exact_n = complex_value(decimal_v), complex_value(exact_v)
    if decimal_n is None or exact_n is None:
        return None
    if exact_n.imag == 0 and exact_n.real == int(exact_n.real):
        return decimal_n == exact_n  # an integer is never a rounding
    difference = abs(decimal_n - exact_n)
    if abs(exact_n) >= 1:
        return difference <= DECIMAL_ABS_TOL
    return difference <= DECIMAL_REL_TOL * abs(exact_n)


_DEGREES = re.compile(r"(\d+(?:\.\d+)?)\s*\^\s*\{?\s*\\circ\s*\}?")


def identity(pred: str, gold: str, compare: Compare) -> bool | None:
    """Two expressions in the same variables that agree at several points are equal: ``\\sin(90^\\circ - x)`` = ``\\cos x``, ``\\sec x`` = ``1/\\cos x``.

    Degrees inside an expression with a variable are converted to radians. Agreement is to
    a relative 1e-9 (1e-3 when a decimal is written) at four fixed points; an expression
    undefined at a point is not matched. Values without variables are left to
    ``rounded_decimal`` and the strict grader.
    """
    import sympy

    def value(text: str) -> Any:
        text = _DEGREES.sub(r"(\1\\cdot\\frac{\\pi}{180})", text)
        expr = compare.reader.value(text)
        return expr if isinstance(expr, sympy.Expr) else None

    # variables: letters outside command names and text; both sides need the same ones
    pred_letters, gold_letters = variable_letters(pred), variable_letters(gold)
    if not pred_letters or pred_letters != gold_letters:
        return None
    pred_v, gold_v = value(pred), value(gold)
    if pred_v is None or gold_v is None:
        return None
    if not pred_v.free_symbols or pred_v.free_symbols != gold_v.free_symbols:
        return None
    if too_big(pred_v) or too_big(gold_v):
        return None
    return _same_function(pred_v, gold_v, _tolerance(pred, gold))


def _same_function(pred: Any, gold: Any, rel_tol: float) -> bool | None:
    """Agreement at the probe points where both sides have a value (a real one, unless ``I`` is in them)."""
    import sympy

    symbols = sorted(pred.free_symbols | gold.free_symbols, key=str)
    if pred.free_symbols != gold.free_symbols:
        return False
    complex_allowed = pred.has(sympy.I) or gold.has(sympy.I)
    checked = 0
    for shift in range(len(_PROBE_POINTS)):
        point = {s: _PROBE_POINTS[(shift + i) % len(_PROBE_POINTS)] for i, s in enumerate(symbols)}
        pred_n, gold_n = complex_value(pred.subs(point)), complex_value(gold.subs(point))
        if pred_n is None or gold_n is None:
            continue  # undefined here (a pole, a log of a negative number)
        if not complex_allowed and (abs(pred_n.imag) > 1e-12 or abs(gold_n.imag) > 1e-12):
            continue  # a real expression off its real domain: branches may differ
        if not _close(pred_n, gold_n, rel_tol, exact_gold=False):
            return False
        checked += 1
    return True if checked >= 3 else None


# Order: rules that take an equality away; then cleanups of how an answer is written
# (they compare the cleaned answers with all rules again); then cheap string rules; then
# rules that compare parts or parse. The first rule that changes the verdict decides.
RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule("ordered_list", REMOVES, ordered_list),
        Rule("glued_letters", REMOVES, glued_letters),
        Rule("list_multiplicity", REMOVES, list_multiplicity),
        Rule("scale_words", REMOVES, scale_words),
        Rule("label_mismatch", REMOVES, label_mismatch),
        Rule("choice_mismatch", REMOVES, choice_mismatch),
        Rule("end_tokens", ADDS, end_tokens),
        Rule("unicode_math", ADDS, unicode_math),
        Rule("escaped_backslash", ADDS, escaped_backslash),
        Rule("trailing_punctuation", ADDS, trailing_punctuation),
        Rule("sci_notation", ADDS, sci_notation),
        Rule("number_words", ADDS, number_words),
        Rule("units", ADDS, units),
        Rule("ordinal_suffix", ADDS, ordinal_suffix),
        Rule("clock_time", ADDS, clock_time),
        Rule("digit_groups", ADDS, digit_groups),
        Rule("mixed_number", ADDS, mixed_number),
        Rule("repeating_decimal", ADDS, repeating_decimal),
        Rule("float_tolerance", ADDS, float_tolerance),
        Rule("yes_no", ADDS, yes_no),
        Rule("choice_letter", ADDS, choice_letter),
        Rule("empty_set", ADDS, empty_set),
        Rule("infinity_word", ADDS, infinity_word),
        Rule("subscript_font", ADDS, subscript_font),
        Rule("prime_mark", ADDS, prime_mark),
        Rule("function_name", ADDS, function_name),
        Rule("labelled_equation", ADDS, labelled_equation),
        Rule("approx_value", ADDS, approx_value),
        Rule("structure", ADDS, structure),
        Rule("comma_vector", ADDS, comma_vector),
        Rule("plus_minus", ADDS, plus_minus),
        Rule("list_items", ADDS, list_items),
        Rule("inequality_interval", ADDS, inequality_interval),
        Rule("imaginary_unit", ADDS, imaginary_unit),
        Rule("rounded_decimal", ADDS, rounded_decimal),
        Rule("identity", ADDS, identity),
    )
}
RULE_NAMES = tuple(RULES)


def parse_rules(disabled: str | None = None) -> tuple[str, ...]:
    """The enabled rule names: all of them but the comma-separated ``disabled`` ones.

    Raises MathverifyError on an unknown name.
    """
    names = [part.strip() for part in (disabled or "").split(",") if part.strip()]
    for name in names:
        if name not in RULES:
            raise MathverifyError(
                f"--no-rule: unknown rule {name!r}; choose from {', '.join(RULE_NAMES)}"
            )
    return tuple(name for name in RULE_NAMES if name not in names)


def lenient_equal(
    pred: str,
    gold: str,
    base: Equal,
    rules: tuple[str, ...] = RULE_NAMES,
    depth: int = 0,
    reader: Reader = MATH_VERIFY_READER,
) -> tuple[bool, str | None]:
    """``(equal, rule)``: the strict ``base`` verdict, changed by the first enabled rule that decides.

    ``rule`` names the rule that changed the verdict; None when the strict verdict stands.
    ``reader`` is how the rules read values: the reader of the grader behind ``base``
    (:data:`mathverify.grading.graders.READERS`); Math-Verify's, the default grader's, when
    not given.
    """
    equal = base(pred, gold) if depth == 0 else _safe_base(base, pred, gold)
    return apply_rules(pred, gold, equal, base, rules, depth, reader=reader)


@dataclass(frozen=True)
class _LenientCompare:
    """The ``compare`` a rule is handed: parts of an answer compared leniently, one level deeper.

    It carries the grader's ``reader`` (:class:`~mathverify.grading.rule_tools.Compare`).
    """

    base: Equal
    rules: tuple[str, ...]
    depth: int
    reader: Reader

    def __call__(self, pred: str, gold: str) -> bool:
        if self.depth >= _MAX_DEPTH:
            return _safe_base(self.base, pred, gold)
        return lenient_equal(pred, gold, self.base, self.rules, self.depth + 1, self.reader)[0]


def apply_rules(
    pred: str,
    gold: str,
    equal: bool,
    base: Equal,
    rules: tuple[str, ...] = RULE_NAMES,
    depth: int = 0,
    *,
    reader: Reader,
) -> tuple[bool, str | None]:
    """Given the strict verdict ``equal``, the lenient one and the rule that changed it (or None).

    ``reader`` is the grader's reading of values (:mod:`mathverify.grading.readers`): the
    rules parse with it and with nothing else.
    """
    if len(pred) + len(gold) > _MAX_RULE_CHARS:
        return equal, None
    compare = _LenientCompare(base, rules, depth, reader)
    wanted = REMOVES if equal else ADDS
    for name in rules:
        rule = RULES[name]
        if rule.kind != wanted:
            continue
        decided = _run_rule(rule, pred, gold, compare)
        if decided is not None and decided != equal:
            return decided, name
    return equal, None


def _run_rule(rule: Rule, pred: str, gold: str, compare: Compare) -> bool | None:
    """``rule.fn(pred, gold, compare)``; an exception from it is a bug and is raised as a :class:`RuleError`.

    Rules turn a parser's "cannot read this" into "does not apply" themselves, where they
    parse (the grader's reader, :mod:`mathverify.grading.readers`), so nothing else is
    caught here (issue #34). A timeout (a ``BaseException``) passes through untouched.
    """
    try:
        return rule.fn(pred, gold, compare)
    except RuleError:
        raise  # a rule applied to a part of the answer failed: it is already named
    except Exception as exc:
        raise RuleError(rule.name, exc) from exc


def _safe_base(base: Equal, pred: str, gold: str) -> bool:
    """The strict grader on a part of an answer; an empty part equals nothing."""
    if not pred.strip() or not gold.strip():
        return False
    return base(pred, gold)
