"""How one verifier example is tokenised: the same function for training and for scoring.

A PRM example is ``prompt + step_1 + sep + ... + step_k + sep``, with one *score position*
per step: the last token that overlaps the separator following it (with a tokenizer that
merges the separator into a neighbour, e.g. ``".\\n\\n"`` or ``"\\n\\nThe"``, that merged
token; with one that drops it, the token covering the step's end). The whole text is
tokenised once, with offsets, so positions are exactly those the scorer reads at inference.

An ORM example is ``prompt + step_1 + sep + ... + step_k`` followed by the tokenizer's
end-of-sequence token (when it has one), scored at that last token.

Pure functions of (tokenizer, prompt format, problem, steps): no model, no state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import PreTrainedTokenizerBase

from mathverify.errors import MathverifyError
from mathverify.prompting import PromptFormat

__all__ = [
    "ORM_SCORE_POSITIONS",
    "score_positions",
    "tokenize_orm_example",
    "tokenize_prm_example",
    "tokenize_prm_examples",
]


def score_positions(offsets: Sequence[tuple[int, int]], separator_ends: Sequence[int]) -> list[int]:
    """For each separator ending at character ``end``, the last real token starting before it.

    That is the last token overlapping the separator when one does, else the token covering
    the step's end. Special tokens (empty offsets) are skipped. Raises MathverifyError when
    two steps would share a position (a step with no token of its own).
    """
    positions: list[int] = []
    token = -1
    best = -1
    for end in separator_ends:
        while token + 1 < len(offsets) and offsets[token + 1][0] < end:
            token += 1
            start, stop = offsets[token]
            if start < stop:
                best = token
        if best < 0 or (positions and best == positions[-1]):
            raise MathverifyError(
                f"step {len(positions)} has no token of its own (empty step, or merged with its "
                "separators by the tokenizer)"
            )
        positions.append(best)
    return positions


def tokenize_prm_example(
    tokenizer: PreTrainedTokenizerBase,
    prompt_format: PromptFormat,
    problem: str,
    steps: Sequence[str],
    labels: Sequence[float | int | None] | None = None,
    max_length: int | None = None,
) -> dict[str, list[Any]]:
    """Token ids, one score position per step, and the step labels aligned with them.

    Pure: no model, no state. ``labels`` (targets: floats in [0, 1], class indices, or None)
    default to None. With ``max_length`` the ids are cut there and steps whose position falls
    beyond are dropped, so ``score_positions``/``labels`` cover a prefix of the steps.
    """
    if labels is not None and len(labels) != len(steps):
        raise MathverifyError(f"{len(labels)} labels for {len(steps)} steps")
    return tokenize_prm_examples(tokenizer, prompt_format, [(problem, steps)], max_length, labels)[
        0
    ]


def tokenize_prm_examples(
    tokenizer: PreTrainedTokenizerBase,
    prompt_format: PromptFormat,
    solutions: Sequence[tuple[str, Sequence[str]]],
    max_length: int | None = None,
    labels: Sequence[float | int | None] | None = None,
) -> list[dict[str, list[Any]]]:
    """:func:`tokenize_prm_example` of each (problem, steps), unlabeled, in one tokenizer call
    (a scorer tokenises thousands of candidates per search depth). ``labels`` is for the
    single-solution wrapper above."""
    separator = prompt_format.separator
    texts: list[str] = []
    layouts: list[tuple[int, list[int]]] = []
    for problem, steps in solutions:
        prompt = prompt_format.prompt(problem)
        texts.append(prompt + separator.join(steps) + separator)
        ends: list[int] = []
        cursor = len(prompt)
        for step in steps:
            cursor += len(step) + len(separator)
            ends.append(cursor)
        layouts.append((len(prompt), ends))
    if not texts:
        return []
    encodings = tokenizer(texts, return_offsets_mapping=True, add_special_tokens=True)
    examples: list[dict[str, list[Any]]] = []
    for index, (prompt_length, ends) in enumerate(layouts):
        input_ids = list(encodings["input_ids"][index])
        offsets = encodings["offset_mapping"][index]
        positions = score_positions(offsets, ends)
        # The first token that reaches into step 0 (it may hold the prompt's last characters).
        step_start = next(
            (t for t, (start, stop) in enumerate(offsets) if start < stop and stop > prompt_length),
            positions[0] if positions else len(input_ids),
        )
        kept_labels = list(labels) if labels is not None else [None] * len(ends)
        if max_length is not None and len(input_ids) > max_length:
            input_ids = input_ids[:max_length]
            keep = sum(1 for p in positions if p < max_length)
            positions, kept_labels = positions[:keep], kept_labels[:keep]
        examples.append(
            {
                "input_ids": input_ids,
                "score_positions": positions,
                "labels": kept_labels,
                "step_start": step_start,
            }
        )
    return examples


# Where an ORM reads its score (training/orm.py): the end-of-sequence token appended after
# the last step, or the last step's separator (where a PRM scores the last step).
ORM_SCORE_POSITIONS = ("eos", "last-step")


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
