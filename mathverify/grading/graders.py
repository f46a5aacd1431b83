"""The answer-equivalence graders by name, as run inside grading worker processes.

A grader is a function ``(pred, gold) -> (equal, reason)`` over two non-empty answer
strings; it may raise (the pool turns that into an ``"error"`` verdict) and may run for
ever (the pool kills it). Time limits are not a grader's business: the pool enforces them.
:func:`run_grader` runs one in a grading mode: ``strict`` (the grader decides) or
``lenient`` (the rules of :mod:`mathverify.grading.lenient` may change its verdict).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mathverify.errors import MathverifyError
from mathverify.grading.verdict import EQUAL, GOLD_NOT_PARSED, NOT_EQUAL

GraderFn = Callable[[str, str], tuple[bool, str]]

MATH_VERIFY = "math-verify"
SYMPY = "sympy"
GRADER_NAMES = (MATH_VERIFY, SYMPY)

_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")


def as_latex_answer(answer: str) -> str:
    """Text that math-verify's LaTeX extraction reads as exactly this answer.

    A bare answer such as ``\\frac{14}{3}``, ``x=5`` or ``\\text{(C)}`` is wrapped in
    ``\\boxed{}`` (boxes are extracted first and whole, spaces and ``\\text`` included); text
    that already has a box or ``$...$`` delimiters is left for math-verify to extract from.
    """
    if "\\boxed" in answer or "\\fbox" in answer or _UNESCAPED_DOLLAR.search(answer):
        return answer
    return "\\boxed{" + answer + "}"


def math_verify_grader(pred: str, gold: str) -> tuple[bool, str]:
    """Math-Verify's ``verify(parse(gold), parse(pred))``, its own timeouts switched off."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    # LaTeX first (answers are LaTeX), plain expressions (``14/3``, ``2*x``) as the fallback.
    config = [LatexExtractionConfig(), ExprExtractionConfig()]
    gold_parsed = parse(as_latex_answer(gold), config, parsing_timeout=None)
    if not gold_parsed:
        return False, GOLD_NOT_PARSED
    pred_parsed = parse(as_latex_answer(pred), config, parsing_timeout=None)
    if not pred_parsed:
        return False, NOT_EQUAL
    equal = verify(gold_parsed, pred_parsed, timeout_seconds=None)
    return equal, EQUAL if equal else NOT_EQUAL


def sympy_grader(pred: str, gold: str) -> tuple[bool, str]:
    """Our own normaliser and sympy comparison (:mod:`mathverify.grading.sympy_grader`)."""
    from mathverify.grading.sympy_grader import answers_equal

    equal = answers_equal(pred, gold)
    return equal, EQUAL if equal else NOT_EQUAL


GRADERS: dict[str, GraderFn] = {MATH_VERIFY: math_verify_grader, SYMPY: sympy_grader}

STRICT = "strict"
LENIENT = "lenient"
GRADING_MODES = (STRICT, LENIENT)


def run_grader(
    name: str, pred: str, gold: str, mode: str = STRICT, rules: tuple[str, ...] = ()
) -> tuple[bool, str, str | None]:
    """``(equal, reason, rule)`` of grader ``name``; in lenient mode the enabled ``rules`` may change it.

    ``rule`` is the lenient rule that decided (None when the grader's own verdict stands).
    """
    grader = GRADERS[name]
    equal, reason = grader(pred, gold)
    if mode != LENIENT or not rules:
        return equal, reason, None
    from mathverify.grading.lenient import apply_rules

    equal, rule = apply_rules(pred, gold, equal, lambda p, g: grader(p, g)[0], rules)
    if rule is None:
        return equal, reason, None
    return equal, EQUAL if equal else NOT_EQUAL, rule


def check_mode(mode: str) -> str:
    """``mode`` if it is a grading mode; MathverifyError otherwise."""
    if mode not in GRADING_MODES:
        raise MathverifyError(
            f"--grading: unknown mode {mode!r}; choose from {', '.join(GRADING_MODES)}"
        )
    return mode


def parse_graders(spec: str) -> tuple[str, ...]:
    """``"math-verify,sympy"`` -> ``("math-verify", "sympy")``; the first one decides.

    Raises MathverifyError on an unknown or repeated name, or an empty list.
    """
    names = tuple(part.strip() for part in spec.split(",") if part.strip())
    if not names:
        raise MathverifyError(
            f"--graders: no grader named in {spec!r}; choose from {', '.join(GRADER_NAMES)}"
        )
    for name in names:
        if name not in GRADERS:
            raise MathverifyError(
                f"--graders: unknown grader {name!r}; choose from {', '.join(GRADER_NAMES)}"
            )
    if len(set(names)) != len(names):
        raise MathverifyError(f"--graders: a grader is named twice in {spec!r}")
    return names
