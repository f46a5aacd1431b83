"""``mathverify train-orm`` and ``train-prm``: train verifiers from labeled solutions.

Thin commands over :mod:`mathverify.training.orm` and :mod:`mathverify.training.prm`; the
option help comes from the config dataclasses. Both run unchanged under
``accelerate launch -m mathverify train-prm ...`` (or ``torchrun``); every rank logs a hash
of its final weights, so a distributed run can be checked for agreement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mathverify.cli.app import SeedOpt, command, console
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


InputOpt = Annotated[str, typer.Option("--input", "-i", help=_h("input"))]
ProblemsOpt = Annotated[str, typer.Option("--problems", "-p", help=_h("problems"))]
OutputDirOpt = Annotated[str, typer.Option("--output", "-o", help=_h("output"))]
InitOpt = Annotated[str, typer.Option("--init", help=_h("init"))]
MaxStepsOpt = Annotated[int, typer.Option("--max-steps", help=_h("max_steps"))]
BatchSizeOpt = Annotated[int, typer.Option("--batch-size", "-b", help=_h("batch_size"))]
LrOpt = Annotated[float, typer.Option("--lr", help=_h("lr"))]
WeightDecayOpt = Annotated[float, typer.Option("--weight-decay", help=_h("weight_decay"))]
WarmupOpt = Annotated[float, typer.Option("--warmup", help=_h("warmup"))]
GradAccumOpt = Annotated[int, typer.Option("--grad-accum", help=_h("grad_accum"))]
EvalFractionOpt = Annotated[float, typer.Option("--eval-fraction", help=_h("eval_fraction"))]
EvalStepsOpt = Annotated[int, typer.Option("--eval-steps", help=_h("eval_steps"))]
PatienceOpt = Annotated[int, typer.Option("--patience", help=_h("patience"))]
SaveLimitOpt = Annotated[int, typer.Option("--save-total-limit", help=_h("save_total_limit"))]
MaxLengthOpt = Annotated[int | None, typer.Option("--max-length", help=_h("max_length"))]
LoggingStepsOpt = Annotated[int, typer.Option("--logging-steps", help=_h("logging_steps"))]
TrainResumeOpt = Annotated[bool, typer.Option("--resume", help=_h("resume"))]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help=_h("progress"))]
TrainPromptFormatOpt = Annotated[str, typer.Option("--prompt-format", help=_h("prompt_format"))]
TrainSystemOpt = Annotated[str | None, typer.Option("--system", help=_h("system"))]
HeadOpt = Annotated[str, typer.Option("--head", help=_prm_h("head"))]
FreezeOpt = Annotated[
    bool, typer.Option("--freeze-backbone/--train-backbone", help=_prm_h("freeze_backbone"))
]


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


@command("train-orm", help="Train an outcome reward model (pointwise BCE on `outcome`).")
def train_orm_command(
    input: InputOpt,
    problems: ProblemsOpt,
    output: OutputDirOpt,
    init: InitOpt,
    step_features: Annotated[
        str, typer.Option("--step-features", help=_orm_h("step_features"))
    ] = "hidden",
    head: HeadOpt = "linear",
    freeze_backbone: FreezeOpt = False,
    score_at: Annotated[str, typer.Option("--score-at", help=_orm_h("score_at"))] = "eos",
    max_steps: MaxStepsOpt = 500,
    batch_size: BatchSizeOpt = 16,
    lr: LrOpt = 1e-4,
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
    progress: ProgressOpt = True,
    prompt_format: TrainPromptFormatOpt = "auto",
    system: TrainSystemOpt = None,
) -> None:
    config = ORMTrainConfig(**locals())
    # Imported here: torch and transformers load only when a command trains.
    from mathverify.training.orm import train_orm

    _report("train-orm", train_orm(config))


@command(
    "train-prm",
    help=(
        "Train a process reward model: a score at the step separator after each step "
        "(hard/soft labels with BCE, or PRM800K's three classes with CE)."
    ),
)
def train_prm_command(
    input: InputOpt,
    problems: ProblemsOpt,
    output: OutputDirOpt,
    init: InitOpt,
    label_scheme: Annotated[
        str, typer.Option("--label-scheme", help=_prm_h("label_scheme"))
    ] = "auto",
    neutral: Annotated[str, typer.Option("--neutral", help=_prm_h("neutral"))] = "positive",
    three_class: Annotated[bool, typer.Option("--three-class", help=_prm_h("three_class"))] = False,
    cut_after_first_wrong: Annotated[
        bool,
        typer.Option(
            "--cut-after-first-wrong/--no-cut-after-first-wrong",
            help=_prm_h("cut_after_first_wrong"),
        ),
    ] = True,
    step_features: Annotated[
        str, typer.Option("--step-features", help=_prm_h("step_features"))
    ] = "hidden",
    head: HeadOpt = "linear",
    freeze_backbone: FreezeOpt = False,
    max_steps: MaxStepsOpt = 500,
    batch_size: BatchSizeOpt = 16,
    lr: LrOpt = 1e-4,
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
    progress: ProgressOpt = True,
    prompt_format: TrainPromptFormatOpt = "auto",
    system: TrainSystemOpt = None,
) -> None:
    config = PRMTrainConfig(**locals())
    from mathverify.training.prm import train_prm

    _report("train-prm", train_prm(config))
