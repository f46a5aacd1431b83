"""``mathverify select``: choose the solutions to label next (active learning).

Each picked solution carries the selection's settings in ``meta.provenance.select``; an
option the chosen strategy does not read is an error naming it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mathverify.cli.app import (
    LABELING,
    InputOpt,
    OutputOpt,
    SeedOpt,
    command,
    console,
    refuse_unread,
)
from mathverify.cli.score import AggregateOpt
from mathverify.errors import MathverifyError
from mathverify.labeling.select import STRATEGIES, select_solutions
from mathverify.provenance import Provenance
from mathverify.records import RecordWriter, Solution, read_records

# The options each strategy reads besides input and output. One line per strategy.
STRATEGY_OPTIONS: dict[str, tuple[str, ...]] = {
    "convincing-wrong": ("per_problem", "random_share", "aggregation", "seed"),
    "uniform": ("per_problem", "seed"),
}


def _strategies_reading(name: str) -> str:
    """The strategies that read option ``name``, for the message that refuses it."""
    return ", ".join(f"--strategy {s}" for s, names in STRATEGY_OPTIONS.items() if name in names)


@command(
    "select",
    help=(
        'Pick solutions to label next. [bold]convincing-wrong[/bold] ("Let\'s Verify"): per '
        "problem, the highest-scoring solutions whose final answer is wrong; needs scored "
        "(`mathverify score`) and outcome-labeled solutions."
    ),
)
def select(
    ctx: typer.Context,
    input: InputOpt = "-",
    output: OutputOpt = "-",
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy", help=f"One of: {', '.join(STRATEGIES)}.", rich_help_panel=LABELING
        ),
    ] = "convincing-wrong",
    per_problem: Annotated[
        int,
        typer.Option(
            "--per-problem", "-k", help="Solutions to pick per problem.", rich_help_panel=LABELING
        ),
    ] = 4,
    random_share: Annotated[
        float,
        typer.Option(
            "--random-share",
            help="Share of each problem's picks drawn uniformly at random.",
            rich_help_panel=LABELING,
        ),
    ] = 0.0,
    aggregation: AggregateOpt = "min",
    seed: SeedOpt = 0,
) -> None:
    if strategy not in STRATEGIES:
        raise MathverifyError(f"--strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    read = STRATEGY_OPTIONS[strategy]
    refuse_unread(
        ctx,
        ("input", "output", "strategy", *read),
        f"--strategy {strategy}",
        _strategies_reading,
    )
    if per_problem < 1:
        raise MathverifyError(f"--per-problem must be at least 1, got {per_problem}")
    settings = {"strategy": strategy, "per_problem": per_problem, "seed": seed}
    if strategy == "convincing-wrong":
        settings.update(random_share=random_share, aggregate=aggregation)
    picked = select_solutions(
        read_records(input, Solution),
        strategy=strategy,
        per_problem=per_problem,
        random_share=random_share,
        aggregation=aggregation,
        seed=seed,
    )
    with RecordWriter(output, Solution, provenance=Provenance("select", settings)) as writer:
        writer.write_all(picked)
    console.print(f"select: {len(picked)} solutions picked ({strategy})")
