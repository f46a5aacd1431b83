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
from typing import Any

from transformers import PreTrainedTokenizerBase

from mathverify.errors import MathverifyError, RecordError
from mathverify.models.card import ModelCard
from mathverify.prompting import PromptFormat
from mathverify.records import Problem, Solution, display_name, read_problems_by_id
from mathverify.training.prm import tokenize_prm_example
from mathverify.training.verifier_common import (
    Example,
    TrainResult,
    VerifierCollator,
    build_model,
    default_max_length,
    init_prompt_format,
    load_tokenizer,
    pad_id,
    read_numbered,
    run_training,
)
from mathverify.training.verifier_config import ORM_SCORE_POSITIONS, ORMTrainConfig

__all__ = ["ORM_SCORE_POSITIONS", "ORMTrainConfig", "tokenize_orm_example", "train_orm"]


def tokenize_orm_example(
    tokenizer: PreTrainedTokenizerBase,
    prompt_format: PromptFormat,
    problem: str,
    steps: Sequence[str],
    label: float | None = None,
    max_length: int | None = None,
    score_at: str = "eos",
) -> dict[str, Any]:
    """Token ids with one score position and its label, and where step 1 starts.

    Pure: no model, no state. ``score_at`` is ``eos`` or ``last-step`` (module docstring).
    An example whose score position falls at or beyond ``max_length`` keeps no score
    position (cutting it would drop the very end the ORM judges).
    """
    if score_at not in ORM_SCORE_POSITIONS:
        raise MathverifyError(
            f"score position {score_at!r}: choose one of {', '.join(ORM_SCORE_POSITIONS)}"
        )
    if score_at == "last-step":
        if not steps:
            raise MathverifyError("no steps: nothing to score")
        encoded = tokenize_prm_example(tokenizer, prompt_format, problem, steps)
        input_ids = encoded["input_ids"]
        position = encoded["score_positions"][-1]
        step_start = encoded["step_start"]
    else:
        prompt = prompt_format.prompt(problem)
        encoding = tokenizer(
            prompt + prompt_format.solution_text(list(steps)),
            return_offsets_mapping=True,
            add_special_tokens=True,
        )
        input_ids = list(encoding["input_ids"])
        eos = tokenizer.eos_token_id
        if eos is not None and (not input_ids or input_ids[-1] != eos):
            input_ids.append(int(eos))
        if not input_ids:
            raise MathverifyError("empty text: nothing to score")
        position = len(input_ids) - 1
        # The first token that reaches into step 1 (it may hold the prompt's last characters).
        step_start = next(
            (
                t
                for t, (start, stop) in enumerate(encoding["offset_mapping"])
                if start < stop and stop > len(prompt)
            ),
            position,
        )
    if max_length is not None and len(input_ids) > max_length:
        input_ids = input_ids[:max_length]
    if position >= len(input_ids):
        return {"input_ids": input_ids, "score_positions": [], "labels": [], "step_start": None}
    return {
        "input_ids": input_ids,
        "score_positions": [position],
        "labels": [label],
        "step_start": step_start,
    }


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
    prompt_format, base = init_prompt_format(config.init)
    tokenizer = load_tokenizer(config.init)
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
        },
    )
    collator = VerifierCollator(pad_id(tokenizer), step_index=config.step_features == "likelihood")
    return run_training(config, model, tokenizer, card, examples, collator)
