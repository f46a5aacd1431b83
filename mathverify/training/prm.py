"""``train-prm``: a process reward model trained by token classification on step separators.

The text of a solution is ``prompt + step_1 + sep + ... + step_k + sep``: the separator is
appended after the last step too, so every step has exactly one *score position*: the last
token that overlaps the separator following it (with a tokenizer that merges the separator
into a neighbour, e.g. ``".\\n\\n"`` or ``"\\n\\nThe"``, that merged token; with one that drops
it, the token covering the step's end). The whole text is tokenised once, with offsets, so
positions are exactly those the scorer reads at inference.

Targets come from ``step_labels`` through :mod:`mathverify.labeling.schemes`:

- ``hard`` / ``soft`` (and ``prm800k`` with its neutral mapping): one logit, binary
  cross-entropy on a target in [0, 1] (soft labels train on the fraction itself);
- ``prm800k`` with ``three_class``: three logits (negative, neutral, positive),
  cross-entropy on the rating.

With ``cut_after_first_wrong`` (the default, as "Let's Verify Step by Step" trains), steps
after the first wrong one get no loss; unlabeled steps (None) never do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from transformers import PreTrainedTokenizerBase

from mathverify.errors import MathverifyError, RecordError
from mathverify.labeling.schemes import (
    LABEL_SOURCE_SCHEMES,
    NEUTRAL_MODES,
    SCHEMES,
    check_labels,
    first_wrong_step,
    to_training_targets,
)
from mathverify.models.card import ModelCard
from mathverify.models.verifier import (
    Example,
    VerifierCollator,
    default_max_length,
    load_tokenizer,
    pad_id,
)
from mathverify.models.verifier_examples import tokenize_prm_example
from mathverify.prompting import PromptFormat
from mathverify.records import Problem, Solution, display_name, read_numbered, read_problems_by_id
from mathverify.training.verifier_common import (
    TrainResult,
    build_model,
    init_prompt_format,
    run_training,
)
from mathverify.training.verifier_config import PRMTrainConfig

__all__ = [
    "PRMTrainConfig",
    "prm_targets",
    "train_prm",
]

# PRM800K rating -> class index of the three-class head.
RATING_CLASS = {-1: 0, 0: 1, 1: 2}


def prm_targets(
    step_labels: Sequence[float | int | None],
    scheme: str,
    *,
    neutral: str = "positive",
    three_class: bool = False,
    cut_after_first_wrong: bool = True,
) -> list[float | None]:
    """Per-step training targets (None: no loss): in [0, 1], or class indices with ``three_class``."""
    if three_class:
        if scheme != "prm800k":
            raise MathverifyError("three-class training needs the prm800k label scheme")
        check_labels(step_labels, scheme)
        targets: list[float | None] = [
            None if v is None else float(RATING_CLASS[int(v)]) for v in step_labels
        ]
    else:
        targets = to_training_targets(step_labels, scheme, neutral)
    if cut_after_first_wrong:
        wrong = first_wrong_step(step_labels, scheme, neutral=neutral)
        if wrong is not None:
            targets = targets[: wrong + 1] + [None] * (len(targets) - wrong - 1)
    return targets


def resolve_scheme(requested: str, solutions: Iterable[Solution]) -> str:
    """``auto``: the scheme of the records' ``label_source`` when all agree and are known."""
    if requested != "auto":
        if requested not in SCHEMES:
            raise MathverifyError(
                f"--label-scheme {requested!r}: choose auto or one of {', '.join(SCHEMES)}"
            )
        return requested
    schemes = {LABEL_SOURCE_SCHEMES.get(s.label_source or "", "hard") for s in solutions}
    if len(schemes) > 1:
        raise MathverifyError(
            f"labels mix schemes ({', '.join(sorted(schemes))}); pass --label-scheme"
        )
    return schemes.pop() if schemes else "hard"


def build_prm_examples(
    solutions: Sequence[tuple[int, Solution]],
    problems: Mapping[str, Problem],
    tokenizer: PreTrainedTokenizerBase,
    prompt_format: PromptFormat,
    config: PRMTrainConfig,
    scheme: str,
    max_length: int,
) -> list[Example]:
    """Tokenised examples; solutions left without any target are dropped."""
    name = display_name(config.input)
    examples: list[Example] = []
    for line, solution in solutions:
        if solution.step_labels is None:
            raise RecordError(name, line, "missing (label the steps first)", field="step_labels")
        problem = problems.get(solution.problem_id)
        if problem is None:
            raise RecordError(
                name, line, f"{solution.problem_id!r} not in {config.problems}", field="problem_id"
            )
        try:
            targets = prm_targets(
                solution.step_labels,
                scheme,
                neutral=config.neutral,
                three_class=config.three_class,
                cut_after_first_wrong=config.cut_after_first_wrong,
            )
        except MathverifyError as exc:
            message = f"{exc} (label scheme {scheme}; --label-scheme chooses another)"
            raise RecordError(name, line, message, field="step_labels") from None
        try:
            encoded = tokenize_prm_example(
                tokenizer, prompt_format, problem.problem, solution.steps, targets, max_length
            )
        except MathverifyError as exc:
            raise RecordError(name, line, str(exc), field="steps") from None
        if any(t is not None for t in encoded["labels"]):
            examples.append(Example(**encoded, group=solution.problem_id))
    return examples


def train_prm(config: PRMTrainConfig) -> TrainResult:
    """Train a PRM from labeled solutions and save it (with its card) to ``config.output``."""
    if config.neutral not in NEUTRAL_MODES:
        raise MathverifyError(
            f"--neutral {config.neutral!r}: choose one of {', '.join(NEUTRAL_MODES)}"
        )
    problems = read_problems_by_id(config.problems)
    solutions = read_numbered(config.input)
    scheme = resolve_scheme(config.label_scheme, (s for _, s in solutions))
    if config.three_class and scheme != "prm800k":
        raise MathverifyError(f"--three-class needs prm800k labels, got scheme {scheme!r}")
    tokenizer = load_tokenizer(config.init)
    prompt_format, base = init_prompt_format(
        config.init, tokenizer, config.prompt_format, config.system
    )
    model = build_model(
        config.init,
        3 if config.three_class else 1,
        config.seed,
        config.step_features,
        config.head,
        config.freeze_backbone,
    )
    max_length = config.max_length or default_max_length(tokenizer, model.backbone)
    examples = build_prm_examples(
        solutions, problems, tokenizer, prompt_format, config, scheme, max_length
    )
    card = ModelCard(
        kind="prm",
        prompt=prompt_format,
        label_scheme=scheme,
        base_model=base,
        extra={
            "loss": "ce" if config.three_class else "bce",
            "n_outputs": 3 if config.three_class else 1,
            "neutral": config.neutral,
            # A step scores P(not negative) when neutral counts as fine, else P(positive).
            "three_class_score": "positive" if config.neutral == "negative" else "not_negative",
            "cut_after_first_wrong": config.cut_after_first_wrong,
            "max_length": max_length,
            "step_features": config.step_features,
            "head": config.head,
            "freeze_backbone": config.freeze_backbone,
            # The recipe, what its fields resolved to, and which an explicit option changed.
            "recipe": config.recipe_record(),
        },
    )
    collator = VerifierCollator(pad_id(tokenizer), step_index=config.step_features == "likelihood")
    return run_training(config, model, tokenizer, card, examples, collator)
