"""Grading options shared by every command that grades answers (label, eval, search)."""

from __future__ import annotations

from typing import Annotated

import typer

from mathverify.cli.app import GRADING, PERFORMANCE
from mathverify.errors import MathverifyError
from mathverify.grading import GradingPool, parse_graders
from mathverify.grading.graders import STRICT, check_mode
from mathverify.grading.lenient import parse_rules

GradersOpt = Annotated[
    str,
    typer.Option(
        "--graders",
        help="Graders, comma-separated: math-verify, sympy (the first decides).",
        rich_help_panel=GRADING,
    ),
]
AuditOpt = Annotated[
    str | None,
    typer.Option(
        "--audit",
        help="JSONL of the pairs graders disagree on, or a lenient rule decided.",
        rich_help_panel=GRADING,
    ),
]
GradingModeOpt = Annotated[
    str,
    typer.Option(
        "--grading",
        help="strict, or lenient: also other evaluators' conventions (see docs/grading.md).",
        rich_help_panel=GRADING,
    ),
]
NoRuleOpt = Annotated[
    str | None,
    typer.Option(
        "--no-rule",
        help="lenient: rules to switch off, comma-separated (see docs/grading.md).",
        rich_help_panel=GRADING,
    ),
]
GradeTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--grade-timeout",
        help="Seconds per answer pair before a timeout verdict.",
        rich_help_panel=GRADING,
    ),
]
GradeWorkersOpt = Annotated[
    int,
    typer.Option("--grade-workers", help="Grader worker processes.", rich_help_panel=PERFORMANCE),
]


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
