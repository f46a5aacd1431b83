"""``train-orm``: an outcome reward model trained pointwise on "is the final answer right".

One score per solution, read at its *score position* (``--score-at``):

- ``eos`` (the default, as "Let's Verify Step by Step" reads its ORM at the final token): the
  text is ``prompt + step_1 + sep + ... + step_k`` followed by the tokenizer's
  end-of-sequence token (when it has one), and the score is read at that last token;
- ``last-step``: the PRM's text, ``... + step_k + sep``, and the score is read where a PRM
  scores the last step (:func:`mathverify.training.prm.score_positions`).

The loss is binary cross-entropy against the solution's ``outcome``. The model has the
PRM's options (``--step-features``, ``--head``, ``--freeze-backbone``): with
``likelihood`` the head also reads the sum, mean and minimum log-probability under the
backbone's LM head of the whole solution's tokens, from the first token of step 1 to the
score position (the solution is one "step"). A fresh head (rather than the LM head's logit
of a chosen token) keeps the ORM the same model shape as the PRM, so both share one
trainer, one format and one loader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from transformers import PreTrainedTokenizerBase

from mathverify.errors import MathverifyError, RecordError
from mathverify.models.card import ModelCard
from mathverify.models.verifier import (
    Example,
    VerifierCollator,
    default_max_length,
    load_tokenizer,
    pad_id,
)
from mathverify.models.verifier_examples import ORM_SCORE_POSITIONS, tokenize_orm_example
from mathverify.prompting import PromptFormat
from mathverify.records import Problem, Solution, display_name, read_numbered, read_problems_by_id
from mathverify.training.verifier_common import (
    TrainResult,
    build_model,
    init_prompt_format,
    run_training,
)
from mathverify.training.verifier_config import ORMTrainConfig

__all__ = ["ORM_SCORE_POSITIONS", "ORMTrainConfig", "tokenize_orm_example", "train_orm"]


def build_orm_examples(
    solutions: Sequence[tuple[int, Solution]],
    problems: Mapping[str, Problem],
    tokenizer: PreTrainedTokenizerBase,
    prompt_format: PromptFormat,
    config: ORMTrainConfig,
    max_length: int,
) -> list[Example]:
    """Tokenised examples; a solution longer than ``max_length`` is dropped."""
    name = display_name(config.input)
    examples: list[Example] = []
    for line, solution in solutions:
        if solution.outcome is None:
            raise RecordError(
                name,
                line,
                "missing (run `mathverify label --method outcome` first)",
                field="outcome",
            )
        problem = problems.get(solution.problem_id)
        if problem is None:
            raise RecordError(
                name, line, f"{solution.problem_id!r} not in {config.problems}", field="problem_id"
            )
        try:
            encoded = tokenize_orm_example(
                tokenizer,
                prompt_format,
                problem.problem,
                solution.steps,
                1.0 if solution.outcome else 0.0,
                max_length,
                config.score_at,
            )
        except MathverifyError as exc:
            raise RecordError(name, line, str(exc), field="steps") from None
        if encoded["score_positions"]:
            examples.append(Example(**encoded, group=solution.problem_id))
    return examples


def train_orm(config: ORMTrainConfig) -> TrainResult:
    """Train an ORM from outcome-labeled solutions and save it to ``config.output``."""
    if config.score_at not in ORM_SCORE_POSITIONS:
        raise MathverifyError(
            f"--score-at {config.score_at!r}: choose one of {', '.join(ORM_SCORE_POSITIONS)}"
        )
    problems = read_problems_by_id(config.problems)
    solutions = read_numbered(config.input)
    tokenizer = load_tokenizer(config.init)
    prompt_format, base = init_prompt_format(
        config.init, tokenizer, config.prompt_format, config.system
    )
    model = build_model(
        config.init,
        1,
        config.seed,
        config.step_features,
        config.head,
        config.freeze_backbone,
    )
    max_length = config.max_length or default_max_length(tokenizer, model.backbone)
    examples = build_orm_examples(solutions, problems, tokenizer, prompt_format, config, max_length)
    card = ModelCard(
        kind="orm",
        prompt=prompt_format,
        label_scheme="outcome",
        base_model=base,
        extra={
            "loss": "bce",
            "n_outputs": 1,
            "score_position": "last token (eos)" if config.score_at == "eos" else "last step",
            "score_at": config.score_at,
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
