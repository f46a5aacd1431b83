"""How the lenient rules read the value of an answer: with the parser of the grader they run under.

A :class:`Reader` is handed to the rules (it travels with their ``compare``, see
:class:`mathverify.grading.rule_tools.Compare`), so under ``--graders sympy`` a rule that
reads ``\\sqrt3`` or ``x > 3`` reads it with the sympy grader's parser, and Math-Verify is
never called (issue #37). :data:`mathverify.grading.graders.READERS` maps each grader's name to its reader.

A reader turns "cannot read this" into None (Math-Verify's ``parse`` catches its own errors;
:func:`mathverify.grading.sympy_grader.latex_to_sympy` narrows latex2sympy's); anything else
it raises is a bug, and the rule that called it surfaces it as a ``RuleError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mathverify.grading.answer_text import as_latex_answer
from mathverify.grading.sympy_grader import latex_to_sympy, read_value

__all__ = [
    "MATH_VERIFY_READER",
    "SYMPY_READER",
    "Reader",
    "math_verify_parse",
]


@dataclass(frozen=True)
class Reader:
    """A grader's reading of answers, as the lenient rules use it.

    ``value(answer)``: the answer as a sympy object, or None if it has no reading.
    ``relation_is_interval(relation, interval)``: True if an inequality in one variable
    (``3 < x \\le 5``) describes exactly the interval or union of intervals (``(3, 5]``).
    """

    value: Callable[[str], Any]
    relation_is_interval: Callable[[str, str], bool]


def math_verify_parse(answer: str) -> list[Any]:
    """Math-Verify's ``parse`` of an answer: its readings, then the text read; [] if none.

    LaTeX first (answers are LaTeX), plain expressions (``14/3``, ``2*x``) as the fallback;
    Math-Verify's own timeout is off (the grading pool enforces one).
    """
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    return parse(
        as_latex_answer(answer),
        [LatexExtractionConfig(), ExprExtractionConfig()],
        parsing_timeout=None,
    )


def _math_verify_value(answer: str) -> Any:
    parsed = math_verify_parse(answer)
    return parsed[0] if parsed and not isinstance(parsed[0], str) else None


def _math_verify_relation_is_interval(relation: str, interval: str) -> bool:
    """Math-Verify's verdict on an inequality against an interval, set relations allowed."""
    from math_verify import verify

    relation_parsed, interval_parsed = math_verify_parse(relation), math_verify_parse(interval)
    if not relation_parsed or not interval_parsed:
        return False
    return verify(
        interval_parsed, relation_parsed, allow_set_relation_comp=True, timeout_seconds=None
    )


def _sympy_relation_is_interval(relation: str, interval: str) -> bool:
    """latex2sympy's reading of both sides: the inequality's solution set equals the interval.

    The relation must be an inequality (or a chain of them, ``3 < x \\le 5``) in one variable,
    the interval a sympy set (``(3, \\infty)``, ``[1, 2) \\cup (3, 4]``, ``\\mathbb{R}``).
    """
    import sympy

    relation_v, interval_v = latex_to_sympy(relation), latex_to_sympy(interval)
    if not isinstance(interval_v, sympy.Set):
        return False
    parts = relation_v.args if isinstance(relation_v, sympy.And) else (relation_v,)
    if not all(isinstance(part, sympy.core.relational.Relational) for part in parts):
        return False
    if len(relation_v.free_symbols) != 1 or isinstance(relation_v, (sympy.Eq, sympy.Ne)):
        return False
    try:
        solutions = relation_v.as_set()
    except NotImplementedError:  # sympy: no solver for this inequality
        return False
    return bool(solutions == interval_v)


MATH_VERIFY_READER = Reader(_math_verify_value, _math_verify_relation_is_interval)
SYMPY_READER = Reader(read_value, _sympy_relation_is_interval)
