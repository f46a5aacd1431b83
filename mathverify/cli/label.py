"""``mathverify label``: attach step or outcome labels to solutions."""

from __future__ import annotations

from typing import Annotated

import typer

from mathverify.cli.app import (
    InputArg,
    OutputOpt,
    ProblemsOpt,
    ResumeOpt,
    ShardOpt,
    command,
    console,
)
from mathverify.cli.grading_options import (
    AuditOpt,
    GradersOpt,
    GradeTimeoutOpt,
    GradeWorkersOpt,
    open_pool,
)
from mathverify.errors import MathverifyError
from mathverify.labeling.outcome import label_outcomes
from mathverify.records import (
    RecordWriter,
    Solution,
    in_shard,
    parse_shard,
    read_problems_by_id,
    read_records,
)

METHODS = ("outcome",)


@command(
    "label",
    help=(
        "Label solutions. [bold]outcome[/bold]: grade each final answer against the gold answer "
        "(sets `outcome`)."
    ),
)
def label(
    method: Annotated[str, typer.Option("--method", "-m", help=f"One of: {', '.join(METHODS)}.")],
    problems: ProblemsOpt,
    input: InputArg = "-",
    output: OutputOpt = "-",
    resume: ResumeOpt = False,
    shard: ShardOpt = None,
    graders: GradersOpt = "math-verify",
    audit: AuditOpt = None,
    grade_timeout: GradeTimeoutOpt = 5.0,
    grade_workers: GradeWorkersOpt = 2,
) -> None:
    if method not in METHODS:
        raise MathverifyError(f"--method {method!r}: choose one of {', '.join(METHODS)}")
    shard_spec = parse_shard(shard)
    gold = read_problems_by_id(problems)
    with (
        RecordWriter(output, Solution, resume=resume) as writer,
        open_pool(graders, audit, grade_timeout, grade_workers) as pool,
    ):
        todo = (
            s
            for s in read_records(input, Solution)
            if in_shard(s.problem_id, shard_spec) and not writer.done(s.key())
        )
        for solution in label_outcomes(todo, gold, pool):
            writer.write(solution)
        kept = f", {writer.resumed} kept from before" if resume else ""
        console.print(f"label: {writer.written} solutions labeled ({method}){kept}")
