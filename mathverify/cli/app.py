"""The typer application, shared option types, and the error boundary of every command.

Commands live one group per module in this package and stay thin: parse options, call
library code, print at the edge. A :class:`~mathverify.errors.MathverifyError` becomes one
line on stderr and exit code 2; a traceback appears only with ``--debug`` or
``MATHVERIFY_DEBUG=1``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from mathverify.errors import MathverifyError
from mathverify.provenance import Provenance
from mathverify.records import STDIO, Record, RecordWriter

app = typer.Typer(
    name="mathverify",
    help=(
        "Verifier-guided math reasoning. Every stage reads and writes JSONL (a path or - for "
        "stdin/stdout), so stages chain in pipes and Makefiles. Logs go to stderr."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

# Logs and progress go to stderr so stdout can carry records.
console = Console(stderr=True)

DEBUG_ENV = "MATHVERIFY_DEBUG"


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0", "false", "False")


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks (same as MATHVERIFY_DEBUG=1).")
    ] = False,
) -> None:
    if debug:
        os.environ[DEBUG_ENV] = "1"


F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` as one line on stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def guarded(fn: F) -> F:
    """Turn domain errors into one line + exit 2, and Ctrl-C into a resume hint + exit 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MathverifyError as exc:
            if debug_enabled():
                raise
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            if debug_enabled():
                raise
            typer.echo("interrupted: rows written so far are kept; rerun with --resume", err=True)
            raise typer.Exit(130) from None
        except BrokenPipeError:
            # `mathverify ... | head` closed the pipe: not an error worth a traceback.
            sys.stderr.close()
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]


def command(name: str | None = None, **kwargs: Any) -> Callable[[F], F]:
    """Register ``fn`` as a subcommand with the error boundary applied."""

    def decorate(fn: F) -> F:
        app.command(name, **kwargs)(guarded(fn))
        return fn

    return decorate


# Shared option types, so the same option reads the same everywhere.
InputArg = Annotated[str, typer.Option("--input", "-i", help="Input JSONL path, or - for stdin.")]
OutputOpt = Annotated[
    str, typer.Option("--output", "-o", help="Output JSONL path, or - for stdout.")
]
ProblemsOpt = Annotated[
    str,
    typer.Option("--problems", "-p", help="Problem records (JSONL) with gold answers."),
]
ResumeOpt = Annotated[
    bool,
    typer.Option(
        "--resume",
        help=(
            "Keep the existing output and skip records already in it (after a crash or "
            "Ctrl-C). The settings stored with its records must equal this run's, else the "
            "command stops, naming the setting that differs."
        ),
    ),
]
ShardOpt = Annotated[
    str | None,
    typer.Option(
        "--shard",
        help="Process only shard i of n (i/n, 0-based), assigned by a stable hash of the problem id.",
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed; same seed, same JSONL.")]


def existing_path(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise MathverifyError(f"{path}: no such file or directory")
    return p


@contextlib.contextmanager
def progress_bar(label: str, total: int, unit: str) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; yields ``advance(n)``."""
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


# ---------------------------------------------------------------------------------------
# Options given, and resumes: the checks behind "no silent wrong number".

# Where a value the user chose comes from (not a default).
# By name: typer >= 0.29 vendors its own click (typer._click), whose ParameterSource is
# another enum than click.core's, so comparing members would never match.
_GIVEN = ("COMMANDLINE", "ENVIRONMENT")


def option_flag(ctx: typer.Context, name: str) -> str:
    """How the user spells parameter ``name`` (``--soft/--hard`` for a flag pair)."""
    for param in ctx.command.params:
        if param.name == name:
            opts = getattr(param, "opts", []) + getattr(param, "secondary_opts", [])
            longest = [o for o in opts if o.startswith("--")] or opts
            return "/".join(longest) or name
    return name


def given_options(ctx: typer.Context) -> list[str]:
    """Names of the parameters the user set (command line or environment), in command order."""
    return [
        param.name
        for param in ctx.command.params
        if param.name and getattr(ctx.get_parameter_source(param.name), "name", None) in _GIVEN
    ]


def refuse_unread(
    ctx: typer.Context,
    read: Iterable[str],
    chosen: str,
    readers: Callable[[str], str | None] = lambda name: None,
) -> None:
    """Refuse an option given that ``chosen`` (e.g. ``--method outcome``) does not read.

    A silently ignored option is a setting the user believes shaped the output and did not.
    ``readers(name)`` says which choices do read it, for the message.
    """
    allowed = set(read)
    for name in given_options(ctx):
        if name not in allowed:
            where = readers(name)
            hint = f" (it applies to {where})" if where else ""
            raise MathverifyError(f"{option_flag(ctx, name)} does not apply to {chosen}{hint}")


def check_resumable(path: str, record_type: type[Record], provenance: Provenance) -> None:
    """Refuse a ``--resume`` of ``path`` written with other settings, before a model loads.

    Opening a writer to resume only appends, so the check leaves the file as it was; the
    command opens its own writer again once its models are loaded.
    """
    if path == STDIO or not Path(path).exists():
        return
    RecordWriter(path, record_type, resume=True, provenance=provenance).close()
