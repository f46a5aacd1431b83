"""Settings of ``train-value``, as a dataclass whose field help is the CLI help.

Kept apart from :mod:`mathverify.training.value` so the command line builds its options
without importing torch or transformers.
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field, fields

from mathverify.training.verifier_config import PRMTrainConfig, VerifierTrainConfig, _help

__all__ = ["VALUE_LOSSES", "ValueTrainConfig"]

VALUE_LOSSES = ("mse", "bce")


def _field(config_type: type, name: str) -> Field:
    return next(f for f in fields(config_type) if f.name == name)


@dataclass
class ValueTrainConfig(VerifierTrainConfig):
    """``train-value`` settings: the verifier ones plus the multi-task and value-loss choices."""

    sft_weight: float = field(
        default=1.0,
        metadata=_help(
            "Weight of the policy's SFT loss on correct trajectories (outcome true), added to "
            "the value loss (AlphaMath's multi-task objective); 0 trains the value only.",
            short="Weight of the SFT loss on correct trajectories (0: value only).",
        ),
    )
    freeze_policy: bool = field(
        default=False,
        metadata=_help("Train the value head only; the policy's weights stay unchanged."),
    )
    value_loss: str = field(
        default="mse",
        metadata=_help(
            "Value loss on step targets in [0, 1] ((Q+1)/2 for MCTS labels): mse on "
            "sigmoid(logit), the same as MSE on Q with a tanh head, or bce on the logit.",
            short="Value loss on step targets in [0, 1]: mse or bce.",
        ),
    )
    step_features: str = field(
        default="hidden",
        metadata=dict(_field(PRMTrainConfig, "step_features").metadata),
    )
    head: str = field(
        default="linear",
        metadata=dict(_field(PRMTrainConfig, "head").metadata),
    )
    detach_features: bool = field(
        default=False,
        metadata=_help(
            "With --step-features likelihood: the value loss does not train the policy "
            "through its log-probabilities (only the SFT loss moves them).",
            short="With --step-features likelihood: the value loss leaves the policy alone.",
        ),
    )
    init_only: bool = field(
        default=False,
        metadata=_help(
            "Only add an untrained value head to --init and save it (AlphaMath's "
            "save_value_head); no data needed.",
            short="Only add an untrained value head to --init and save it.",
        ),
    )

    def validate(self) -> None:
        from mathverify.errors import MathverifyError

        if self.value_loss not in VALUE_LOSSES:
            raise MathverifyError(
                f"--value-loss {self.value_loss!r}: choose one of {', '.join(VALUE_LOSSES)}"
            )
        if self.sft_weight < 0:
            raise MathverifyError(f"--sft-weight must be >= 0, got {self.sft_weight}")
        if self.freeze_policy and self.sft_weight > 0:
            raise MathverifyError(
                "--freeze-policy trains the value head only: pass --sft-weight 0 with it"
            )
        from mathverify.models.verifier import HEADS, STEP_FEATURES

        if self.step_features not in STEP_FEATURES:
            raise MathverifyError(
                f"--step-features {self.step_features!r}: choose one of {', '.join(STEP_FEATURES)}"
            )
        if self.head not in HEADS:
            raise MathverifyError(f"--head {self.head!r}: choose one of {', '.join(HEADS)}")
        if self.detach_features and self.step_features != "likelihood":
            raise MathverifyError("--detach-features needs --step-features likelihood")
        if not self.init_only and (not self.input or not self.problems):
            raise MathverifyError("train-value needs --input and --problems (or --init-only)")
