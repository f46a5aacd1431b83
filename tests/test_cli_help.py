"""Every command and option explains itself in --help."""

from __future__ import annotations

import click
import pytest
import typer.main
from typer.testing import CliRunner

from mathverify.cli import app

runner = CliRunner()


def all_commands() -> list[tuple[str, click.Command]]:
    root = typer.main.get_command(app)
    found = []

    def walk(prefix: list[str], group: click.Command) -> None:
        if isinstance(group, click.Group):
            for name, sub in group.commands.items():
                walk([*prefix, name], sub)
        else:
            found.append((" ".join(prefix), group))

    walk([], root)
    return found


def test_root_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("label", "eval"):
        assert name in result.output


@pytest.mark.parametrize(
    ("name", "cmd"), all_commands(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_each_command_has_help_for_every_option(name, cmd):
    result = runner.invoke(app, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert cmd.help, f"{name} has no help text"
    for param in cmd.params:
        if isinstance(param, click.Option):
            assert param.help, f"{name}: option {param.opts} has no help"
