"""``ORMScorer``: the probability that a solution's final answer is right, on its last step.

An outcome reward model judges the whole text it is shown, so only the last entry of each
solution's step scores is filled; the others are ``None``. The text and score position are
those the ORM was trained with (its card's ``extra.score_at``: ``eos``, the default of ORMs
saved before the option, or ``last-step``; training/orm.py). A solution longer than the
model's ``max_length`` gets no score at all.
"""

from __future__ import annotations

from typing import Any

from mathverify.models.verifier_examples import tokenize_orm_example
from mathverify.scoring.prm import TokenScorer
from mathverify.step_scores import StepScores

__all__ = ["ORMScorer"]


class ORMScorer(TokenScorer):
    """An ORM directory as a :class:`~mathverify.step_scores.Scorer`."""

    kind = ("orm",)

    def tokenize(self, problem: str, steps: list[str]) -> dict[str, Any]:
        return tokenize_orm_example(
            self.tokenizer,
            self.card.prompt,
            problem,
            steps,
            max_length=self.max_length,
            score_at=self.card.extra.get("score_at", "eos"),
        )

    def place(self, n_steps: int, probabilities: list[float]) -> StepScores:
        scores: StepScores = [None] * n_steps
        if n_steps and probabilities:
            scores[-1] = probabilities[-1]
        return scores
