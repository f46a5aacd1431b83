"""The result of grading one (prediction, gold) pair: a frozen :class:`Verdict` and its reasons."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

EQUAL = "equal"
NOT_EQUAL = "not equal"
TIMEOUT = "timeout"
ERROR = "error"
EMPTY_PREDICTION = "empty prediction"
NO_GOLD = "no gold"
GOLD_NOT_PARSED = "gold not parsed"

REASONS = (EQUAL, NOT_EQUAL, TIMEOUT, ERROR, EMPTY_PREDICTION, NO_GOLD, GOLD_NOT_PARSED)


@dataclass(frozen=True)
class Verdict:
    """Whether a prediction equals the gold answer, and why.

    ``equal`` is True only for reason ``"equal"``. ``seconds`` is the time the grader spent
    (for a timeout, the time until the pair was given up). ``error`` holds the exception
    text for reason ``"error"`` and is None otherwise. ``grader`` names the grader whose
    verdict this is (``"math-verify"`` or ``"sympy"``). ``rule`` names the lenient rule
    that decided the verdict against the strict grader (see
    :mod:`mathverify.grading.lenient`), or the rule that raised for reason ``"error"``; None
    in strict mode and when the strict verdict stands.
    """

    equal: bool
    reason: str
    seconds: float
    error: str | None
    grader: str
    rule: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
