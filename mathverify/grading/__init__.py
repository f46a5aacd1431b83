"""Answer equivalence: is a predicted final answer equal to the gold answer?

Graders (Math-Verify, and our own sympy normaliser) run in worker processes with per-pair
timeouts enforced by the parent, so no answer can hang or crash a run.

    from mathverify.grading import GradingPool, grade
    grade("\\\\frac{14}{3}", "14/3").equal                     # True
    with GradingPool(workers=2, timeout=5.0) as pool:
        verdicts = pool.grade_many([(pred, gold), ...])
"""

from mathverify.grading.graders import GRADER_NAMES, MATH_VERIFY, SYMPY, parse_graders
from mathverify.grading.pool import GradingPool, grade
from mathverify.grading.verdict import (
    EMPTY_PREDICTION,
    EQUAL,
    ERROR,
    GOLD_NOT_PARSED,
    NO_GOLD,
    NOT_EQUAL,
    REASONS,
    TIMEOUT,
    Verdict,
)

__all__ = [
    "EMPTY_PREDICTION",
    "EQUAL",
    "ERROR",
    "GOLD_NOT_PARSED",
    "GRADER_NAMES",
    "MATH_VERIFY",
    "NOT_EQUAL",
    "NO_GOLD",
    "REASONS",
    "SYMPY",
    "TIMEOUT",
    "GradingPool",
    "Verdict",
    "grade",
    "parse_graders",
]
