"""``train-orm``: an outcome reward model trained pointwise on "is the final answer right".

The text is ``prompt + step_1 + sep + ... + step_k`` followed by the tokenizer's
end-of-sequence token (when it has one); a scalar head reads the backbone's hidden state at
that last token, and the loss is binary cross-entropy against the solution's ``outcome``.
A fresh linear head (rather than the LM head's logit of a chosen token) keeps the ORM the
same model shape as the PRM, so both share one trainer, one format and one loader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from transformers import PreTrainedTokenizerBase

from mathverify.errors import RecordError
from mathverify.models.card import ModelCard
from mathverify.models.verifier import Example, default_max_length, load_tokenizer
from mathverify.models.verifier_examples import tokenize_orm_example
from mathverify.prompting import PromptFormat
from mathverify.records import Problem, Solution, display_name, read_numbered, read_problems_by_id
from mathverify.training.verifier_common import (
    TrainResult,
    build_model,
    init_prompt_format,
    run_training,
)
from mathverify.training.verifier_config import ORMTrainConfig, VerifierTrainConfig

__all__ = ["ORMTrainConfig", "train_orm"]


def build_orm_examples(
    solutions: Sequence[tuple[int, Solution]],
    problems: Mapping[str, Problem],
    tokenizer: PreTrainedTokenizerBase,
    prompt_format: PromptFormat,
    config: VerifierTrainConfig,
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
        encoded = tokenize_orm_example(
            tokenizer,
            prompt_format,
            problem.problem,
            solution.steps,
            1.0 if solution.outcome else 0.0,
            max_length,
        )
        if encoded["score_positions"]:
            examples.append(Example(**encoded, group=solution.problem_id))
    return examples


def train_orm(config: VerifierTrainConfig) -> TrainResult:
    """Train an ORM from outcome-labeled solutions and save it to ``config.output``."""
    problems = read_problems_by_id(config.problems)
    solutions = read_numbered(config.input)
    tokenizer = load_tokenizer(config.init)
    prompt_format, base = init_prompt_format(
        config.init, tokenizer, config.prompt_format, config.system
    )
    model = build_model(config.init, 1, config.seed)
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
            "score_position": "last token (eos)",
            "max_length": max_length,
        },
    )
    return run_training(config, model, tokenizer, card, examples)
