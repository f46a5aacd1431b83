"""Grading options shared by every command that grades answers (label, eval, search)."""

from __future__ import annotations

from typing import Annotated

import typer

from mathverify.errors import MathverifyError
from mathverify.grading import GradingPool, parse_graders
from mathverify.grading.graders import STRICT, check_mode
from mathverify.grading.lenient import RULE_NAMES, parse_rules

GradersOpt = Annotated[
    str,
    typer.Option(
        "--graders",
        help=(
            "Comma-separated graders: math-verify, sympy. The first decides; with two, every "
            "pair they disagree on goes to --audit."
        ),
    ),
]
AuditOpt = Annotated[
    str | None,
    typer.Option(
        "--audit",
        help="JSONL file for pairs on which the graders disagree, and (lenient) pairs a rule decided.",
    ),
]
GradingModeOpt = Annotated[
    str,
    typer.Option(
        "--grading",
        help="strict: the grader decides (Math-Verify by default). lenient: also the named rules "
        "for conventions other evaluators accept (units, rounded decimals, float tolerance, "
        "e-notation, mixed numbers, digit groups, \\pm, yes/no, labelled equations, "
        "matrix/list spellings, list multiplicity, ...; see docs/grading.md).",
    ),
]
NoRuleOpt = Annotated[
    str | None,
    typer.Option(
        "--no-rule",
        help="With --grading lenient: comma-separated rules to switch off, from: "
        + ", ".join(RULE_NAMES)
        + ".",
    ),
]
GradeTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--grade-timeout", help="Seconds allowed per answer pair before a timeout verdict."
    ),
]
GradeWorkersOpt = Annotated[int, typer.Option("--grade-workers", help="Grader worker processes.")]


def open_pool(
    graders: str,
    audit: str | None,
    timeout: float,
    workers: int,
    grading: str = STRICT,
    no_rule: str | None = None,
) -> GradingPool:
    check_mode(grading)
    if no_rule and grading == STRICT:
        raise MathverifyError("--no-rule goes with --grading lenient")
    return GradingPool(
        workers=workers,
        timeout=timeout,
        graders=parse_graders(graders),
        audit_path=audit,
        mode=grading,
        rules=parse_rules(no_rule),
    )
