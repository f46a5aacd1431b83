"""``mathverify train-value``: a value head on the policy (AlphaMath), trained jointly with the
policy's SFT loss or alone; ``--init-only`` adds an untrained head; ``--eval-labels`` reports
the value's step AUROC against step labels (e.g. exact ones) after training.

A thin command over :mod:`mathverify.training.value`; option help comes from
:class:`~mathverify.training.value_config.ValueTrainConfig`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from mathverify.cli.app import IO, MODEL, QuietOpt, SeedOpt, command, console
from mathverify.cli.policy_options import PromptFormatOpt, SystemOpt
from mathverify.cli.train_verifiers import (
    RENAMED,
    BatchSizeOpt,
    EvalFractionOpt,
    EvalStepsOpt,
    GradAccumOpt,
    HeadOpt,
    InitOpt,
    LoggingStepsOpt,
    LrOpt,
    MaxLengthOpt,
    MaxStepsOpt,
    OutputDirOpt,
    PatienceOpt,
    SaveLimitOpt,
    StepFeaturesOpt,
    TrainResumeOpt,
    WarmupOpt,
    WeightDecayOpt,
    config_settings,
    option,
)
from mathverify.training.value_config import ValueTrainConfig
from mathverify.training.verifier_config import config_help


def _h(name: str) -> str:
    return config_help(ValueTrainConfig, name)


@command(
    "train-value",
    renamed=RENAMED,
    help=(
        "Train a value head on a policy (AlphaMath): MSE (or BCE) on step targets such as "
        "`label --method mcts` Q labels, jointly with the SFT loss on correct trajectories "
        "(--sft-weight) or alone (--freeze-policy --sft-weight 0). The output loads as a "
        "policy and as a scorer. --init-only adds an untrained head to --init."
    ),
)
def train_value_command(
    output: OutputDirOpt,
    init: InitOpt,
    input: Annotated[str, option("--input", "-i", help=_h("input"), panel=IO)] = "",
    problems: Annotated[str, option("--problems", "-p", help=_h("problems"), panel=IO)] = "",
    eval_labels: Annotated[
        str | None,
        option(
            "--eval-labels",
            help="After training, the value's step AUROC on these labeled solutions.",
            panel=IO,
        ),
    ] = None,
    eval_problems: Annotated[
        str | None,
        option(
            "--eval-problems", help="Problems of --eval-labels (default: --problems).", panel=IO
        ),
    ] = None,
    eval_json: Annotated[
        str | None,
        option("--eval-json", help="Write the AUROC report to this JSON file.", panel=IO),
    ] = None,
    resume: TrainResumeOpt = False,
    quiet: QuietOpt = False,
    logging_steps: LoggingStepsOpt = 10,
    prompt_format: PromptFormatOpt = "auto",
    system: SystemOpt = None,
    step_features: StepFeaturesOpt = "hidden",
    head: HeadOpt = "linear",
    init_only: Annotated[bool, option("--init-only", help=_h("init_only"), panel=MODEL)] = False,
    sft_weight: Annotated[float, option("--sft-weight", help=_h("sft_weight"))] = 1.0,
    freeze_policy: Annotated[bool, option("--freeze-policy", help=_h("freeze_policy"))] = False,
    value_loss: Annotated[str, option("--value-loss", help=_h("value_loss"))] = "mse",
    detach_features: Annotated[
        bool, option("--detach-features", help=_h("detach_features"))
    ] = False,
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
    seed: SeedOpt = 0,
) -> None:
    options = dict(locals())
    for name in ("eval_labels", "eval_problems", "eval_json"):
        options.pop(name)
    config = ValueTrainConfig(**config_settings(options))
    config.validate()
    # Imported here: torch and transformers load only when a command trains.
    from mathverify.scoring.evaluate import evaluate_value
    from mathverify.training.value import train_value

    result = train_value(config)
    if init_only:
        console.print(f"train-value: untrained value head added to {init} -> {output}")
    else:
        eval_part = (
            f", best eval loss {result.eval_loss:.4f}" if result.eval_loss is not None else ""
        )
        console.print(
            f"train-value: {result.global_step} steps on {result.n_train} examples "
            f"({result.n_eval} held out), train loss {result.train_loss:.4f}{eval_part} "
            f"-> {output}",
            soft_wrap=True,
        )
    if eval_labels is not None:
        labels_problems = eval_problems or problems
        if not labels_problems:
            from mathverify.errors import MathverifyError

            raise MathverifyError("--eval-labels needs --eval-problems (or --problems)")
        report = evaluate_value(output, eval_labels, labels_problems)
        auroc = report["step_auroc"]
        console.print(
            f"train-value: step AUROC {auroc:.4f} on {report['n_steps']} steps of "
            f"{report['n_solutions']} solutions ({eval_labels})"
            if auroc is not None
            else f"train-value: step AUROC undefined (one class only) in {eval_labels}",
            soft_wrap=True,
        )
        if eval_json is not None:
            Path(eval_json).parent.mkdir(parents=True, exist_ok=True)
            Path(eval_json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
