"""Lenient rules for what an answer means: float noise, ``\\pm``, lists, vectors, labels, inequalities.

These rules compare answers part by part (with the whole lenient comparison, ``compare``)
or by value. All add equalities but :func:`list_multiplicity`, which takes away the one
Math-Verify grants by reading a list as a set (``2`` = ``2,2``). The registry, the order
and ``--no-rule`` are in :mod:`mathverify.grading.lenient`; the table of cases in
``docs/grading.md``.
"""

from __future__ import annotations

import re

from mathverify.grading.notation_rules import plain_subscripts
from mathverify.grading.rule_tools import (
    Compare,
    Equal,
    as_column,
    matrix_cells,
    plain_number,
    split_top,
    strip_math,
    unwrap_text_words,
    variable_letters,
)

__all__ = [
    "FLOAT_REL_TOL",
    "approx_value",
    "comma_vector",
    "float_tolerance",
    "inequality_interval",
    "label_mismatch",
    "labelled_equation",
    "list_multiplicity",
    "plus_minus",
    "repeating_decimal",
]

# Qwen2.5-Math's evaluation/grader.py numeric_equal: math.isclose(rel_tol=1e-4), as in
# ToRA, DeepSeek-Math and NeMo-Skills (5 != 5.001 there: 2e-4 apart).
FLOAT_REL_TOL = 1e-4

# A number with digit groups anywhere in the answer (``1,000``, ``\\$1,000.50``, ``1{,}000
# dollars``): its commas are not list separators.
_DIGIT_GROUPS = re.compile(r"(?<![\d.,])\d{1,3}(?:(?:,\\[!,]\s*|,|\{,\})\d{3})+(?![\d,])")
# Prose around an answer (``Soucis : 2,74 $``): a word of three letters outside a command.
_PROSE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}|\$|:")
_DECIMAL_COMMA = re.compile(r"[-+]?\d+,\d+")


def _multiset_equal(pred_items: list[str], gold_items: list[str], compare: Equal) -> bool:
    """Each item matched to a different equal item of the other list, in any order."""
    if len(pred_items) != len(gold_items):
        return False
    remaining = list(gold_items)
    for item in pred_items:
        match = next((i for i, other in enumerate(remaining) if compare(item, other)), None)
        if match is None:
            return False
        remaining.pop(match)
    return True


# -- numbers ------------------------------------------------------------------------------


def _float_literal(text: str) -> tuple[float, bool] | None:
    """``(value, written with a point)`` of a plain number; None for anything else."""
    s = strip_math(text).replace("\\!", "")
    value = plain_number(s)
    return None if value is None else (value, "." in s)


def float_tolerance(pred: str, gold: str, compare: Compare) -> bool | None:
    """Two numbers within a relative 1e-4, one written with a decimal point, are equal: ``7.0000002`` = ``7``, ``0.30000000000000004`` = ``0.3``; ``3.14`` != ``3``, ``5.001`` != ``5``.

    Convention of Qwen2.5-Math's ``evaluation/grader.py`` ``numeric_equal``
    (``math.isclose(rel_tol=1e-4)``, also in ToRA, DeepSeek-Math, NeMo-Skills), which
    forgives float noise in computed answers; distinct from ``rounded_decimal`` (a decimal
    against an exact value, MARIO_EVAL's absolute tolerance). Both answers must be plain
    numbers; two integers are never close (``10001`` != ``10000``) and zero matches only zero.
    """
    pred_n, gold_n = _float_literal(pred), _float_literal(gold)
    if pred_n is None or gold_n is None or not (pred_n[1] or gold_n[1]):
        return None
    a, b = pred_n[0], gold_n[0]
    if a == 0 or b == 0:
        return None
    return True if abs(a - b) <= FLOAT_REL_TOL * max(abs(a), abs(b)) else None


_REPEATING = re.compile(r"([-+]?)(\d*)\.(\d*)\\overline\s*\{(\d+)\}")


def _repeating_as_fraction(match: re.Match) -> str:
    """``0.1\\overline{3}`` -> ``\\frac{2}{15}``: (digits to the repeat's end - digits before it) / (10^n (10^r - 1))."""
    sign, whole, fixed, repeat = match.groups()
    head = int((whole or "0") + fixed)
    numerator = int((whole or "0") + fixed + repeat) - head
    denominator = 10 ** len(fixed) * (10 ** len(repeat) - 1)
    return f"{'-' if sign == '-' else ''}\\frac{{{numerator}}}{{{denominator}}}"


def repeating_decimal(pred: str, gold: str, compare: Compare) -> bool | None:
    """A repeating decimal is the fraction it stands for: ``0.\\overline{3}`` = ``\\frac13``, ``0.1\\overline{6}`` = ``\\frac16``, ``1.\\overline{27}`` = ``\\frac{14}{11}``; ``0.\\overline{3}`` != ``0.3``.

    The MATH dataset writes repeating decimals with ``\\overline`` (its gold answers include
    ``0.\\overline{36}``), which Math-Verify and latex2sympy do not read as a number; the
    value is exact, so a rounded decimal is then judged by ``rounded_decimal`` as against
    any fraction. Only digits under the bar count (``\\overline{AB}`` is a segment).
    """
    if "\\overline" not in pred and "\\overline" not in gold:
        return None
    new_pred = _REPEATING.sub(_repeating_as_fraction, pred)
    new_gold = _REPEATING.sub(_repeating_as_fraction, gold)
    if (new_pred, new_gold) == (pred, gold):
        return None
    return compare(new_pred, new_gold)


_APPROX = re.compile(r"\\approx(?![a-zA-Z])|\\simeq(?![a-zA-Z])")


def approx_value(pred: str, gold: str, compare: Compare) -> bool | None:
    """A gold answer ``exact \\approx decimal`` also accepts its decimal: ``0.577`` = ``\\frac{\\sqrt3}{3} \\approx 0.577``; ``0.5`` != it.

    Convention of OlympiadBench's judger (``\\approx`` read as ``=``, the value after it
    kept) and NeMo-Skills' tests (the exact side is accepted, as Math-Verify does). Only
    the gold answer's approximation counts: a prediction is graded on what it commits to.
    """
    sides = split_top(strip_math(gold), "\\approx")
    if len(sides) == 1:
        sides = split_top(strip_math(gold), "\\simeq")
    if len(sides) != 2 or not all(sides) or _APPROX.search(pred):
        return None
    return True if compare(pred, sides[1]) else None


# -- lists --------------------------------------------------------------------------------

_PLUS_MINUS = re.compile(r"\\(?:pm|mp)(?![a-zA-Z])")


def _expand_plus_minus(text: str) -> list[str]:
    """The items of a list with each item holding ``\\pm`` (``\\mp``) as two: plus and minus."""
    items = []
    for item in split_top(strip_math(text)):
        if _PLUS_MINUS.search(item):
            plus = item.replace("\\pm", "+").replace("\\mp", "-")
            minus = item.replace("\\pm", "-").replace("\\mp", "+")
            items += [plus, minus]
        else:
            items.append(item)
    return items


def plus_minus(pred: str, gold: str, compare: Compare) -> bool | None:
    """``\\pm`` stands for both signs: ``\\frac{3\\pm\\sqrt{5}}{2}`` = ``\\frac{3+\\sqrt5}{2}, \\frac{3-\\sqrt5}{2}``, ``x=\\pm 2`` = ``2, -2``; one root alone != it.

    Convention of OlympiadBench's judger (``trans_plus_minus_sign``: an item with ``\\pm``
    becomes two, one with every sign +, one with every sign -; ``\\mp`` takes the other).
    The items are then matched in any order, one to one.
    """
    if not (_PLUS_MINUS.search(pred) or _PLUS_MINUS.search(gold)):
        return None
    pred_items, gold_items = _expand_plus_minus(pred), _expand_plus_minus(gold)
    if len(pred_items) != len(gold_items) or len(pred_items) < 2:
        return None
    return _multiset_equal(pred_items, gold_items, compare)


def _bare_items(text: str, other: str) -> list[str] | None:
    """The items of an answer written as a bare comma list (one item for a plain value).

    None for text in brackets or braces (tuples, intervals, sets), matrices, a number with
    digit groups (``1,000``, ``11,\\!111``), a decimal comma against a number with a point
    (``0,5``), and text with prose in it (Math-Verify finds the answer inside prose).
    """
    s = strip_math(unwrap_text_words(text))
    s = re.sub(r"(?:,\s*|\s)(?:and|or)\s", ", ", s).strip()
    if not s or s.startswith(("(", "[", "\\{", "{", "\\left", "\\begin")):
        return None
    if _DIGIT_GROUPS.search(s) or _PROSE.search(s):
        return None
    if _DECIMAL_COMMA.fullmatch(s) and "." in strip_math(other):
        return None
    items = _expand_plus_minus(s)
    return items if all(items) else None


def list_multiplicity(pred: str, gold: str, compare: Compare) -> bool | None:
    """In a bare list, each item counts as often as it is written: ``2`` != ``2,2``, ``1,2`` != ``1,2,2``, ``1,1,2`` != ``1,2,2``.

    Math-Verify reads a comma list as a set, so ``2`` = ``2,2``; MARIO_EVAL, Qwen2.5-Math,
    PRM800K and OlympiadBench compare lists item by item (a double root listed twice is
    two answers). Where an item is written twice, takes the equality away unless the items
    match one to one (so the counts must agree). An item with ``\\pm`` counts as two
    (``\\pm 2`` = ``2, -2``); lists in brackets or braces (sets) and numbers with digit
    groups (``1,000``) are left to the strict grader.
    """
    pred_items, gold_items = _bare_items(pred, gold), _bare_items(gold, pred)
    if pred_items is None or gold_items is None or max(len(pred_items), len(gold_items)) < 2:
        return None
    spaced = [[item.replace(" ", "") for item in items] for items in (pred_items, gold_items)]
    if all(len(set(items)) == len(items) for items in spaced):
        return None  # no item written twice: reading the lists as sets loses nothing
    return None if _multiset_equal(pred_items, gold_items, compare) else False


def comma_vector(pred: str, gold: str, compare: Compare) -> bool | None:
    """A bare comma list equals a one-column or one-row matrix with its entries in order: ``3,-1`` = ``\\left[\\begin{array}{c}3\\\\-1\\end{array}\\right]``; ``-1,3`` != it.

    Convention of Qwen2.5-Math's ``evaluation/grader.py`` (``math_equal`` compares a
    ``pmatrix`` or ``array`` with a comma list entry by entry) for vector answers; the
    ``structure`` rule covers bracketed lists. Numbers with digit groups (``1,000``) are not
    lists.
    """
    pred_c, gold_c = matrix_cells(pred), matrix_cells(gold)
    if pred_c is None or gold_c is None or {pred_c[0], gold_c[0]} != {"bare", "matrix"}:
        return None
    bare_text = pred if pred_c[0] == "bare" else gold
    if _DIGIT_GROUPS.search(strip_math(bare_text)):
        return None
    pred_col, gold_col = as_column(*pred_c), as_column(*gold_c)
    if pred_col is None or gold_col is None or len(pred_col) != len(gold_col):
        return None
    return all(compare(p, g) for p, g in zip(pred_col, gold_col, strict=True))


# -- equations and relations ---------------------------------------------------------------

_GREEK_NAME = (
    r"\\(?:alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|vartheta|kappa|lambda|mu|nu"
    r"|xi|rho|sigma|tau|phi|varphi|chi|psi|omega|Gamma|Delta|Theta|Lambda|Phi|Psi|Omega)(?![a-zA-Z])"
)
# A quantity's name: a letter or Greek letter, optionally after \Delta, with an optional
# subscript (one level of braces inside) and primes; then = (not ==).
_LABEL = re.compile(
    r"\s*((?:\\Delta\s*)?(?:[a-zA-Z]|" + _GREEK_NAME + r")"
    r"(?:\s*_\s*(?:\{(?:[^{}]|\{[^{}]*\})*\}|\\[a-zA-Z]+\s*\{[^{}]*\}|[a-zA-Z0-9]))?(?:\s*')*)"
    r"\s*=(?!=)"
)


def _labelled(text: str) -> tuple[str, str] | None:
    """``(label, right-hand side)`` of ``v_{0} = \\sqrt{2gh}``; None unless the label names the value.

    The label must not appear on the right (``h = \\sqrt{2gh}`` is an equation in h) and
    the right side must be one value (no second ``=``, no ``<``/``>``).
    """
    s = strip_math(text)
    match = _LABEL.match(s)
    if not match:
        return None
    rhs = s[match.end() :].strip()
    if not rhs or re.search(r"=|<|>|\\[lg]eq?(?![a-zA-Z])", rhs):
        return None
    label = re.sub(r"\s+", "", plain_subscripts(match.group(1)))
    if "_" in label or label.startswith("\\Delta"):
        if label in re.sub(r"\s+", "", plain_subscripts(rhs)):
            return None
    elif variable_letters(match.group(1)) & variable_letters(rhs):
        return None
    return label, rhs


def labelled_equation(pred: str, gold: str, compare: Compare) -> bool | None:
    """A value labelled with its name equals the value: ``v_{0}=\\sqrt{2gh}`` = ``\\sqrt{2gh}``, ``E_k=\\frac12mv^2`` = ``\\frac12mv^2``; ``v_1=\\sqrt{2gh}`` != ``v_0=\\sqrt{2gh}``.

    Convention of OlympiadBench's judger (``expression_equal`` keeps the side after
    ``=``) and Qwen2.5-Math's ``strip_string`` (drops ``x=``), for the physics-style labels
    Math-Verify does not read as names (subscripted, ``\\mathrm`` in the subscript, ``E``
    taken as Euler's number). If both sides are labelled, the labels must be the same name
    (fonts aside); a label that appears on its own right side makes an equation, not a label.
    """
    pred_l, gold_l = _labelled(pred), _labelled(gold)
    if pred_l is None and gold_l is None:
        return None
    if pred_l is not None and gold_l is not None:
        return compare(pred_l[1], gold_l[1]) if pred_l[0] == gold_l[0] else None
    other = strip_math(gold if pred_l else pred)
    if len(split_top(other, "=")) > 1:
        return None  # the other answer is an equation of its own
    return compare(pred_l[1], other) if pred_l else compare(other, gold_l[1])  # type: ignore[index]


def label_mismatch(pred: str, gold: str, compare: Compare) -> bool | None:
    """Two values labelled with different names are different answers: ``E_k = 5`` != ``E_p = 5``, ``v_1=3`` != ``v_0=3``; ``E_{\\mathrm{k}}=5`` = ``E_k=5``.

    The other side of ``labelled_equation``: Math-Verify compares the values alone where it
    reads a label's letter as a constant (``E`` as Euler's number, ``i`` as the imaginary
    unit), so ``E_k = 5`` = ``E_p = 5`` for it, while ``x = 5`` != ``y = 5``. OlympiadBench's
    judger and Qwen2.5-Math's ``math_equal`` compare two equations as equations, so the
    labels count. Labels are compared with fonts, braces and spaces in subscripts aside.
    """
    pred_l, gold_l = _labelled(pred), _labelled(gold)
    if pred_l is None or gold_l is None or pred_l[0] == gold_l[0]:
        return None
    return False


_RELATION = re.compile(r"<|>|\\(?:le|ge|leq|geq|leqslant|geqslant|lt|gt)(?![a-zA-Z])")
_INTERVAL_PART = r"[\[(][^\[\]()]*,[^\[\]()]*[\])]"
_INTERVALS = re.compile(
    rf"{_INTERVAL_PART}(?:\s*\\cup\s*{_INTERVAL_PART})*|\\mathbb\s*\{{?R\}}?", re.DOTALL
)


_OR = re.compile(r"\\text\s*\{\s*or\s*\}|(?<![a-zA-Z\\])or(?![a-zA-Z])|\\(?:lor|vee)(?![a-zA-Z])")


def inequality_interval(pred: str, gold: str, compare: Compare) -> bool | None:
    """An inequality in one variable equals the interval it describes: ``x > 3`` = ``(3, \\infty)``, ``3 < x \\le 5`` = ``(3, 5]``, ``x<-1 \\text{ or } x>1`` = ``(-\\infty,-1)\\cup(1,\\infty)``; ``x > 3`` != ``[3, \\infty)``.

    Convention of Math-Verify's own ``verify(allow_set_relation_comp=True)`` (off by
    default), of Qwen2.5-Math's ``strip_string`` (``x\\in`` dropped) and OlympiadBench's
    judger (``interval_equal``): a solution set may be written either way. Applies when one
    answer has ``<``, ``>``, ``\\le`` or ``\\ge`` and the other is an interval or a union of
    intervals; endpoints and openness must agree. Inequalities joined by "or" (``\\lor``)
    match the parts of a union one to one, in any order. The grader's reader decides
    (Math-Verify's ``verify``; under ``--graders sympy``, sympy's solution set).
    """
    pred_s = re.sub(r"\\(?:left|right)(?![a-zA-Z])", "", strip_math(pred))
    gold_s = re.sub(r"\\(?:left|right)(?![a-zA-Z])", "", strip_math(gold))
    pred_rel, gold_rel = bool(_RELATION.search(pred_s)), bool(_RELATION.search(gold_s))
    if pred_rel == gold_rel:
        return None
    relation, interval = (pred_s, gold_s) if pred_rel else (gold_s, pred_s)
    if not _INTERVALS.fullmatch(interval.strip()):
        return None
    relation_is_interval = compare.reader.relation_is_interval
    relations = [part.strip() for part in _OR.split(relation)]
    if len(relations) == 1:
        return True if relation_is_interval(relation, interval) else None
    intervals = split_top(interval, "\\cup")
    if len(relations) != len(intervals) or not all(relations):
        return None
    return True if _multiset_equal(relations, intervals, relation_is_interval) else None
