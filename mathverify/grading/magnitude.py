"""How large a sympy value can get when evaluated, so that no grader or rule tries to compute
``9^{9^{9^9}}``.

Shared by the sympy grader (:mod:`mathverify.grading.sympy_grader`) and the lenient rules
(:func:`mathverify.grading.rule_tools.too_big`); it decides nothing about equality.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MAX_LOG10", "log10_bound"]

# Numbers with more decimal digits than this are not evaluated (a guard against 9^{9^{9^9}}).
MAX_LOG10 = 1e5


def log10_bound(expr: Any) -> float:
    """An upper bound on log10 of the magnitude a numeric sympy expression can reach when evaluated."""
    import sympy

    if isinstance(expr, sympy.Rational):
        return max(abs(expr.p).bit_length(), abs(expr.q).bit_length()) * math.log10(2)
    if isinstance(expr, sympy.Float):
        return max(0.0, float(sympy.log(abs(expr), 10))) if expr != 0 else 0.0
    if isinstance(expr, sympy.Pow):
        exponent = log10_bound(expr.exp)
        if exponent > 8:
            return math.inf
        return max(log10_bound(expr.base), 1.0) * 10**exponent
    if isinstance(expr, sympy.factorial):
        argument = log10_bound(expr.args[0])
        if argument > 8:
            return math.inf
        n = 10**argument
        return n * max(math.log10(n), 1.0)
    if not expr.args:
        return 1.0
    return sum(log10_bound(arg) for arg in expr.args) + 1.0
