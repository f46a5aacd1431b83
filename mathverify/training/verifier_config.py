"""Settings of ``train-orm`` and ``train-prm``, as dataclasses whose field help is the CLI help.

Kept apart from the trainers so the command line can build its options without importing
torch or transformers. A field a recipe sets (``RECIPE_FIELDS`` of
:mod:`mathverify.training.recipes`) defaults to None, "the recipe's":
``PRMTrainConfig(..., recipe="finetune", lr=1e-3)`` is finetune with another learning rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from mathverify.labeling.schemes import NEUTRAL_MODES, SCHEMES
from mathverify.training.recipes import DEFAULT_RECIPE, RECIPE_FIELDS, RECIPES, recipe_values

__all__ = ["ORMTrainConfig", "PRMTrainConfig", "VerifierTrainConfig", "config_help"]


INIT_SHORT = "Start from this model: a policy or any causal LM (directory or hub name)."
STEP_FEATURES_SHORT = "What the score head reads: hidden or likelihood (see docs/training.md)."


def _help(text: str, short: str | None = None) -> dict[str, str]:
    """Field metadata: ``help`` says it all (docs); ``short``, when the help runs past one
    line, is the one line ``--help`` shows."""
    return {"help": text, **({"short": short} if short else {})}


@dataclass
class VerifierTrainConfig:
    """Settings shared by ``train-orm`` and ``train-prm``; field help is the CLI's help."""

    input: str = field(metadata=_help("Labeled solutions (JSONL), or - for stdin."))
    problems: str = field(
        metadata=_help("Problem records (JSONL) giving each solution's problem text.")
    )
    output: str = field(
        metadata=_help(
            "Directory for the trained model; checkpoints go to OUTPUT/checkpoint-N.",
            short="Directory for the model (checkpoints in OUTPUT/checkpoint-N).",
        )
    )
    init: str = field(
        metadata=_help(
            "Backbone: a policy directory or any causal LM directory or hub name.",
            short=INIT_SHORT,
        )
    )
    max_steps: int = field(default=500, metadata=_help("Optimizer steps to train for."))
    batch_size: int = field(
        default=16, metadata=_help("Sequences (training examples) per device per step.")
    )
    lr: float = field(default=1e-4, metadata=_help("Peak learning rate (AdamW, cosine schedule)."))
    weight_decay: float = field(default=0.0, metadata=_help("AdamW weight decay."))
    warmup: float = field(
        default=0.05, metadata=_help("Warmup: a fraction of max-steps (<1) or a step count.")
    )
    grad_accum: int = field(default=1, metadata=_help("Gradient accumulation steps."))
    eval_fraction: float = field(
        default=0.1, metadata=_help("Fraction of problems held out for validation (0: none).")
    )
    eval_steps: int = field(default=50, metadata=_help("Evaluate and checkpoint every N steps."))
    patience: int = field(
        default=5,
        metadata=_help(
            "Stop after N evaluations without a lower validation loss (0: never stop early).",
            short="Stop after N evaluations without a lower validation loss (0: never).",
        ),
    )
    save_total_limit: int = field(
        default=2, metadata=_help("Checkpoints to keep (the best one is always kept).")
    )
    max_length: int | None = field(
        default=None,
        metadata=_help("Token limit per example (none: the model's context length)."),
    )
    seed: int = field(default=0, metadata=_help("Random seed (head init, data order, eval split)."))
    resume: bool = field(
        default=False,
        metadata=_help(
            "Continue from the last checkpoint in OUTPUT (a fresh start if none).",
            short="Continue a killed run from its last checkpoint in OUTPUT.",
        ),
    )
    progress: bool = field(default=True, metadata=_help("Show a progress bar."))
    logging_steps: int = field(default=10, metadata=_help("Log the training loss every N steps."))
    prompt_format: str = field(
        default="auto",
        metadata=_help(
            "auto: --init's mathverify.json format; for a model without one, chat when its "
            "tokenizer has a chat template, else plain. chat: the problem as the user turn "
            "of the chat template (after the --system turn), steps joined by a blank line. "
            "plain: 'Problem: ...\\nSolution:\\n'. Recorded in the trained model's card."
        ),
    )
    system: str | None = field(
        default=None,
        metadata=_help(
            "chat prompts: the system turn (default: --init's card's, else 'Please reason "
            "step by step, and put your final answer within \\boxed{}.'; '' for none)."
        ),
    )


def config_help(config_type: type, name: str) -> str:
    """The one-line help of a config field, for the CLI (its ``short`` text when it has one)."""
    for f in fields(config_type):
        if f.name == name:
            return f.metadata.get("short") or f.metadata.get("help", "")
    raise KeyError(name)


RECIPE_HELP = (
    "A preset of --step-features, --head, --freeze-backbone/--train-backbone, --max-steps, "
    f"--batch-size and --lr: {', '.join(RECIPES)} (the default: {DEFAULT_RECIPE}). An option "
    "given explicitly wins over the recipe's value."
)
RECIPE_SHORT = f"Preset of several options: {' or '.join(RECIPES)} (see docs/training.md)."


def _base_field(name: str) -> Any:
    """``VerifierTrainConfig``'s field ``name`` with default None: the recipe's value."""
    base = next(f for f in fields(VerifierTrainConfig) if f.name == name)
    return field(default=None, metadata=dict(base.metadata))


@dataclass
class _RecipeFields:
    """The recipe and the budget fields it sets, which default to None, "the recipe's";
    each verifier config adds the model fields (``step_features``, ``head``,
    ``freeze_backbone``) with its own help. ``__post_init__`` fills what is left None."""

    max_steps: int = _base_field("max_steps")
    batch_size: int = _base_field("batch_size")
    lr: float = _base_field("lr")
    recipe: str = field(default=DEFAULT_RECIPE, metadata=_help(RECIPE_HELP, short=RECIPE_SHORT))

    KIND: ClassVar[str] = ""  # prm or orm: which of the recipe's values apply

    def __post_init__(self) -> None:
        for name, value in recipe_values(self.recipe, self.KIND).items():
            if getattr(self, name) is None:
                setattr(self, name, value)

    def recipe_record(self) -> dict[str, Any]:
        """What the model's card says of its recipe: the name, the values the recipe's fields
        resolved to, and which of them an explicit option changed."""
        preset = recipe_values(self.recipe, self.KIND)
        settings = {name: getattr(self, name) for name in RECIPE_FIELDS}
        return {
            "name": self.recipe,
            "settings": settings,
            "overridden": [name for name in RECIPE_FIELDS if settings[name] != preset[name]],
        }


@dataclass
class PRMTrainConfig(_RecipeFields, VerifierTrainConfig):
    """``train-prm`` settings: the shared ones plus how step labels become targets."""

    KIND: ClassVar[str] = "prm"

    label_scheme: str = field(
        default="auto",
        metadata=_help(
            f"Step label scheme: {', '.join(SCHEMES)}, or auto (from the records' label_source "
            "when known, else hard).",
            short=f"Step label scheme: auto, {', '.join(SCHEMES)} (see docs/training.md).",
        ),
    )
    neutral: str = field(
        default="positive",
        metadata=_help(f"PRM800K neutral steps count as: {', '.join(NEUTRAL_MODES)}."),
    )
    three_class: bool = field(
        default=False,
        metadata=_help("prm800k only: a 3-way head (CE over -1/0/1) instead of one logit (BCE)."),
    )
    cut_after_first_wrong: bool = field(
        default=True, metadata=_help("No loss on steps after the first wrong one.")
    )
    step_features: str = field(
        default=None,
        metadata=_help(
            "What the score head reads at each step: hidden (the last hidden state at the "
            "separator) or likelihood (that plus the sum, mean and minimum log-probability of "
            "the step's tokens under the backbone's own LM head).",
            short=STEP_FEATURES_SHORT,
        ),
    )
    head: str = field(
        default=None,
        metadata=_help("The score head: linear, or mlp (one hidden layer of 256 units)."),
    )
    freeze_backbone: bool = field(
        default=None,
        metadata=_help(
            "Train the head only; the backbone (and so its log-probabilities) stays the init's.",
            short="Train the head only, or the backbone too.",
        ),
    )


@dataclass
class ORMTrainConfig(_RecipeFields, VerifierTrainConfig):
    """``train-orm`` settings: the shared ones plus the PRM's backbone options and where the
    single score is read."""

    KIND: ClassVar[str] = "orm"

    step_features: str = field(
        default=None,
        metadata=_help(
            "What the score head reads at the score position: hidden (the last hidden state "
            "there) or likelihood (that plus the sum, mean and minimum log-probability of the "
            "whole solution's tokens under the backbone's own LM head).",
            short=STEP_FEATURES_SHORT,
        ),
    )
    head: str = field(
        default=None,
        metadata=_help("The score head: linear, or mlp (one hidden layer of 256 units)."),
    )
    freeze_backbone: bool = field(
        default=None,
        metadata=_help(
            "Train the head only; the backbone (and so its log-probabilities) stays the init's.",
            short="Train the head only, or the backbone too.",
        ),
    )
    score_at: str = field(
        default="eos",
        metadata=_help(
            "Where the score is read: eos (the end-of-sequence token appended after the last "
            "step; the last token when the tokenizer has none) or last-step (the separator "
            "after the last step, where a PRM scores it).",
            short="Where the score is read: eos, or last-step (where a PRM scores it).",
        ),
    )
