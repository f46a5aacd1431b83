"""Grading options shared by every command that grades answers (label, eval, search)."""

from __future__ import annotations

from typing import Annotated

import typer

from mathverify.grading import GradingPool, parse_graders

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
    typer.Option("--audit", help="JSONL file for pairs on which the graders disagree."),
]
GradeTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--grade-timeout", help="Seconds allowed per answer pair before a timeout verdict."
    ),
]
GradeWorkersOpt = Annotated[int, typer.Option("--grade-workers", help="Grader worker processes.")]


def open_pool(graders: str, audit: str | None, timeout: float, workers: int) -> GradingPool:
    return GradingPool(
        workers=workers, timeout=timeout, graders=parse_graders(graders), audit_path=audit
    )
