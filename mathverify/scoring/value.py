"""``ValueScorer``: a value model directory (``train-value``) as a step scorer.

The value head reads one logit at each step's separator position, tokenised exactly as
``train-value`` (and ``train-prm``) tokenised it; the score is ``sigmoid(logit)`` in [0, 1],
the estimated ``(V + 1) / 2`` of the partial solution ending at that step. MCTS maps a
score back to a value by ``2s - 1``. Steps beyond the model's ``max_length`` get ``None``.
"""

from __future__ import annotations

from mathverify.scoring.prm import PRMScorer

__all__ = ["ValueScorer"]


class ValueScorer(PRMScorer):
    """A value directory as a :class:`~mathverify.step_scores.Scorer`: one score per step."""

    kind = ("value",)
