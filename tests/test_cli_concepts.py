"""One concept, one option name, one meaning, across every command (issue #38).

The table :data:`CONCEPTS` says how each concept that several commands share is spelled,
what it means, and which spellings it must never have. The tests walk every subcommand's
options and fail on a concept with two names (a synonym in use, a short flag for two long
options), or one name with two meanings (another short flag, another default where one is
promised, a help that does not say the concept's words, two help texts for an option the
table does not list). Renamed options keep their old spelling as a hidden alias, which
takes part in no check here but must still work, with a note on stderr.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.core import TyperGroup
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.cli.app import IO

runner = CliRunner()


@dataclass(frozen=True)
class Concept:
    spellings: tuple[str, ...]  # the long name first, then its short flag if it has one
    meaning: str
    synonyms: tuple[str, ...] = ()  # spellings it must never have (old or tempting names)
    says: str = ""  # words every help of it contains: the concept, or its unit
    same_default: bool = False  # one default in every command (else per command or model)
    one_help: bool = True  # one help text in every command (after a "mode: " prefix)
    panel: str | None = None

    @property
    def name(self) -> str:
        return self.spellings[0]


CONCEPTS = (
    Concept(
        ("--input", "-i"),
        "the records (or file) the command reads; its help names what they are",
        synonyms=("--path", "--in", "--inputs", "--input-file", "--input-path"),
        one_help=False,
        panel=IO,
    ),
    Concept(
        ("--output", "-o"),
        "where the command writes: a JSONL, or the folder of a model or a data set",
        synonyms=("--output-dir", "--out-dir", "--out", "--output-path", "--outdir"),
        one_help=False,
        panel=IO,
    ),
    Concept(
        ("--problems", "-p"),
        "problem records (JSONL)",
        synonyms=("--problem-file", "--problem-records"),
        says="roblem",
        one_help=False,
        panel=IO,
    ),
    Concept(
        ("--n", "-n"),
        "samples per problem",
        synonyms=("--samples", "--num-samples", "--n-samples"),
        says="Samples per problem",
        one_help=False,  # summarize-seeds reads it from the runs it summarizes
    ),
    Concept(
        ("--rollouts",),
        "completions sampled per step prefix (label --method rollout)",
        synonyms=("--num-rollouts", "--rollout-k"),
        says="completions",
    ),
    Concept(("--k",), "the k of maj@k and pass@k (eval)", says="maj@k"),
    Concept(
        ("--batch-size", "-b"),
        "sequences per forward pass of the command's model; the help says which sequences",
        synonyms=("--bs", "--batch"),
        says="Sequences",
        one_help=False,
    ),
    Concept(
        ("--scorer-batch-size",),
        "sequences per scorer forward pass, where the command also runs a policy",
        says="Sequences",
    ),
    Concept(("--device",), "torch device of local models", synonyms=("--gpu",), same_default=True),
    Concept(("--seed",), "random seed", synonyms=("--random-seed",), same_default=True),
    Concept(
        ("--quiet", "-q"),
        "no progress bar on stderr",
        synonyms=("--no-progress", "--progress", "--silent"),
    ),
    Concept(
        ("--resume",),
        "continue a killed run",
        says="Continue a killed run",
        one_help=False,  # rows written (stages) or the last checkpoint (training)
        panel=IO,
    ),
    Concept(("--temperature", "-t"), "sampling temperature", synonyms=("--temp",)),
    Concept(("--policy",), "the policy model", synonyms=("--model-path", "--generator")),
    Concept(("--scorer", "-s"), "the verifier that scores steps", synonyms=("--verifier", "--prm")),
    Concept(("--aggregate", "-a"), "how step scores make a solution's score"),
    Concept(
        ("--method", "-m"),
        "which method the command runs; each command has its own list",
        says="One of",
        one_help=False,
    ),
    Concept(("--shard",), "one shard of a job array", panel=IO),
    Concept(("--limit",), "the first N problems", synonyms=("--max-problems",), panel=IO),
    Concept(("--split",), "the data set's split; each data set has its own", one_help=False),
    Concept(
        ("--json",),
        "a JSON report written to this path",
        says="JSON",
        one_help=False,  # eval also writes it to stdout with -
    ),
    Concept(
        ("--cut-after-first-wrong",),
        "the steps after the first wrong one are left out (unlabeled, or given no loss)",
        says="first",
        one_help=False,
    ),
    Concept(
        ("--value-loss",),
        "the value head's loss; each trainer has its own choices",
        says="loss",
        one_help=False,
    ),
    Concept(
        ("--sft-weight",),
        "the weight of a likelihood (SFT, NLL) term added to the command's main loss",
        says="weight",
        one_help=False,
    ),
)
BY_NAME = {c.name: c for c in CONCEPTS}

# Old spellings kept as hidden aliases: (command, old, new).
RENAMED = (
    ("train-policy", "--output-dir", "--output"),
    ("data synth", "--out-dir", "--output"),
    ("data math500", "--path", "--input"),
    ("data prm800k", "--path", "--input"),
    ("label", "--k", "--rollouts"),
    ("train-prm", "--no-progress", "--quiet"),
    ("train-value", "--no-progress", "--quiet"),
    ("search", "--no-progress", "--quiet"),
)


def commands() -> dict[str, Any]:
    found: dict[str, Any] = {}

    def walk(prefix: list[str], cmd: Any) -> None:
        if isinstance(cmd, TyperGroup):
            for name, sub in cmd.commands.items():
                walk([*prefix, name], sub)
        else:
            found[" ".join(prefix)] = cmd

    walk([], typer.main.get_command(app))
    return found


COMMANDS = commands()


@dataclass(frozen=True)
class Use:
    command: str
    long: str
    spellings: frozenset[str]  # the option's names; an off switch (--no-x) is not one
    off: frozenset[str]
    help: str
    default: Any
    type: str
    flag: bool
    panel: str | None


def value_type(param: Any) -> str:
    """The type of an option's value, None left out (``int | None`` is ``int``)."""
    return re.sub(r"\s*\|\s*None|None\s*\|\s*|Optional\[(.*)\]", r"\1", param.bare_type())


def uses() -> list[Use]:
    """Every visible option of every command (hidden aliases are not options at all)."""
    out = []
    for name, cmd in COMMANDS.items():
        for param in cmd.params:
            if param.param_type_name != "option" or param.hidden:
                continue
            long = next(o for o in param.opts if o.startswith("--"))
            out.append(
                Use(
                    name,
                    long,
                    frozenset(param.opts),
                    frozenset(param.secondary_opts),
                    param.help or "",
                    param.default,
                    value_type(param),
                    bool(param.is_flag),
                    getattr(param, "rich_help_panel", None),
                )
            )
    return out


USES = uses()


def without_mode(help_text: str) -> str:
    """The help after a prefix naming the mode that reads it (``rollout: ...``)."""
    return re.sub(r"^(--)?[\w, -]{1,30}: ", "", help_text)


def test_the_commands_are_all_walked() -> None:
    assert {"generate", "label", "score", "search", "eval", "data synth", "train-prm"} <= set(
        COMMANDS
    )


def test_no_concept_goes_by_a_second_name() -> None:
    synonyms = {s: c for c in CONCEPTS for s in c.synonyms}
    found = [
        f"{u.command}: {s} (say {synonyms[s].name}: {synonyms[s].meaning})"
        for u in USES
        for s in u.spellings | u.off
        if s in synonyms
    ]
    assert not found


def test_a_short_flag_means_one_option_in_every_command() -> None:
    longs: dict[str, set[str]] = defaultdict(set)
    for u in USES:
        for s in u.spellings:
            if not s.startswith("--"):
                longs[s].add(u.long)
    assert {s: sorted(names) for s, names in longs.items() if len(names) > 1} == {}


@pytest.mark.parametrize("concept", CONCEPTS, ids=lambda c: c.name)
def test_each_concept_has_one_spelling_and_one_meaning(concept: Concept) -> None:
    mine = [u for u in USES if u.long == concept.name]
    assert mine, f"no command has {concept.name}: drop it from the table"
    for u in mine:
        where = f"{u.command} {u.long}"
        assert u.spellings == frozenset(concept.spellings), f"{where}: {sorted(u.spellings)}"
        said = concept.says.lower() in u.help.lower()
        assert said, f"{where}: help does not say {concept.says!r}: {u.help}"
        if concept.panel is not None:
            assert u.panel == concept.panel, f"{where}: panel {u.panel}"
    if concept.same_default:
        defaults = {(u.command, repr(u.default)) for u in mine}
        assert len({d for _, d in defaults}) == 1, sorted(defaults)
    if concept.one_help:
        helps = {(u.command, without_mode(u.help)) for u in mine}
        assert len({h for _, h in helps}) == 1, sorted(helps)


def test_samples_per_problem_default_the_same_where_commands_sample() -> None:
    defaults = {u.command: u.default for u in USES if u.long == "--n"}
    assert defaults["generate"] == defaults["search"]


def test_an_option_of_several_commands_has_one_definition() -> None:
    """Options outside the table: one help (after the mode prefix), one type, one short flag."""
    shared: dict[str, list[Use]] = defaultdict(list)
    for u in USES:
        if u.long not in BY_NAME:
            shared[u.long].append(u)
    differ = {}
    for name, mine in shared.items():
        looks = {(without_mode(u.help), u.type, u.flag, u.spellings) for u in mine}
        if len(looks) > 1:
            differ[name] = sorted((u.command, u.help, u.type, sorted(u.spellings)) for u in mine)
    assert differ == {}


def test_long_commands_share_the_quiet_flag() -> None:
    for name in ("generate", "label", "score", "search", "train-prm", "train-orm", "train-value"):
        assert any(u.command == name and u.long == "--quiet" for u in USES), name


# --------------------------------------------------------------------------------------
# Old spellings: hidden, still working, with a note


def parse(command: str, args: list[str]) -> dict[str, Any]:
    """The options ``command`` parses from ``args``, without running it."""
    cmd = COMMANDS[command]
    return dict(cmd.make_context(command.split()[-1], list(args), resilient_parsing=True).params)


@pytest.mark.parametrize(("command", "old", "new"), RENAMED, ids=lambda x: str(x))
def test_an_old_spelling_is_hidden_from_help_and_the_option_table(command, old, new) -> None:
    assert not any(u.command == command and old in u.spellings for u in USES)
    result = runner.invoke(app, [*command.split(), "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert new in result.output
    assert not re.search(rf"(^|[\s│]){re.escape(old)}([\s│]|$)", result.output, re.M)


@pytest.mark.parametrize(
    ("command", "args", "name", "value", "note"),
    [
        ("label", ["--k", "3"], "rollouts", 3, "--k is deprecated; use --rollouts"),
        ("label", ["--k=5"], "rollouts", 5, "--k is deprecated; use --rollouts"),
        ("train-policy", ["--output-dir", "m"], "output_dir", "m", "use --output"),
        ("data synth", ["--out-dir", "d"], "out_dir", Path("d"), "--out-dir is deprecated"),
        ("data math500", ["--path", "f.jsonl"], "path", "f.jsonl", "use --input"),
        ("train-prm", ["--no-progress"], "quiet", True, "--no-progress is deprecated"),
        ("generate", ["--no-progress"], "quiet", True, "use --quiet"),
        ("train-orm", ["--progress"], "quiet", False, "--progress is deprecated and does nothing"),
    ],
)
def test_an_old_spelling_still_works_and_says_so(capsys, command, args, name, value, note) -> None:
    assert parse(command, args)[name] == value
    assert note in capsys.readouterr().err


def test_a_value_that_looks_like_an_old_spelling_is_left_alone(capsys) -> None:
    params = parse("label", ["--system", "--k", "--rollouts", "2"])
    assert params["system"] == "--k" and params["rollouts"] == 2
    assert "deprecated" not in capsys.readouterr().err


def test_an_old_spelling_runs_the_command(tmp_path: Path) -> None:
    out = tmp_path / "data"
    args = ["data", "synth", "--out-dir", str(out), "--train-size", "3", "--test-size", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "--out-dir is deprecated; use --output" in result.stderr
    assert len((out / "test.jsonl").read_text().splitlines()) == 2


# --------------------------------------------------------------------------------------
# eval takes its inputs with -i as every stage does, and as arguments as before


def test_eval_reads_inputs_given_with_i_as_it_reads_arguments(tmp_path: Path) -> None:
    from test_cli_label_eval import make_inputs

    problems, solutions = make_inputs(tmp_path, 3, 3)
    other = tmp_path / "other.jsonl"
    other.write_text(solutions.read_text())
    common = ["-p", str(problems), "--json", "-", "--names", "a,b"]
    by_argument = runner.invoke(app, ["eval", str(solutions), str(other), *common])
    by_option = runner.invoke(app, ["eval", "-i", str(solutions), "-i", str(other), *common])
    mixed = runner.invoke(app, ["eval", str(solutions), "-i", str(other), *common])
    for result in (by_argument, by_option, mixed):
        assert result.exit_code == 0, result.output
    reports = [
        [(r["name"], r["accuracy"]) for r in json.loads(x.stdout)["reports"]]
        for x in (by_argument, by_option, mixed)
    ]
    assert reports[0] == reports[1] == reports[2] == [("a", 2 / 3), ("b", 2 / 3)]


def test_eval_without_inputs_says_how_to_give_them(tmp_path: Path) -> None:
    from test_cli_label_eval import make_inputs

    problems, _ = make_inputs(tmp_path, 1, 1)
    result = runner.invoke(app, ["eval", "-p", str(problems)])
    assert result.exit_code == 2
    assert "-i FILE" in result.output
