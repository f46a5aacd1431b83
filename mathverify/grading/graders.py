"""The answer-equivalence graders by name, as run inside grading worker processes.

A grader is a function ``(pred, gold) -> (equal, reason)`` over two non-empty answer
strings; it may raise (the pool turns that into an ``"error"`` verdict) and may run for
ever (the pool kills it). Time limits are not a grader's business: the pool enforces them.
:func:`run_grader` runs one in a grading mode: ``strict`` (the grader decides) or
``lenient`` (the rules of :mod:`mathverify.grading.lenient` may change its verdict, reading
values with the grader's own parser: :data:`READERS`).
"""

from __future__ import annotations

from collections.abc import Callable

from mathverify.errors import MathverifyError
from mathverify.grading.answer_text import as_latex_answer
from mathverify.grading.lenient import apply_rules
from mathverify.grading.readers import MATH_VERIFY_READER, SYMPY_READER, Reader, math_verify_parse
from mathverify.grading.sympy_grader import answers_equal
from mathverify.grading.verdict import EQUAL, GOLD_NOT_PARSED, NOT_EQUAL

__all__ = [
    "GRADERS",
    "GRADER_NAMES",
    "GRADING_MODES",
    "LENIENT",
    "MATH_VERIFY",
    "READERS",
    "STRICT",
    "SYMPY",
    "as_latex_answer",
    "check_mode",
    "math_verify_grader",
    "parse_graders",
    "run_grader",
    "sympy_grader",
]

GraderFn = Callable[[str, str], tuple[bool, str]]

MATH_VERIFY = "math-verify"
SYMPY = "sympy"
GRADER_NAMES = (MATH_VERIFY, SYMPY)


def math_verify_grader(pred: str, gold: str) -> tuple[bool, str]:
    """Math-Verify's ``verify(parse(gold), parse(pred))``, its own timeouts switched off."""
    from math_verify import verify

    gold_parsed = math_verify_parse(gold)
    if not gold_parsed:
        return False, GOLD_NOT_PARSED
    pred_parsed = math_verify_parse(pred)
    if not pred_parsed:
        return False, NOT_EQUAL
    equal = verify(gold_parsed, pred_parsed, timeout_seconds=None)
    return equal, EQUAL if equal else NOT_EQUAL


def sympy_grader(pred: str, gold: str) -> tuple[bool, str]:
    """Our own normaliser and sympy comparison (:mod:`mathverify.grading.sympy_grader`)."""
    equal = answers_equal(pred, gold)
    return equal, EQUAL if equal else NOT_EQUAL


GRADERS: dict[str, GraderFn] = {MATH_VERIFY: math_verify_grader, SYMPY: sympy_grader}
# How the lenient rules read values under each grader: with that grader's own parser.
READERS: dict[str, Reader] = {MATH_VERIFY: MATH_VERIFY_READER, SYMPY: SYMPY_READER}

STRICT = "strict"
LENIENT = "lenient"
GRADING_MODES = (STRICT, LENIENT)


def run_grader(
    name: str, pred: str, gold: str, mode: str = STRICT, rules: tuple[str, ...] = ()
) -> tuple[bool, str, str | None]:
    """``(equal, reason, rule)`` of grader ``name``; in lenient mode the enabled ``rules`` may change it.

    ``rule`` is the lenient rule that decided (None when the grader's own verdict stands).
    The rules read values with the grader's own parser (``READERS[name]``).
    """
    grader = GRADERS[name]
    equal, reason = grader(pred, gold)
    if mode != LENIENT or not rules:
        return equal, reason, None
    equal, rule = apply_rules(
        pred, gold, equal, lambda p, g: grader(p, g)[0], rules, reader=READERS[name]
    )
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
