"""``mathverify summarize-seeds``: the demo's headline numbers as mean and spread over seeds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mathverify.cli.app import IO, SAMPLING, command, console
from mathverify.eval.seeds import markdown, summarize


@command("summarize-seeds")
def summarize_seeds(
    run_dirs: Annotated[
        list[str],
        typer.Argument(help="One run directory per seed, each with eval.json (+ verifier.json)."),
    ],
    json_path: Annotated[
        str | None,
        typer.Option("--json", help="Write the summary as JSON to this path.", rich_help_panel=IO),
    ] = None,
    markdown_path: Annotated[
        str | None,
        typer.Option(
            "--markdown", help="Write the table as markdown to this path.", rich_help_panel=IO
        ),
    ] = None,
    n: Annotated[
        int | None,
        typer.Option(
            "--n",
            "-n",
            help="Samples per problem to read maj, pass and best-of at (default: all drawn).",
            rich_help_panel=SAMPLING,
        ),
    ] = None,
) -> None:
    """Mean, std and min-max over seeds of greedy, one sample, maj@N, pass@N and PRM best-of-N
    (as `make demo` writes them), with the paired margins and whether each holds at every seed."""
    summary = summarize(run_dirs, n=n)
    for metric, missing in summary.left_out.items():
        console.print(
            f"warning: summarize-seeds: {metric} missing in {missing} of {len(run_dirs)} runs "
            "(left out of the table)",
            soft_wrap=True,
        )
    table = markdown(summary)
    for path, text in (
        (json_path, json.dumps(summary.to_dict(), indent=2) + "\n"),
        (markdown_path, table),
    ):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text, encoding="utf-8")
    typer.echo(table, nl=False)
