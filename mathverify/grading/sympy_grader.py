"""A second answer grader, independent of Math-Verify's comparison logic: our own normaliser + sympy.

``answers_equal(pred, gold)`` normalises both answers as strings (boxes, ``$``, ``\\left``/
``\\right``, spacing, ``\\dfrac``, degrees, percents, dollars, ``\\text{...}`` units, thousands
separators, ``x = 5`` assignments, multiple-choice letters), then compares structure
(tuples and intervals in order with their brackets, comma lists and ``\\{...\\}`` sets in any
order, ``pmatrix`` entry by entry, ``\\cup`` unions) and finally scalars with sympy:
exact numbers, decimals within a relative 1e-6, expressions by expansion and by evaluation
at fixed points. LaTeX is turned into sympy by ``latex2sympy2_extended.latex2sympy``.

It has no time limit of its own: it runs inside a :class:`~mathverify.grading.GradingPool`
worker, whose parent enforces one. Numbers too large to evaluate (``9^{9^{9^{9}}}``) are
refused up front rather than computed.
"""

from __future__ import annotations

import math
import re
from typing import Any

from mathverify.grading.answer_text import split_outside_brackets
from mathverify.grading.magnitude import MAX_LOG10, log10_bound
from mathverify.steps import extract_boxed

__all__ = ["answers_equal", "latex_to_sympy", "normalize_answer", "read_value", "split_structure"]

# Relative tolerance when either side is a decimal (the writer rounded); exact values
# (fractions, radicals, pi) must agree to near machine precision.
DECIMAL_REL_TOL = 1e-6
EXACT_REL_TOL = 1e-12
# Fixed points at which expressions with free symbols are compared (seed-free determinism).
_PROBE_POINTS = (0.5772156649, 1.6180339887, -0.7071067812)
_MAX_SET_MATCH = 12
# What turning a sympy value into a complex number raises when it has no such value.
_NOT_A_NUMBER = (TypeError, ValueError, ZeroDivisionError, OverflowError)

_TEXT_COMMANDS = ("text", "textbf", "textit", "textrm", "textnormal", "mathrm", "mathbf", "mbox")
_SPACING = re.compile(r"(?<!\\)\\(?:[,;:> ]|quad|qquad)|~")
# TeX reads one token as an argument: \frac12 is \frac{1}{2}, \sqrt2 is \sqrt{2}.
_FRAC_TOKENS = re.compile(r"\\frac\s*([0-9a-zA-Z])\s*([0-9a-zA-Z])")
_FRAC_FIRST_TOKEN = re.compile(r"\\frac\s*([0-9a-zA-Z])\s*\{")
_FRAC_SECOND_TOKEN = re.compile(r"\\frac\s*(\{[^{}]*\})\s*([0-9a-zA-Z])")
_SQRT_TOKEN = re.compile(r"\\sqrt\s*([0-9a-zA-Z])")
_SUBSCRIPT_TOKEN = re.compile(r"_\s*([0-9a-zA-Z])")
_COMMAND_SPACE = re.compile(r"(\\[a-zA-Z]+)\s+(?=[a-zA-Z])")
_STYLE = re.compile(r"\\(?:displaystyle|textstyle|scriptstyle|limits)(?![a-zA-Z])")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\degree(?![a-zA-Z])")
_LEFT_RIGHT = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)(?![a-zA-Z])\s*\.?")
_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_ASSIGNMENT = re.compile(
    r"^\s*(?:[a-zA-Z](?:_\{?\w+\}?)?|\\[a-zA-Z]+)\s*(?:=|\\in(?![a-zA-Z]))(.+)$"
)
_CHOICE = re.compile(r"^\(?([A-Ea-e])\)?$")
_PLAIN_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
_PLAIN_FRACTION = re.compile(r"^([-+]?\d+)\s*/\s*(\d+)$")
_NUMBER_WITH_WORDS = re.compile(r"^([-+]?[\d.,/]+)\s+[a-zA-Z][a-zA-Z\s]*(?:\^\{?\d\}?)?$")
_WORDS = re.compile(r"^[a-zA-Z][a-zA-Z\s'-]{2,}$")
_MATRIX = re.compile(r"^\\begin\{([pbvBV]?matrix)\}(.*)\\end\{\1\}$", re.DOTALL)


def _braced_end(text: str, open_index: int) -> int:
    """Index just past the brace group opening at ``open_index``; -1 if unbalanced."""
    depth = 0
    for i in range(open_index, len(text)):
        if text[i] == "{" and text[i - 1 : i] != "\\":
            depth += 1
        elif text[i] == "}" and text[i - 1 : i] != "\\":
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


def _unwrap_text(text: str) -> str:
    r"""Replace ``\text{...}``-like groups: by their content if they are the whole answer, else drop them.

    ``5\text{ cm}^2`` -> ``5``; ``\text{(C)}`` -> ``(C)``; ``\text{Monday}`` -> ``Monday``.
    """
    pieces: list[tuple[int, int, int, str]] = []  # start, stop (with exponent), group end, content
    pattern = re.compile(r"\\(?:" + "|".join(_TEXT_COMMANDS) + r")\s*\{")
    for match in pattern.finditer(text):
        if pieces and match.start() < pieces[-1][1]:
            continue  # nested inside the previous group
        end = _braced_end(text, match.end() - 1)
        if end == -1:
            return text
        # a unit's exponent goes with it: \text{ cm}^2, \mbox{m}^{3}
        exponent = re.match(r"\s*\^\s*(?:\{[^{}]*\}|\d)", text[end:])
        stop = end + exponent.end() if exponent else end
        pieces.append((match.start(), stop, end, text[match.end() : end - 1]))
    if not pieces:
        return text
    rest = text
    for start, stop, _, _ in reversed(pieces):
        rest = rest[:start] + " " + rest[stop:]
    if re.search(r"[\d\\]|[a-zA-Z]", rest):
        return rest  # math remains: the text groups were units or words around it
    out = text
    for start, _, end, content in reversed(pieces):
        out = out[:start] + content + out[end:]
    return out


def normalize_answer(answer: str) -> str:
    """A canonical string form of an answer; equal strings mean equal answers."""
    text = answer.strip()
    if "\\boxed" in text or "\\fbox" in text:
        boxed = extract_boxed(text)
        if boxed is not None:
            text = boxed
    text = _UNESCAPED_DOLLAR.sub("", text)
    text = re.sub(r"^\\\[|\\\]$|^\\\(|\\\)$", "", text.strip())
    text = text.replace("\\!", "")
    text = _SPACING.sub(" ", text)
    text = _STYLE.sub("", text)
    text = _LEFT_RIGHT.sub("", text)
    text = re.sub(r"\\[dt]frac(?![a-zA-Z])", r"\\frac", text)
    text = re.sub(r"\\[dt]binom(?![a-zA-Z])", r"\\binom", text)
    text = _FRAC_TOKENS.sub(r"\\frac{\1}{\2}", text)
    text = _FRAC_FIRST_TOKEN.sub(r"\\frac{\1}{", text)
    text = _FRAC_SECOND_TOKEN.sub(r"\\frac\1{\2}", text)
    text = _SQRT_TOKEN.sub(r"\\sqrt{\1}", text)
    text = _SUBSCRIPT_TOKEN.sub(r"_{\1}", text)
    text = _DEGREES.sub("", text)
    text = text.replace("\\%", "").replace("%", "").replace("\\$", "")
    text = _unwrap_text(text)
    text = text.replace("{,}", ",")
    text = text.strip().rstrip(".").strip()
    assignment = _ASSIGNMENT.match(text)
    if assignment and "=" not in assignment.group(1):
        text = assignment.group(1).strip()
    words = _NUMBER_WITH_WORDS.match(text)
    if words:
        text = words.group(1)
    # Spaces go, except the one ending a command before a letter (\cot x is not \cotx).
    text = _COMMAND_SPACE.sub("\\1\x00", text)
    text = re.sub(r"\s+", "", text).replace("\x00", " ")
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    choice = _CHOICE.match(text)
    if choice:
        text = choice.group(1).upper()
    return text


def _outer_closes_at_end(text: str) -> bool:
    """True if the bracket opening at 0 closes at the last character."""
    depth = 0
    for i, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return i == len(text) - 1
    return False


def split_structure(text: str) -> tuple[str, Any]:
    """Classify a normalised answer: matrix, union, set, sequence (tuple/interval) or scalar."""
    matrix = _MATRIX.match(text)
    if matrix:
        rows = [row for row in matrix.group(2).split("\\\\") if row.strip()]
        return "matrix", [[cell.strip() for cell in row.split("&")] for row in rows]
    union = split_outside_brackets(text, "\\cup")
    if len(union) > 1:
        return "union", union
    if text.startswith("\\{") and text.endswith("\\}"):
        return "set", split_outside_brackets(text[2:-2])
    if len(text) >= 2 and text[0] in "([" and text[-1] in ")]" and _outer_closes_at_end(text):
        items = split_outside_brackets(text[1:-1])
        if len(items) > 1:
            return "sequence", (text[0], text[-1], items)
    items = split_outside_brackets(text)
    if len(items) > 1:
        return "set", items
    return "scalar", text


def answers_equal(pred: str, gold: str) -> bool:
    """True if ``pred`` and ``gold`` denote the same answer."""
    pred, gold = normalize_answer(pred), normalize_answer(gold)
    # A worked chain such as \frac{28}{4}=7 or (b,c)=(6,5) commits to its last side, unless
    # both answers are equations.
    pred_sides, gold_sides = split_outside_brackets(pred, "="), split_outside_brackets(gold, "=")
    if len(pred_sides) > 1 and len(gold_sides) == 1:
        pred = pred_sides[-1]
    elif len(gold_sides) > 1 and len(pred_sides) == 1:
        gold = gold_sides[-1]
    return _equal(pred, gold)


def _equal(pred: str, gold: str) -> bool:
    if pred == gold:
        return True
    if not pred or not gold:
        return False
    kind_pred, parts_pred = split_structure(pred)
    kind_gold, parts_gold = split_structure(gold)
    if kind_pred != kind_gold:
        return False
    if kind_pred == "scalar":
        return _scalar_equal(pred, gold)
    if kind_pred == "matrix":
        return len(parts_pred) == len(parts_gold) and all(
            len(row_p) == len(row_g)
            and all(_equal(p, g) for p, g in zip(row_p, row_g, strict=True))
            for row_p, row_g in zip(parts_pred, parts_gold, strict=True)
        )
    if kind_pred == "sequence":
        open_p, close_p, items_p = parts_pred
        open_g, close_g, items_g = parts_gold
        return (
            (open_p, close_p) == (open_g, close_g)
            and len(items_p) == len(items_g)
            and all(_equal(p, g) for p, g in zip(items_p, items_g, strict=True))
        )
    if kind_pred == "union":
        return len(parts_pred) == len(parts_gold) and all(
            _equal(p, g) for p, g in zip(parts_pred, parts_gold, strict=True)
        )
    return _same_multiset(parts_pred, parts_gold)


def _same_multiset(items_pred: list[str], items_gold: list[str]) -> bool:
    """Unordered comparison: a perfect matching of equal items."""
    if len(items_pred) != len(items_gold):
        return False
    if len(items_pred) > _MAX_SET_MATCH:
        return sorted(items_pred) == sorted(items_gold)
    remaining = list(items_gold)
    for item in items_pred:
        match = next((i for i, other in enumerate(remaining) if _equal(item, other)), None)
        if match is None:
            return False
        remaining.pop(match)
    return True


def _scalar_equal(pred: str, gold: str) -> bool:
    if _WORDS.match(pred) or _WORDS.match(gold):
        # words ("Monday", "east") are names, not products of symbols
        return pred.casefold() == gold.casefold()
    pred_expr = _to_sympy(pred)
    gold_expr = _to_sympy(gold)
    if pred_expr is None or gold_expr is None:
        return False
    return _sympy_equal(pred_expr, gold_expr)


def read_value(answer: str) -> Any:
    """The sympy object this grader reads in ``answer`` (normalised first), or None.

    What the lenient rules read a value with under ``--graders sympy``
    (:data:`mathverify.grading.readers.SYMPY_READER`).
    """
    return _to_sympy(normalize_answer(answer))


def _to_sympy(text: str) -> Any:
    """A sympy object for a scalar answer, or None if it does not parse."""
    import sympy

    if _PLAIN_NUMBER.match(text):
        if re.search(r"[.eE]", text):
            return sympy.Float(text, 30)
        return sympy.Integer(text)
    fraction = _PLAIN_FRACTION.match(text)
    if fraction:
        numerator, denominator = int(fraction.group(1)), int(fraction.group(2))
        return sympy.Rational(numerator, denominator) if denominator else None
    return latex_to_sympy(text)


def latex_to_sympy(text: str) -> Any:
    """``latex2sympy(text)``, or None where the parser cannot read the text.

    latex2sympy2_extended raises a bare ``Exception`` for syntax it does not know
    (``latex2sympy2.py``: ``raise Exception(err)``, ``raise Exception('Unrecognized ...')``);
    sympy raises ``ValueError`` or ``TypeError`` while building what the text describes
    (matrix rows of different lengths: ``ValueError: mismatched dimensions``; a matrix plus
    a number: ``TypeError: Mix of Matrix and Scalar symbols``) and ``RecursionError`` on
    deep nesting. Those mean "no value"; any other exception is a bug and is raised (#34).
    """
    from latex2sympy2_extended import latex2sympy

    try:
        return latex2sympy(text)
    except (ValueError, TypeError, RecursionError):
        return None
    except Exception as exc:
        if type(exc) is Exception:  # the parser's own "cannot read this"
            return None
        raise


def _numeric_close(a: Any, b: Any, rel_tol: float) -> bool:
    import sympy

    value_a = complex(sympy.N(a, 30))
    value_b = complex(sympy.N(b, 30))
    if any(math.isnan(v.real) or math.isnan(v.imag) for v in (value_a, value_b)):
        return False
    if any(math.isinf(abs(v)) for v in (value_a, value_b)):
        return value_a == value_b
    return abs(value_a - value_b) <= rel_tol * max(1.0, abs(value_a), abs(value_b))


def _sympy_equal(pred: Any, gold: Any) -> bool:
    import sympy
    from sympy.matrices import MatrixBase

    if pred == gold:
        return True
    if isinstance(pred, MatrixBase) or isinstance(gold, MatrixBase):
        return (
            isinstance(pred, MatrixBase)
            and isinstance(gold, MatrixBase)
            and pred.shape == gold.shape
            and all(_sympy_equal(p, g) for p, g in zip(pred, gold, strict=True))
        )
    if isinstance(pred, sympy.Eq) and isinstance(gold, sympy.Eq):
        difference_pred = pred.lhs - pred.rhs
        difference_gold = gold.lhs - gold.rhs
        return _expr_equal(difference_pred, difference_gold) or _expr_equal(
            difference_pred, -difference_gold
        )
    if isinstance(pred, sympy.Set) or isinstance(gold, sympy.Set):
        return isinstance(pred, sympy.Set) and isinstance(gold, sympy.Set) and pred == gold
    if not isinstance(pred, sympy.Expr) or not isinstance(gold, sympy.Expr):
        return False
    return _expr_equal(pred, gold)


def _expr_equal(pred: Any, gold: Any) -> bool:
    import sympy

    if max(log10_bound(pred), log10_bound(gold)) > MAX_LOG10:
        return False
    has_decimal = bool(pred.atoms(sympy.Float) or gold.atoms(sympy.Float))
    rel_tol = DECIMAL_REL_TOL if has_decimal else EXACT_REL_TOL
    symbols = sorted(pred.free_symbols | gold.free_symbols, key=str)
    try:
        if not symbols:
            return _numeric_close(pred, gold, rel_tol)
        if sympy.expand(pred - gold) == 0:
            return True
        # Equal as functions: agree at a few fixed points (cheaper and safer than simplify).
        for shift, point in enumerate(_PROBE_POINTS):
            values = {s: point + 0.1 * (i + shift) for i, s in enumerate(symbols)}
            if not _numeric_close(pred.subs(values), gold.subs(values), max(rel_tol, 1e-9)):
                return False
        return True
    except _NOT_A_NUMBER:
        return False  # no numeric value to compare (a function left unevaluated, oo - oo)
