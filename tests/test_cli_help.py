"""Every command and option explains itself in --help, in a help that reads as one tool:
options in panels, one line each, flags shown as flags, no name cut, -h and --version."""

from __future__ import annotations

import re

import pytest
import typer.main
from typer.core import TyperGroup
from typer.testing import CliRunner

from mathverify import __version__
from mathverify.cli import app

runner = CliRunner()
# The width the help is read at (issue #38): every name whole, search's help in 120 lines.
COLUMNS = {"COLUMNS": "100"}


def all_commands() -> list[tuple[str, object]]:
    root = typer.main.get_command(app)
    found = []

    def walk(prefix: list[str], group: object) -> None:
        if isinstance(group, TyperGroup):
            for name, sub in group.commands.items():
                walk([*prefix, name], sub)
        else:
            found.append((" ".join(prefix), group))

    walk([], root)
    return found


COMMANDS = all_commands()
IDS = [name for name, _ in COMMANDS]


def options(cmd: object) -> list[object]:
    return [p for p in cmd.params if p.param_type_name == "option" and not p.hidden]


def test_every_command_is_walked():
    assert {"generate", "search", "label", "eval", "data synth", "train-prm"} <= set(IDS)


def test_root_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("label", "eval", "search", "generate"):
        assert name in result.output


def test_version_prints_the_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"mathverify {__version__}"


@pytest.mark.parametrize("args", [[], ["data"]], ids=["root", "data"])
def test_h_is_help_on_the_groups(args):
    short, long = runner.invoke(app, [*args, "-h"]), runner.invoke(app, [*args, "--help"])
    assert short.exit_code == 0 and short.output == long.output


@pytest.mark.parametrize(("name", "cmd"), COMMANDS, ids=IDS)
def test_each_command_has_help_for_every_option(name, cmd):
    result = runner.invoke(app, [*name.split(), "-h"], env=COLUMNS)
    assert result.exit_code == 0, result.output
    assert result.output == runner.invoke(app, [*name.split(), "--help"], env=COLUMNS).output
    assert cmd.help, f"{name} has no help text"
    for param in options(cmd):
        assert param.help, f"{name}: option {param.opts} has no help"


@pytest.mark.parametrize(("name", "cmd"), COMMANDS, ids=IDS)
def test_an_option_has_a_one_line_help_in_a_panel(name, cmd):
    for param in options(cmd):
        flag = max(param.opts, key=len)
        assert "\n" not in param.help and len(param.help) <= 80, f"{name} {flag}: {param.help}"
        assert param.rich_help_panel, f"{name} {flag}: in no help panel"


@pytest.mark.parametrize(("name", "cmd"), COMMANDS, ids=IDS)
def test_no_option_name_is_cut_and_flags_show_as_flags(name, cmd):
    output = runner.invoke(app, [*name.split(), "--help"], env=COLUMNS).output
    assert "…" not in output, f"{name}: something is cut in\n{output}"
    assert "<bool>" not in output
    for param in options(cmd):
        for spelling in [*param.opts, *param.secondary_opts]:
            whole = rf"(?<![\w-]){re.escape(spelling)}(?![\w-])"
            assert re.search(whole, output), f"{name}: {spelling} is not whole in\n{output}"


def test_search_help_fits_in_120_lines_at_100_columns():
    result = runner.invoke(app, ["search", "--help"], env=COLUMNS)
    assert result.exit_code == 0
    lines = result.output.rstrip("\n").splitlines()
    assert len(lines) <= 120, f"{len(lines)} lines"
    assert max(len(line) for line in lines) <= 100
    panels = re.findall(r"╭─ (.+?) ─", result.output)
    assert panels == [
        "Input/output",
        "Model",
        "Sampling",
        "Search",
        "Scoring",
        "Grading",
        "Performance",
    ]
