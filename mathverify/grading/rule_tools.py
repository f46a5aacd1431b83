"""Helpers shared by the lenient rules: reading an answer's text, its parts, and its value.

Nothing here decides a verdict; the rules in :mod:`mathverify.grading.lenient`,
:mod:`mathverify.grading.notation_rules` and :mod:`mathverify.grading.value_rules` do.

Errors: the rules read values with the reader of the grader they run under
(:mod:`mathverify.grading.readers`), which turns "cannot read this" into None: Math-Verify's
``parse`` and ``verify`` catch their own errors (``raise_on_error=False``); the sympy
grader's parser errors are narrowed in :func:`mathverify.grading.sympy_grader.latex_to_sympy`. Where a
rule evaluates a sympy object it catches only the errors sympy raises for "no such value"
(:func:`complex_value`, :func:`too_big`). Anything else raised inside a rule is a bug,
and surfaces as a :class:`RuleError` (issue #34).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Protocol

from mathverify.grading.answer_text import split_outside_brackets
from mathverify.grading.magnitude import MAX_LOG10, log10_bound
from mathverify.grading.readers import Reader

__all__ = [
    "DECIMAL_LITERAL",
    "NUMBER",
    "Compare",
    "Equal",
    "RuleError",
    "RuleFn",
    "as_column",
    "complex_value",
    "matrix_cells",
    "plain_number",
    "split_top",
    "strip_math",
    "too_big",
    "unwrap_text_words",
    "variable_letters",
]

# A grader's verdict on two answer strings: the strict comparison the rules start from.
Equal = Callable[[str, str], bool]


class Compare(Protocol):
    """What a rule is handed besides the two answers.

    Called, it is the whole lenient comparison, for parts of an answer; its ``reader`` is
    the grader's reading of values (:mod:`mathverify.grading.readers`), so a rule parses
    with the parser of the grader it runs under, never with one of its own.
    """

    @property
    def reader(self) -> Reader: ...

    def __call__(self, pred: str, gold: str, /) -> bool: ...


# A rule gets (pred, gold, compare) and returns True/False when it decides, None when it
# does not apply.
RuleFn = Callable[[str, str, Compare], "bool | None"]

NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
DECIMAL_LITERAL = re.compile(r"(?<![\d.])\d*\.\d+|\d+\.(?!\d)")
_PLAIN_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)")


class RuleError(RuntimeError):
    """A lenient rule raised something other than a parser's "cannot read this": a bug.

    ``rule`` names the rule. The grading pool turns it into an ``"error"`` verdict that
    carries the rule's name (``Verdict.rule``) and the exception text, so it is counted as
    ungraded and written to the audit file rather than read as "not equal".
    """

    def __init__(self, rule: str, error: BaseException):
        super().__init__(f"lenient rule {rule!r} failed: {type(error).__name__}: {error}")
        self.rule = rule


def strip_math(text: str) -> str:
    """The answer without surrounding ``$``, ``\\boxed{}``, spaces and a final period."""
    text = text.strip()
    for _ in range(3):
        before = text
        if text.startswith("$") and text.endswith("$") and len(text) > 1:
            text = text.strip("$").strip()
        box = re.fullmatch(r"\\(?:boxed|fbox)\{(.*)\}", text, re.DOTALL)
        if box:
            text = box.group(1).strip()
        text = re.sub(r"^\\[\[(]|\\[\])]$", "", text).strip()
        if text == before:
            break
    return text.rstrip(".").strip()


def too_big(expr: Any) -> bool:
    """True if evaluating ``expr`` could produce a number too large to compute quickly."""
    try:
        return log10_bound(expr) > MAX_LOG10 / 100
    except (TypeError, ValueError, RecursionError):  # sympy: no real magnitude to bound
        return True


def complex_value(expr: Any) -> complex | None:
    """The value of a sympy expression as a complex number; None if it has none (or is too big)."""
    import sympy

    if too_big(expr):
        return None
    try:
        value = complex(sympy.N(expr, 30))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, AttributeError):
        return None  # sympy: no numeric value (a free symbol, an unevaluated function)
    if math.isnan(value.real) or math.isnan(value.imag) or math.isinf(abs(value)):
        return None
    return value


def split_top(text: str, separator: str = ",") -> list[str]:
    """Parts of ``text`` split at ``separator`` outside any brackets, each stripped."""
    return [part.strip() for part in split_outside_brackets(text, separator)]


def plain_number(text: str) -> float | None:
    """The value of a number written with digits and at most one point (``-1.5``, ``.5``); else None."""
    text = text.replace(" ", "")
    return float(text) if _PLAIN_NUMBER.fullmatch(text) else None


def unwrap_text_words(text: str) -> str:
    """``\\text{ cm}^2`` -> `` cm^2``: text groups become plain words."""
    return re.sub(r"\\(?:text|textrm|textbf|mathrm|mbox|textnormal)\s*\{([^{}]*)\}", r" \1 ", text)


_GREEK = re.compile(
    r"\\(alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|vartheta|iota|kappa|lambda"
    r"|mu|nu|xi|rho|sigma|tau|upsilon|phi|varphi|chi|psi|omega)(?![a-zA-Z])"
)


def variable_letters(text: str) -> set[str]:
    """Names that can be variables: Latin letters outside commands and text, Greek letters."""
    greek = set(_GREEK.findall(text))
    text = re.sub(r"\\(?:text|mathrm|mbox|operatorname)\s*\{[^{}]*\}|\\[a-zA-Z]+", " ", text)
    return set(re.findall(r"[a-zA-Z]", text)) | greek


_ENVIRONMENT = re.compile(
    r"\\begin\{(pmatrix|bmatrix|Bmatrix|vmatrix|matrix|smallmatrix|array|cases)\}(?:\{[^{}]*\})?(.*)\\end\{\1\}",
    re.DOTALL,
)


def matrix_cells(text: str) -> tuple[str, list[list[str]]] | None:
    """``(kind, rows)`` of a matrix, cases system, or bracketed or bare list; None for anything else.

    ``kind`` is ``"matrix"``, ``"cases"``, ``"list"`` (in brackets) or ``"bare"`` (a comma list).
    """
    s = strip_math(text)
    s = re.sub(r"\\(?:left|right)(?![a-zA-Z])\s*", "", s).strip()
    # a matrix wrapped in brackets of its own: \left[\begin{array}..\end{array}\right]
    if re.fullmatch(r"[\[(]\s*\\begin.*\\end\{\w+\}\s*[\])]", s, re.DOTALL):
        s = s[1:-1].strip()
    env = _ENVIRONMENT.fullmatch(s)
    if env:
        rows = [r for r in env.group(2).split("\\\\") if r.strip()]
        cells = [[c.strip() for c in row.split("&")] for row in rows]
        kind = "cases" if env.group(1) == "cases" else "matrix"
        if kind == "cases":
            cells = [[row[0].rstrip(",;")] for row in cells]  # conditions after & dropped
        return kind, cells
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]":
        items = split_top(s[1:-1])
        if len(items) > 1 and split_top(s) == [s]:
            return "list", [[item] for item in items]
    items = split_top(s)
    if len(items) > 1 and all(items):
        return "bare", [[item] for item in items]
    return None


def as_column(kind: str, cells: list[list[str]]) -> list[str] | None:
    """The entries of a one-column or one-row matrix (or of a list) in order; None for a 2-D matrix."""
    if kind != "matrix":
        return [row[0] for row in cells]
    if all(len(row) == 1 for row in cells):
        return [row[0] for row in cells]
    if len(cells) == 1:
        return list(cells[0])
    return None
