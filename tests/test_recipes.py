"""``train-prm`` / ``train-orm --recipe``: named presets of the head, backbone and budget.

The table below is the documented values (docs/training.md); an option given explicitly
wins over the recipe's value, even one equal to the default --help shows; the default recipe
is the one the demo's Makefile spells out; the Makefiles resolve to the settings they had
before recipes existed; a tiny run per recipe records the recipe in the model's card.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.cli.train_verifiers import recipe_config
from mathverify.errors import MathverifyError
from mathverify.models.card import load_card
from mathverify.models.tiny import save_random_policy
from mathverify.training.recipes import DEFAULT_RECIPE, RECIPE_FIELDS, RECIPES
from mathverify.training.verifier_config import ORMTrainConfig, PRMTrainConfig

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
CONFIGS = {"train-prm": PRMTrainConfig, "train-orm": ORMTrainConfig}
PATHS = ["-i", "labeled.jsonl", "-p", "problems.jsonl", "-o", "model", "--init", "policy"]

FROZEN = {"step_features": "likelihood", "head": "mlp", "freeze_backbone": True}
FINETUNE = {"step_features": "hidden", "head": "linear", "freeze_backbone": False}
# (command, recipe, what it resolves to): the values docs/training.md lists.
TABLE = [
    ("train-prm", "frozen-likelihood", {**FROZEN, "max_steps": 1000, "batch_size": 32, "lr": 3e-3}),
    ("train-orm", "frozen-likelihood", {**FROZEN, "max_steps": 500, "batch_size": 32, "lr": 3e-3}),
    ("train-prm", "finetune", {**FINETUNE, "max_steps": 500, "batch_size": 16, "lr": 1e-4}),
    ("train-orm", "finetune", {**FINETUNE, "max_steps": 500, "batch_size": 16, "lr": 1e-4}),
]


def resolve(command: str, args: list[str]) -> Any:
    """The config ``command`` builds from ``args``, without training."""
    cmd = typer.main.get_command(app).commands[command]
    ctx = cmd.make_context(command, list(args))
    return recipe_config(ctx, CONFIGS[command], dict(ctx.params))


def recipe_part(config: Any) -> dict[str, Any]:
    return {name: getattr(config, name) for name in RECIPE_FIELDS}


def test_the_table_covers_every_recipe_and_the_default_is_frozen_likelihood() -> None:
    assert {(c, r) for c, r, _ in TABLE} == {(c, r) for c in CONFIGS for r in RECIPES}
    assert DEFAULT_RECIPE == "frozen-likelihood"


@pytest.mark.parametrize(
    ("command", "recipe", "values"), TABLE, ids=[f"{c}-{r}" for c, r, _ in TABLE]
)
def test_a_recipe_resolves_to_its_documented_values(command, recipe, values) -> None:
    assert recipe_part(resolve(command, [*PATHS, "--recipe", recipe])) == values
    # The library's config resolves the same way.
    library = CONFIGS[command](input="i", problems="p", output="o", init="m", recipe=recipe)
    assert recipe_part(library) == values
    if recipe == DEFAULT_RECIPE:
        assert recipe_part(resolve(command, PATHS)) == values


@pytest.mark.parametrize(
    ("command", "args", "changed"),
    [
        # finetune's own values, except the one given.
        ("train-prm", ["--recipe", "finetune", "--lr", "1e-3"], {"lr": 1e-3}),
        ("train-orm", ["--lr", "1e-3", "--recipe", "finetune"], {"lr": 1e-3}),
        # A value equal to the default --help shows still wins over another recipe's.
        ("train-prm", ["--recipe", "finetune", "--max-steps", "1000"], {"max_steps": 1000}),
        ("train-prm", ["--recipe", "finetune", "--freeze-backbone"], {"freeze_backbone": True}),
        ("train-prm", ["--train-backbone"], {"freeze_backbone": False}),
        ("train-orm", ["--step-features", "hidden", "-b", "8"], {"step_features": "hidden"}),
    ],
)
def test_an_option_given_wins_over_the_recipe(command, args, changed) -> None:
    config = resolve(command, [*PATHS, *args])
    recipe = config.recipe
    expected = dict(next(v for c, r, v in TABLE if (c, r) == (command, recipe)))
    if "-b" in args:
        changed = {**changed, "batch_size": 8}
    expected.update(changed)
    assert recipe_part(config) == expected
    record = config.recipe_record()
    assert record["name"] == recipe and record["settings"] == expected
    assert record["overridden"] == [n for n in RECIPE_FIELDS if n in changed]


def test_options_outside_the_recipe_keep_their_own_defaults() -> None:
    default, finetune = (
        resolve("train-prm", PATHS),
        resolve("train-prm", [*PATHS, "--recipe", "finetune"]),
    )
    for name in ("warmup", "eval_steps", "patience", "neutral", "cut_after_first_wrong"):
        assert getattr(default, name) == getattr(finetune, name)


def test_an_unknown_recipe_is_one_line_naming_the_choices(tmp_path: Path) -> None:
    with pytest.raises(MathverifyError, match="--recipe 'usual': choose one of frozen-likelihood"):
        PRMTrainConfig(input="i", problems="p", output="o", init="m", recipe="usual")
    result = runner.invoke(app, ["train-orm", *PATHS, "--recipe", "usual"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --recipe 'usual': choose one of frozen-likelihood, finetune"
    ]


# --------------------------------------------------------------------------------------
# The Makefiles: the demo's PRM is the default recipe; every target resolves as before


def make_args(directory: Path, target: str, command: str) -> list[str]:
    """The arguments ``make -n`` shows for ``command`` in the recipe of ``target``."""
    if shutil.which("make") is None:
        pytest.skip("no make")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    env = {k: v for k, v in env.items() if not k.endswith(("_OPTS", "_STEPS", "_LR"))}
    shown = subprocess.run(
        ["make", "-n", "--always-make", "-C", str(directory), target],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.replace("\\\n", " ")
    for line in shown.splitlines():
        if f" {command} " in line:
            words = shlex.split(line)
            args = words[words.index(command) + 1 :]
            return args[: args.index("&&")] if "&&" in args else args
    raise AssertionError(f"no {command} in make -n {target}:\n{shown}")


def test_the_default_recipe_is_the_demos_prm() -> None:
    args = make_args(ROOT, "runs/demo/prm/mathverify.json", "train-prm")
    demo = resolve("train-prm", args)
    bare = resolve("train-prm", args[: args.index("--init") + 2])
    assert demo.recipe == bare.recipe == DEFAULT_RECIPE
    assert recipe_part(demo) == recipe_part(bare)
    assert demo.recipe_record()["overridden"] == []


LETSVERIFY = ROOT / "examples" / "letsverify"
# What each example target resolved to before recipes existed (the Makefiles' own options on
# top of the commands' old defaults): hidden/linear/trained backbone/500/16/1e-4.
BEFORE = [
    (
        "runs/letsverify/prm-s1",
        "train-prm",
        {**FROZEN, "max_steps": 1000, "batch_size": 32, "lr": 3e-3},
    ),
    (
        "runs/letsverify/orm",
        "train-orm",
        {**FROZEN, "max_steps": 500, "batch_size": 32, "lr": 3e-3},
    ),
    (
        "runs/letsverify/orm-finetuned",
        "train-orm",
        {**FINETUNE, "max_steps": 300, "batch_size": 32, "lr": 1e-3},
    ),
    (
        "runs/letsverify/orm-hidden",
        "train-orm",
        {**FROZEN, "step_features": "hidden", "max_steps": 500, "batch_size": 32, "lr": 3e-3},
    ),
]


@pytest.mark.parametrize(("target", "command", "before"), BEFORE, ids=[t for t, _, _ in BEFORE])
def test_letsverify_targets_resolve_as_before(target, command, before) -> None:
    args = make_args(LETSVERIFY, f"../../{target}/mathverify.json", command)
    config = resolve(command, args)
    assert recipe_part(config) == before
    if command == "train-orm":
        assert config.score_at == "eos"
    # Everything outside the recipe is each command's own default, as before.
    assert (config.warmup, config.eval_steps, config.patience) == (0.05, 50, 5)


# --------------------------------------------------------------------------------------
# A tiny run per recipe: the card says which recipe and what it resolved to


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("recipes")
    problems, labeled = root / "problems.jsonl", root / "labeled.jsonl"
    rows, solutions = [], []
    for i in range(6):
        rows.append({"id": f"p{i}", "problem": f"Compute {i}+1.", "answer": str(i + 1)})
        for sample, wrong in enumerate((False, True)):
            value = i + 1 + int(wrong)
            solutions.append(
                {
                    "problem_id": f"p{i}",
                    "sample_id": sample,
                    "steps": [f"= {i}+1", f"= {value}", f"\\boxed{{{value}}}"],
                    "step_labels": [1, 0, 0] if wrong else [1, 1, 1],
                    "outcome": not wrong,
                    "label_source": "exact",
                }
            )
    problems.write_text("".join(json.dumps(r) + "\n" for r in rows))
    labeled.write_text("".join(json.dumps(s) + "\n" for s in solutions))
    policy = save_random_policy(root / "policy", hidden_size=64, num_layers=1, num_heads=2)
    return {"root": root, "problems": problems, "labeled": labeled, "policy": policy}


@pytest.mark.parametrize("recipe", list(RECIPES))
@pytest.mark.parametrize("command", list(CONFIGS))
def test_a_tiny_run_records_the_recipe_in_the_card(data, command, recipe) -> None:
    out = data["root"] / f"{command}-{recipe}"
    result = runner.invoke(
        app,
        [
            command, "-i", str(data["labeled"]), "-p", str(data["problems"]), "-o", str(out),
            "--init", str(data["policy"]), "--recipe", recipe, "--max-steps", "2", "-b", "4",
            "--eval-fraction", "0", "--quiet",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{command}: 2 steps" in result.output
    extra = load_card(out).extra
    values = dict(next(v for c, r, v in TABLE if (c, r) == (command, recipe)))
    resolved = {**values, "max_steps": 2, "batch_size": 4}
    assert extra["recipe"] == {
        "name": recipe,
        "settings": resolved,
        "overridden": ["max_steps", "batch_size"],
    }
    # The fields the scorer reads agree with the recipe.
    assert {k: extra[k] for k in ("step_features", "head", "freeze_backbone")} == {
        k: values[k] for k in ("step_features", "head", "freeze_backbone")
    }
