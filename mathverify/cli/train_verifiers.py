"""``mathverify train-orm`` and ``train-prm``: train verifiers from labeled solutions.

Thin commands over :mod:`mathverify.training.orm` and :mod:`mathverify.training.prm`; the
option help comes from the config dataclasses. ``--recipe`` sets the defaults of the head,
backbone and budget options (:mod:`mathverify.training.recipes`); an option given on the
command line wins, and the help shows the default recipe's values. Both run unchanged under
``accelerate launch -m mathverify train-prm ...`` (or ``torchrun``); every rank logs a hash
of its final weights, so a distributed run can be checked for agreement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from mathverify.cli.app import (
    IO,
    LABELING,
    MODEL,
    QUIET_RENAMED,
    TRAINING,
    QuietOpt,
    SeedOpt,
    command,
    console,
    given_options,
)
from mathverify.cli.policy_options import PromptFormatOpt, SystemOpt
from mathverify.training.recipes import DEFAULT_RECIPE, RECIPE_FIELDS, recipe_values
from mathverify.training.verifier_config import (
    ORMTrainConfig,
    PRMTrainConfig,
    VerifierTrainConfig,
    config_help,
)

if TYPE_CHECKING:
    from mathverify.training.verifier_common import TrainResult


def _h(name: str) -> str:
    return config_help(VerifierTrainConfig, name)


def _prm_h(name: str) -> str:
    return config_help(PRMTrainConfig, name)


def _orm_h(name: str) -> str:
    return config_help(ORMTrainConfig, name)


def option(*flags: str, help: str, panel: str = TRAINING) -> Any:
    return typer.Option(*flags, help=help, rich_help_panel=panel)


# Options of every train command (train-policy too), one definition each.
InputOpt = Annotated[str, option("--input", "-i", help=_h("input"), panel=IO)]
ProblemsOpt = Annotated[str, option("--problems", "-p", help=_h("problems"), panel=IO)]
OutputDirOpt = Annotated[str, option("--output", "-o", help=_h("output"), panel=IO)]
InitOpt = Annotated[str, option("--init", help=_h("init"), panel=MODEL)]
MaxStepsOpt = Annotated[int, option("--max-steps", help=_h("max_steps"))]
BatchSizeOpt = Annotated[int, option("--batch-size", "-b", help=_h("batch_size"))]
LrOpt = Annotated[float, option("--lr", help=_h("lr"))]
WeightDecayOpt = Annotated[float, option("--weight-decay", help=_h("weight_decay"))]
WarmupOpt = Annotated[float, option("--warmup", help=_h("warmup"))]
GradAccumOpt = Annotated[int, option("--grad-accum", help=_h("grad_accum"))]
EvalFractionOpt = Annotated[float, option("--eval-fraction", help=_h("eval_fraction"))]
EvalStepsOpt = Annotated[int, option("--eval-steps", help=_h("eval_steps"))]
PatienceOpt = Annotated[int, option("--patience", help=_h("patience"))]
SaveLimitOpt = Annotated[int, option("--save-total-limit", help=_h("save_total_limit"))]
MaxLengthOpt = Annotated[int | None, option("--max-length", help=_h("max_length"))]
LoggingStepsOpt = Annotated[int, option("--logging-steps", help=_h("logging_steps"), panel=IO)]
TrainResumeOpt = Annotated[bool, option("--resume", help=_h("resume"), panel=IO)]
HeadOpt = Annotated[str, option("--head", help=_prm_h("head"), panel=MODEL)]
StepFeaturesOpt = Annotated[
    str, option("--step-features", help=_prm_h("step_features"), panel=MODEL)
]
FreezeOpt = Annotated[
    bool,
    option("--freeze-backbone/--train-backbone", help=_prm_h("freeze_backbone"), panel=MODEL),
]
RecipeOpt = Annotated[str, option("--recipe", help=_prm_h("recipe"))]
# Old spellings: --no-progress is --quiet now; --progress was the default.
RENAMED = QUIET_RENAMED
# What --help shows as the defaults of the options a recipe sets: the default recipe's.
PRM_DEFAULTS = recipe_values(DEFAULT_RECIPE, "prm")
ORM_DEFAULTS = recipe_values(DEFAULT_RECIPE, "orm")


def config_settings(options: dict[str, Any]) -> dict[str, Any]:
    """A train command's options as its config's fields (``--quiet`` is ``progress``)."""
    settings = dict(options)
    settings["progress"] = not settings.pop("quiet")
    return settings


def recipe_config(ctx: typer.Context, config_type: type, options: dict[str, Any]) -> Any:
    """``config_type`` from a recipe command's options: an option the user did not give
    is left to the recipe (None), so ``--recipe finetune`` alone gives finetune's values."""
    settings = config_settings(options)
    settings.pop("ctx", None)
    given = set(given_options(ctx))
    for name in RECIPE_FIELDS:
        if name not in given:
            settings[name] = None
    return config_type(**settings)


def _report(kind: str, result: TrainResult) -> None:
    # Every rank prints its own hash (no collective needed); only rank 0 wrote files.
    console.print(f"rank {result.rank}: weights sha256 {result.weights_sha256}", soft_wrap=True)
    if result.rank != 0:
        return
    eval_part = f", best eval loss {result.eval_loss:.4f}" if result.eval_loss is not None else ""
    console.print(
        f"{kind}: {result.global_step} steps on {result.n_train} examples "
        f"({result.n_eval} held out), train loss {result.train_loss:.4f}{eval_part} -> {result.output}",
        soft_wrap=True,
    )


@command(
    "train-orm", renamed=RENAMED, help="Train an outcome reward model (pointwise BCE on `outcome`)."
)
def train_orm_command(
    ctx: typer.Context,
    input: InputOpt,
    problems: ProblemsOpt,
    output: OutputDirOpt,
    init: InitOpt,
    recipe: RecipeOpt = DEFAULT_RECIPE,
    step_features: StepFeaturesOpt = ORM_DEFAULTS["step_features"],
    head: HeadOpt = ORM_DEFAULTS["head"],
    freeze_backbone: FreezeOpt = ORM_DEFAULTS["freeze_backbone"],
    score_at: Annotated[str, option("--score-at", help=_orm_h("score_at"), panel=MODEL)] = "eos",
    max_steps: MaxStepsOpt = ORM_DEFAULTS["max_steps"],
    batch_size: BatchSizeOpt = ORM_DEFAULTS["batch_size"],
    lr: LrOpt = ORM_DEFAULTS["lr"],
    weight_decay: WeightDecayOpt = 0.0,
    warmup: WarmupOpt = 0.05,
    grad_accum: GradAccumOpt = 1,
    eval_fraction: EvalFractionOpt = 0.1,
    eval_steps: EvalStepsOpt = 50,
    patience: PatienceOpt = 5,
    save_total_limit: SaveLimitOpt = 2,
    max_length: MaxLengthOpt = None,
    logging_steps: LoggingStepsOpt = 10,
    seed: SeedOpt = 0,
    resume: TrainResumeOpt = False,
    quiet: QuietOpt = False,
    prompt_format: PromptFormatOpt = "auto",
    system: SystemOpt = None,
) -> None:
    config = recipe_config(ctx, ORMTrainConfig, locals())
    # Imported here: torch and transformers load only when a command trains.
    from mathverify.training.orm import train_orm

    _report("train-orm", train_orm(config))


@command(
    "train-prm",
    renamed=RENAMED,
    help=(
        "Train a process reward model: a score at the step separator after each step "
        "(hard/soft labels with BCE, or PRM800K's three classes with CE)."
    ),
)
def train_prm_command(
    ctx: typer.Context,
    input: InputOpt,
    problems: ProblemsOpt,
    output: OutputDirOpt,
    init: InitOpt,
    recipe: RecipeOpt = DEFAULT_RECIPE,
    label_scheme: Annotated[
        str, option("--label-scheme", help=_prm_h("label_scheme"), panel=LABELING)
    ] = "auto",
    neutral: Annotated[
        str, option("--neutral", help=_prm_h("neutral"), panel=LABELING)
    ] = "positive",
    three_class: Annotated[
        bool, option("--three-class", help=_prm_h("three_class"), panel=MODEL)
    ] = False,
    cut_after_first_wrong: Annotated[
        bool,
        option(
            "--cut-after-first-wrong/--no-cut-after-first-wrong",
            help=_prm_h("cut_after_first_wrong"),
            panel=LABELING,
        ),
    ] = True,
    step_features: StepFeaturesOpt = PRM_DEFAULTS["step_features"],
    head: HeadOpt = PRM_DEFAULTS["head"],
    freeze_backbone: FreezeOpt = PRM_DEFAULTS["freeze_backbone"],
    max_steps: MaxStepsOpt = PRM_DEFAULTS["max_steps"],
    batch_size: BatchSizeOpt = PRM_DEFAULTS["batch_size"],
    lr: LrOpt = PRM_DEFAULTS["lr"],
    weight_decay: WeightDecayOpt = 0.0,
    warmup: WarmupOpt = 0.05,
    grad_accum: GradAccumOpt = 1,
    eval_fraction: EvalFractionOpt = 0.1,
    eval_steps: EvalStepsOpt = 50,
    patience: PatienceOpt = 5,
    save_total_limit: SaveLimitOpt = 2,
    max_length: MaxLengthOpt = None,
    logging_steps: LoggingStepsOpt = 10,
    seed: SeedOpt = 0,
    resume: TrainResumeOpt = False,
    quiet: QuietOpt = False,
    prompt_format: PromptFormatOpt = "auto",
    system: SystemOpt = None,
) -> None:
    config = recipe_config(ctx, PRMTrainConfig, locals())
    from mathverify.training.prm import train_prm

    _report("train-prm", train_prm(config))
