"""Answer equivalence: is a predicted final answer equal to the gold answer?

Graders (Math-Verify, and our own sympy normaliser) run in worker processes with per-pair
timeouts enforced by the parent, so no answer can hang or crash a run.

    from mathverify.grading import GradingPool, grade
    grade("\\\\frac{14}{3}", "14/3").equal                     # True
    grade("10 weeks", "10", mode="lenient").rule                # "units"
    with GradingPool(workers=2, timeout=5.0) as pool:
        verdicts = pool.grade_many([(pred, gold), ...])
"""

from mathverify.grading.graders import (
    GRADER_NAMES,
    GRADING_MODES,
    LENIENT,
    MATH_VERIFY,
    STRICT,
    SYMPY,
    parse_graders,
)
from mathverify.grading.lenient import RULE_NAMES, RULES, parse_rules
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
    "GRADING_MODES",
    "LENIENT",
    "MATH_VERIFY",
    "NOT_EQUAL",
    "NO_GOLD",
    "REASONS",
    "RULES",
    "RULE_NAMES",
    "STRICT",
    "SYMPY",
    "TIMEOUT",
    "GradingPool",
    "Verdict",
    "grade",
    "parse_graders",
    "parse_rules",
]
