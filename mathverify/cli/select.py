"""``mathverify select``: choose the solutions to label next (active learning)."""

from __future__ import annotations

from typing import Annotated

import typer

from mathverify.cli.app import InputArg, OutputOpt, SeedOpt, command, console
from mathverify.labeling.select import STRATEGIES, select_solutions
from mathverify.records import RecordWriter, Solution, read_records


@command(
    "select",
    help=(
        'Pick solutions to label next. [bold]convincing-wrong[/bold] ("Let\'s Verify"): per '
        "problem, the highest-scoring solutions whose final answer is wrong; needs scored "
        "(`mathverify score`) and outcome-labeled solutions."
    ),
)
def select(
    input: InputArg = "-",
    output: OutputOpt = "-",
    strategy: Annotated[
        str, typer.Option("--strategy", help=f"One of: {', '.join(STRATEGIES)}.")
    ] = "convincing-wrong",
    per_problem: Annotated[
        int, typer.Option("--per-problem", "-k", help="Solutions to pick per problem.")
    ] = 4,
    random_share: Annotated[
        float,
        typer.Option(
            "--random-share", help="Share of each problem's picks drawn uniformly at random."
        ),
    ] = 0.0,
    aggregation: Annotated[
        str, typer.Option("--aggregate", help="Step-score aggregation: min, product, last, mean.")
    ] = "min",
    seed: SeedOpt = 0,
) -> None:
    picked = select_solutions(
        read_records(input, Solution),
        strategy=strategy,
        per_problem=per_problem,
        random_share=random_share,
        aggregation=aggregation,
        seed=seed,
    )
    with RecordWriter(output, Solution) as writer:
        writer.write_all(picked)
    console.print(f"select: {len(picked)} solutions picked ({strategy})")
