"""The typer application, shared option types, and the error boundary of every command.

Commands live one group per module in this package and stay thin: parse options, call
library code, print at the edge. A :class:`~mathverify.errors.MathverifyError` becomes one
line on stderr and exit code 2; a traceback appears only with ``--debug`` or
``MATHVERIFY_DEBUG=1``.

One tool, one vocabulary: an option shared by several commands is defined once here (or in
``policy_options``, ``grading_options``), with a one-line help and a help panel of the same
name everywhere (input/output, model, sampling, search, scoring, grading, performance);
details live in docs/. A renamed option keeps its old spelling as a hidden alias that says
so on stderr (:class:`Command`). ``tests/test_cli_concepts.py`` holds the table of concepts.
Progress goes to stderr as one rich bar (:func:`progress_bar`) that also draws the library's
events (:mod:`mathverify.progress`); ``--quiet`` turns it off.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

from mathverify import __version__
from mathverify.errors import MathverifyError
from mathverify.progress import reporting
from mathverify.provenance import Provenance
from mathverify.records import STDIO, Record, RecordWriter

# Help panels: every option sits in one, under the same name in every command.
IO = "Input/output"
MODEL = "Model"
SAMPLING = "Sampling"
SEARCH = "Search"
SCORING = "Scoring"
GRADING = "Grading"
PERFORMANCE = "Performance"
# Panels of one command's own options, where none of the above fits.
LABELING = "Labeling"
TRAINING = "Training"
METRICS = "Metrics"

DOCS = "docs/"  # where an option's detail lives: its help says "see docs/PAGE.md"


def _flags_as_flags(params: Iterable[Any]) -> None:
    """Show an on/off option as its flag (``--distinct/--no-distinct``), not as ``<bool>``."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""


def _help_option(option: Any) -> Any:
    """``-h/--help`` shown as a flag in the input/output panel (no panel of its own)."""
    if option is not None:
        _flags_as_flags([option])
        option.rich_help_panel = IO
    return option


class Command(TyperCommand):
    """A mathverify command: renamed options keep their old spelling as a hidden alias.

    ``renamed`` maps an old spelling to the new one (``--output-dir`` -> ``--output``), or
    to None for a flag that now does nothing. The old spelling is rewritten before parsing,
    with a note on stderr, so it appears in no help and no option table, yet old scripts
    and Makefiles keep working.
    """

    renamed: ClassVar[dict[str, str | None]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _flags_as_flags(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        return _help_option(super().get_help_option(ctx))

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if self.renamed:
            args = rewrite_renamed(args, self.renamed, self._value_options())
        return super().parse_args(ctx, args)

    def _value_options(self) -> set[str]:
        """Spellings of the options that take a value (the next word is not an option)."""
        return {
            spelling
            for param in self.params
            if param.param_type_name == "option" and not getattr(param, "is_flag", False)
            for spelling in param.opts
        }


class Group(TyperGroup):
    """The root command and ``data``: flags shown as flags, ``-h`` as ``--help``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _flags_as_flags(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        _flags_as_flags([option] if option is not None else [])
        return option


def rewrite_renamed(
    args: list[str], renamed: dict[str, str | None], takes_value: set[str]
) -> list[str]:
    """``args`` with each old spelling in ``renamed`` replaced by its new one (dropped when
    None), saying so on stderr. Values of options (``takes_value``) and everything after
    ``--`` are left as they are."""
    out: list[str] = []
    skip_value = False
    for index, arg in enumerate(args):
        if skip_value:
            out.append(arg)
            skip_value = False
            continue
        if arg == "--":
            out.extend(args[index:])
            break
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in renamed:
            new = renamed[name]
            if new is None:
                typer.echo(
                    f"warning: {name} is deprecated and does nothing (the default)", err=True
                )
                continue
            typer.echo(f"warning: {name} is deprecated; use {new}", err=True)
            name, arg = new, new + eq + value
        out.append(arg)
        skip_value = name in takes_value and not eq
    return out


def _command_class(renamed: dict[str, str | None] | None) -> type[Command]:
    if not renamed:
        return Command
    return type("Command", (Command,), {"renamed": dict(renamed)})


HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="mathverify",
    help=(
        "Verifier-guided math reasoning. Every stage reads and writes JSONL (a path or - for "
        "stdin/stdout), so stages chain in pipes and Makefiles. Logs go to stderr."
    ),
    cls=Group,
    context_settings=HELP_OPTIONS,
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


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mathverify {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks (same as MATHVERIFY_DEBUG=1).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
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


def command(
    name: str | None = None,
    *,
    renamed: dict[str, str | None] | None = None,
    on: typer.Typer | None = None,
    **kwargs: Any,
) -> Callable[[F], F]:
    """Register ``fn`` as a subcommand (of ``on``, default the root) with the error boundary
    applied; ``renamed`` keeps old option spellings working (:class:`Command`)."""

    def decorate(fn: F) -> F:
        (on or app).command(name, cls=_command_class(renamed), **kwargs)(guarded(fn))
        return fn

    return decorate


# Shared options: one definition, one help text, one panel, in every command that has them.
INPUT_HELP = "Input JSONL, or - for stdin."
InputOpt = Annotated[str, typer.Option("--input", "-i", help=INPUT_HELP, rich_help_panel=IO)]
OutputOpt = Annotated[
    str,
    typer.Option("--output", "-o", help="Output JSONL, or - for stdout.", rich_help_panel=IO),
]
ProblemsOpt = Annotated[
    str | None,
    typer.Option(
        "--problems", "-p", help="Problem records (JSONL) with gold answers.", rich_help_panel=IO
    ),
]
ResumeOpt = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="Continue a killed run: keep rows written, refuse other settings.",
        rich_help_panel=IO,
    ),
]
ShardOpt = Annotated[
    str | None,
    typer.Option(
        "--shard",
        metavar="I/N",
        help="Only shard I of N (0-based), by a stable hash of the problem id.",
        rich_help_panel=IO,
    ),
]
LimitOpt = Annotated[
    int | None,
    typer.Option("--limit", help="Only the first N problems (of this shard).", rich_help_panel=IO),
]
QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="No progress bar on stderr.", rich_help_panel=IO),
]
SeedOpt = Annotated[
    int,
    typer.Option("--seed", help="Random seed: same seed, same output.", rich_help_panel=SAMPLING),
]
DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device",
        help="Torch device of local models: auto (cuda if any), cpu, cuda:1 ...",
        rich_help_panel=PERFORMANCE,
    ),
]
DEFAULT_DEVICE = "auto"
# Old spellings of the shared options, for ``command(renamed=...)``.
QUIET_RENAMED: dict[str, str | None] = {"--no-progress": "--quiet", "--progress": None}


def existing_path(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise MathverifyError(f"{path}: no such file or directory")
    return p


class _RateColumn(ProgressColumn):
    """Units finished per second over the last half minute (rich's own estimate)."""

    def render(self, task: Task) -> Text:
        speed = task.speed
        if not speed:
            return Text("")
        rate = f"{speed:.2f}" if speed < 10 else f"{speed:,.0f}"
        return Text(f"{rate}/s")


class Bar:
    """One progress bar on stderr: units done of total, rate, ETA, and notes on where the
    current unit of work is (:mod:`mathverify.progress` sends the library's here)."""

    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self._progress, self._task = progress, task
        self._notes: dict[str, str] = {}

    def advance(self, n: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)

    def reach(self, completed: int) -> None:
        """At least ``completed`` units done (the end of a batch whose method reported less)."""
        if self._progress is not None and self._task is not None:
            done = self._progress.tasks[self._task].completed
            if completed > done:
                self._progress.update(self._task, completed=completed)

    @property
    def completed(self) -> int:
        if self._progress is None or self._task is None:
            return 0
        return int(self._progress.tasks[self._task].completed)

    def note(self, **parts: str) -> None:
        if self._progress is None or self._task is None:
            return
        for key, value in parts.items():
            if value:
                self._notes[key] = value
            else:
                self._notes.pop(key, None)
        text = ", ".join(f"{k} {v}" for k, v in self._notes.items())
        self._progress.update(self._task, notes=text)


@contextlib.contextmanager
def progress_bar(label: str, total: int | None, unit: str, *, quiet: bool = False) -> Iterator[Bar]:
    """A rich progress bar on stderr that also receives the library's progress events
    (:func:`mathverify.progress.reporting`); with ``quiet``, one that shows nothing.

    stdout is left alone (no redirection), so records written there stay clean.
    """
    if quiet:
        yield Bar(None, None)
        return
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[notes]}"),
        console=console,
        redirect_stdout=False,
        redirect_stderr=False,
    ) as progress:
        bar = Bar(progress, progress.add_task(label, total=total, notes=""))
        with reporting(bar):
            yield bar


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
