"""``mathverify data``: write benchmark problems and converted labeled datasets as JSONL.

Thin commands over :mod:`mathverify.data.loaders` (problems),
:mod:`mathverify.data.converters` (labeled solutions) and :mod:`mathverify.data.stepwise`
(the hub's stepwise-supervision layout, both ways). Other modules may add commands to
:data:`data_app`.

A converter stamps its settings (the converter, the split, what it keeps) into each record's
``meta.provenance.data``, and ``--resume`` refuses a partial file converted with other ones.
The input path is not among them: the same file read from stdin or by another path gives
the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any

import typer

from mathverify.cli.app import (
    HELP_OPTIONS,
    IO,
    LABELING,
    Group,
    InputOpt,
    OutputOpt,
    ResumeOpt,
    ShardOpt,
    app,
    command,
    console,
    existing_path,
)
from mathverify.data import converters, loaders, stepwise
from mathverify.errors import MathverifyError
from mathverify.labeling import stepwise_export
from mathverify.provenance import Provenance
from mathverify.records import (
    STDIO,
    Problem,
    RecordWriter,
    Solution,
    display_name,
    in_shard,
    parse_shard,
)
from mathverify.training.verifier_config import PRMTrainConfig, config_help

data_app = typer.Typer(
    help=(
        "Write problems from benchmarks (MATH500, MARIO_EVAL, GSM8K, hub datasets) and labeled "
        "solutions converted from PRM800K, Math-Shepherd, ProcessBench and the hub's stepwise "
        "layout (prompt, completions, labels), as JSONL; export-stepwise writes that layout."
    ),
    cls=Group,
    context_settings=HELP_OPTIONS,
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")


# --input was --path before: the old spelling still works, with a note.
RENAMED: dict[str, str | None] = {"--path": "--input"}


def _register(name: str, help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return command(name, renamed=RENAMED, on=data_app, help=help)


PathOpt = Annotated[
    str | None,
    typer.Option(
        "--input",
        "-i",
        help="Input file (default: the file under MATHVERIFY_DATA).",
        rich_help_panel=IO,
    ),
]
RequiredPathOpt = InputOpt
ProblemsOutOpt = Annotated[
    str | None,
    typer.Option(
        "--problems-out",
        help="Also write the problems (JSONL, one per problem id).",
        rich_help_panel=IO,
    ),
]
SkipBadOpt = Annotated[
    bool,
    typer.Option(
        "--skip-bad",
        help="Skip malformed rows (counted) instead of stopping at the first.",
        rich_help_panel=IO,
    ),
]


# The same options as train-prm's, one definition each.
_LABEL_SCHEME_HELP = config_help(PRMTrainConfig, "label_scheme")
_NEUTRAL_HELP = config_help(PRMTrainConfig, "neutral")


def _say(message: str) -> None:
    # markup=False: file names like "x.json item [3]" must print as they are.
    console.print(message, markup=False, highlight=False, soft_wrap=True)


def _write_problems(
    command: str, load: Callable[[], list[Problem]], output: str, shard: str | None
) -> None:
    shard_spec = parse_shard(shard)  # before loading: a bad option fails fast
    other_shard = 0
    problems = load()
    with RecordWriter(output, Problem) as writer:
        for problem in problems:
            if not in_shard(problem.id, shard_spec):
                other_shard += 1
                continue
            writer.write(problem)
    _say(
        f"data {command}: wrote {writer.written} problems to {display_name(output)}"
        f" (skipped {other_shard} in other shards)"
    )


@_register("math500", "MATH500 problems (id = unique_id; meta: subject, level, solution).")
def math500(output: OutputOpt = "-", path: PathOpt = None, shard: ShardOpt = None) -> None:
    _write_problems("math500", lambda: loaders.load_math500(path), output, shard)


@_register(
    "mario",
    "The 5,000 MATH test problems of MARIO_EVAL's qaf file (id = mario-INDEX; meta: human_type).",
)
def mario(output: OutputOpt = "-", path: PathOpt = None, shard: ShardOpt = None) -> None:
    _write_problems("mario", lambda: loaders.load_mario(path), output, shard)


@_register("gsm8k", "GSM8K problems (id = gsm8k-SPLIT-ROW; answer = the number after ####).")
def gsm8k(
    split: Annotated[
        str, typer.Option("--split", help="train or test.", rich_help_panel=IO)
    ] = "test",
    output: OutputOpt = "-",
    path: PathOpt = None,
    shard: ShardOpt = None,
) -> None:
    _write_problems("gsm8k", lambda: loaders.load_gsm8k(split, path), output, shard)


@_register(
    "hub",
    "Problems from a Hugging Face hub dataset (needs network or a cached copy), mapped like the "
    "local files: e.g. HuggingFaceH4/MATH-500 --split test, openai/gsm8k --split test.",
)
def hub(
    name: Annotated[str, typer.Argument(help="Hub dataset name, e.g. HuggingFaceH4/MATH-500.")],
    split: Annotated[
        str, typer.Option("--split", help="Dataset split, e.g. test.", rich_help_panel=IO)
    ],
    output: OutputOpt = "-",
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="Dataset config (default: known per name, e.g. main).",
            rich_help_panel=IO,
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help=f"Row format: {', '.join(loaders.FORMATS)} (default: from name, columns).",
            rich_help_panel=IO,
        ),
    ] = None,
    shard: ShardOpt = None,
) -> None:
    _write_problems(
        "hub", lambda: loaders.load_hub(name, split, config=config, fmt=fmt), output, shard
    )


def _write_converted(
    command: str,
    settings: dict[str, Any],
    path: str,
    converted: Iterable[converters.Converted],
    stats: converters.ConvertStats,
    output: str,
    problems_out: str | None,
    shard: str | None,
    resume: bool,
) -> None:
    if problems_out is not None and problems_out == output:
        raise MathverifyError("--problems-out must differ from --output")
    if path != STDIO:
        existing_path(path)  # before the writers open (and truncate) the outputs
    shard_spec = parse_shard(shard)
    other_shard = already = 0
    provenance = Provenance("data", {"converter": command, **settings})
    problem_writer = (
        RecordWriter(problems_out, Problem, resume=resume, provenance=provenance)
        if problems_out
        else None
    )
    try:
        with RecordWriter(output, Solution, resume=resume, provenance=provenance) as writer:
            for item in converted:
                if not in_shard(item.problem.id, shard_spec):
                    other_shard += 1
                    continue
                # The problem first (a no-op when its id is written): a run killed between the
                # two writes must not leave a solution whose problem is missing on --resume.
                if problem_writer is not None:
                    problem_writer.write(item.problem)
                if writer.done(item.solution.key()):
                    already += 1
                    continue
                writer.write(item.solution)
    finally:
        if problem_writer is not None:
            problem_writer.close()
    wrote = f"{writer.written} solutions to {display_name(output)}"
    if problem_writer is not None:
        wrote += f" and {problem_writer.written} problems to {display_name(problems_out)}"
    skipped = {
        "bad": stats.skipped_bad,
        "quality-control": stats.skipped_quality_control,
        "with no labeled step": stats.skipped_empty,
        "in other shards": other_shard,
        "already written": already,
    }
    total = sum(skipped.values())
    detail = ", ".join(f"{n} {what}" for what, n in skipped.items() if n)
    message = f"data {command}: read {stats.rows} rows, wrote {wrote}; skipped {total}"
    if detail:
        message += f" ({detail})"
    if stats.errors:
        message += f"; first bad row: {stats.errors[0]}"
    _say(message)


@_register(
    "prm800k",
    "Labeled solutions from raw PRM800K rows (phase 1 or 2): the labeler's chosen trajectory, "
    "ratings -1/0/1 in step_labels.",
)
def prm800k(
    path: RequiredPathOpt,
    output: OutputOpt = "-",
    problems_out: ProblemsOutOpt = None,
    keep_quality_control: Annotated[
        bool,
        typer.Option(
            "--keep-quality-control",
            help="Keep quality-control rows (skipped by default).",
            rich_help_panel=IO,
        ),
    ] = False,
    skip_bad: SkipBadOpt = False,
    shard: ShardOpt = None,
    resume: ResumeOpt = False,
) -> None:
    stats = converters.ConvertStats()
    rows = converters.convert_prm800k(
        path, keep_quality_control=keep_quality_control, skip_bad=skip_bad, stats=stats
    )
    settings = {"keep_quality_control": keep_quality_control}
    _write_converted("prm800k", settings, path, rows, stats, output, problems_out, shard, resume)


@_register(
    "math-shepherd",
    "Labeled solutions from Math-Shepherd rows (steps split at the ки tags, +/- as 1/0).",
)
def math_shepherd(
    path: RequiredPathOpt,
    output: OutputOpt = "-",
    problems_out: ProblemsOutOpt = None,
    skip_bad: SkipBadOpt = False,
    shard: ShardOpt = None,
    resume: ResumeOpt = False,
) -> None:
    stats = converters.ConvertStats()
    rows = converters.convert_math_shepherd(path, skip_bad=skip_bad, stats=stats)
    _write_converted("math-shepherd", {}, path, rows, stats, output, problems_out, shard, resume)


@_register(
    "processbench",
    "Labeled solutions from a ProcessBench split (1 before the first wrong step, 0 at it, "
    "null after), plus one problem per row with --problems-out.",
)
def processbench(
    split: Annotated[
        str,
        typer.Option(
            "--split",
            help=f"One of {', '.join(converters.PROCESSBENCH_SPLITS)}.",
            rich_help_panel=IO,
        ),
    ],
    output: OutputOpt = "-",
    path: PathOpt = None,
    problems_out: ProblemsOutOpt = None,
    skip_bad: SkipBadOpt = False,
    shard: ShardOpt = None,
    resume: ResumeOpt = False,
) -> None:
    if split not in converters.PROCESSBENCH_SPLITS:
        choices = ", ".join(converters.PROCESSBENCH_SPLITS)
        raise MathverifyError(f"--split {split!r}: choose one of {choices}")
    source = path or str(converters.default_processbench_path(split))
    stats = converters.ConvertStats()
    rows = converters.convert_processbench(source, split=split, skip_bad=skip_bad, stats=stats)
    settings = {"split": split}
    _write_converted(
        "processbench", settings, source, rows, stats, output, problems_out, shard, resume
    )


@_register(
    "stepwise",
    "Labeled solutions from the hub's stepwise-supervision layout (prompt, completions, labels): "
    "trl-lib/math_shepherd, trl-lib/prm800k, TRL's PRM data.",
)
def stepwise_command(
    path: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="JSONL, parquet, - for stdin, or a hub dataset (e.g. trl-lib/math_shepherd).",
            rich_help_panel=IO,
        ),
    ],
    output: OutputOpt = "-",
    problems_out: ProblemsOutOpt = None,
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help=f"Hub dataset split (default: {stepwise.DEFAULT_HUB_SPLIT}).",
            rich_help_panel=IO,
        ),
    ] = None,
    skip_bad: SkipBadOpt = False,
    shard: ShardOpt = None,
    resume: ResumeOpt = False,
) -> None:
    stats = converters.ConvertStats()
    hub = path != STDIO and stepwise.is_hub_name(path)
    # Opens the input now (a missing file, a hub offline fail before any output is written).
    rows = stepwise.convert_stepwise(path, split=split, skip_bad=skip_bad, stats=stats)
    settings = {"hub": path if hub else None, "split": split or stepwise.DEFAULT_HUB_SPLIT}
    if not hub:
        settings["split"] = None
    # STDIO: the input is open already, and a hub name is no path to check.
    _write_converted("stepwise", settings, STDIO, rows, stats, output, problems_out, shard, resume)


@_register(
    "export-stepwise",
    "Write labeled solutions in the hub's stepwise-supervision layout (prompt, completions, "
    "labels as booleans), as JSONL or parquet (by the output's suffix).",
)
def export_stepwise_command(
    path: Annotated[
        str,
        typer.Option(
            "--input", "-i", help="Labeled solutions (JSONL), or - for stdin.", rich_help_panel=IO
        ),
    ],
    problems: Annotated[
        str,
        typer.Option(
            "--problems",
            "-p",
            help="Problem records (JSONL) giving each solution's problem text.",
            rich_help_panel=IO,
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="Output JSONL, a .parquet file, or - for stdout.",
            rich_help_panel=IO,
        ),
    ] = "-",
    label_scheme: Annotated[
        str, typer.Option("--label-scheme", help=_LABEL_SCHEME_HELP, rich_help_panel=LABELING)
    ] = "auto",
    neutral: Annotated[
        str, typer.Option("--neutral", help=_NEUTRAL_HELP, rich_help_panel=LABELING)
    ] = "positive",
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help="soft labels: a step scored below this (in [0, 1]) is wrong.",
            rich_help_panel=LABELING,
        ),
    ] = None,
    skip_bad: SkipBadOpt = False,
) -> None:
    if path != STDIO:
        existing_path(path)
    existing_path(problems)
    stats = stepwise_export.ExportStats()
    rows = stepwise_export.export_stepwise(
        path,
        problems,
        label_scheme=label_scheme,
        neutral=neutral,
        threshold=threshold,
        skip_bad=skip_bad,
        stats=stats,
    )
    stepwise.write_stepwise(rows, output)
    skipped = {"bad": stats.skipped_bad, "with no labeled first step": stats.skipped_unlabeled}
    message = (
        f"data export-stepwise: read {stats.solutions} solutions, wrote {stats.written} rows "
        f"to {display_name(output)}"
    )
    if sum(skipped.values()):
        detail = ", ".join(f"{n} {what}" for what, n in skipped.items() if n)
        message += f"; skipped {sum(skipped.values())} ({detail})"
    if stats.cut:
        message += f"; {stats.cut} rows end before an unlabeled step"
    if stats.first_error:
        message += f"; first bad row: {stats.first_error}"
    _say(message)
