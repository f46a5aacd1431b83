"""``mathverify data synth``: write the synthetic arithmetic task (train and test problems) as JSONL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mathverify.cli.app import IO, SeedOpt, command, console
from mathverify.cli.data import data_app
from mathverify.data.synthetic import SynthConfig, make_splits
from mathverify.errors import MathverifyError
from mathverify.records import write_records

TASK = "Task"  # panel of the synthetic task's shape

_DEFAULTS = SynthConfig()


def synth(
    out_dir: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Folder for train.jsonl and test.jsonl (created if missing).",
            rich_help_panel=IO,
        ),
    ],
    train_size: Annotated[
        int,
        typer.Option(
            "--train-size", help="Train problems (gold solutions in meta).", rich_help_panel=IO
        ),
    ] = _DEFAULTS.train_size,
    test_size: Annotated[
        int, typer.Option("--test-size", help="Test problems.", rich_help_panel=IO)
    ] = _DEFAULTS.test_size,
    min_ops: Annotated[
        int,
        typer.Option("--min-ops", help="Fewest operations in an expression.", rich_help_panel=TASK),
    ] = _DEFAULTS.min_ops,
    max_ops: Annotated[
        int,
        typer.Option("--max-ops", help="Most operations in an expression.", rich_help_panel=TASK),
    ] = _DEFAULTS.max_ops,
    min_operand: Annotated[
        int, typer.Option("--min-operand", help="Smallest operand.", rich_help_panel=TASK)
    ] = _DEFAULTS.min_operand,
    max_operand: Annotated[
        int, typer.Option("--max-operand", help="Largest operand.", rich_help_panel=TASK)
    ] = _DEFAULTS.max_operand,
    max_value: Annotated[
        int,
        typer.Option(
            "--max-value",
            help="Largest value any subexpression may take (smallest is 0).",
            rich_help_panel=TASK,
        ),
    ] = _DEFAULTS.max_value,
    order: Annotated[
        str,
        typer.Option(
            "--order",
            help="Gold solutions' order: any (a random ready operation) or left.",
            rich_help_panel=TASK,
        ),
    ] = _DEFAULTS.order,
    op_weights: Annotated[
        str,
        typer.Option(
            "--op-weights",
            help="Relative frequency of + - * in the expressions, e.g. 3,1,2.",
            rich_help_panel=TASK,
        ),
    ] = ",".join(f"{w:g}" for w in _DEFAULTS.op_weights),
    regroup: Annotated[
        bool,
        typer.Option(
            "--regroup/--no-regroup",
            help="Gold steps may also evaluate any adjacent pair of a + or * chain.",
            rich_help_panel=TASK,
        ),
    ] = _DEFAULTS.regroup,
    code_steps: Annotated[
        bool,
        typer.Option(
            "--code-steps",
            help="Gold steps compute in a python block (for --step-format react).",
            rich_help_panel=TASK,
        ),
    ] = _DEFAULTS.code_steps,
    seed: SeedOpt = _DEFAULTS.seed,
) -> None:
    """Generate seeded arithmetic problems with step-by-step gold solutions; train and test share no expression."""
    config = SynthConfig(
        min_ops=min_ops,
        max_ops=max_ops,
        min_operand=min_operand,
        max_operand=max_operand,
        max_value=max_value,
        train_size=train_size,
        test_size=test_size,
        order=order,  # type: ignore[arg-type]
        op_weights=_weights(op_weights),
        regroup=regroup,
        code_steps=code_steps,
        seed=seed,
    )
    train, test = make_splits(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_records(out_dir / "train.jsonl", train)
    write_records(out_dir / "test.jsonl", test)
    console.print(
        f"wrote {len(train)} train and {len(test)} test problems to {out_dir}/{{train,test}}.jsonl"
    )


def _weights(text: str) -> tuple[float, float, float]:
    try:
        weights = tuple(float(part) for part in text.split(","))
    except ValueError:
        weights = ()
    if len(weights) != 3:
        raise MathverifyError(f"--op-weights: expected three numbers for + - *, got {text!r}")
    return weights  # type: ignore[return-value]


command("synth", renamed={"--out-dir": "--output"}, on=data_app, help=synth.__doc__)(synth)
