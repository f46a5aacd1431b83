"""Scorers: one protocol (:class:`Scorer`), and :func:`load_scorer` for a saved model directory.

The concrete scorers import torch and transformers, so they load only when asked for:
``import mathverify.scoring`` stays cheap for code that only aggregates scores.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from mathverify.errors import MathverifyError
from mathverify.models.card import load_card
from mathverify.step_scores import AGGREGATIONS, Scorer, StepScores, aggregate

__all__ = ["AGGREGATIONS", "SCORERS", "Scorer", "StepScores", "aggregate", "load_scorer"]

# Model kind (mathverify.json) -> "module:class" of its scorer. One line per kind.
SCORERS: dict[str, str] = {
    "prm": "mathverify.scoring.prm:PRMScorer",
    "orm": "mathverify.scoring.orm:ORMScorer",
    "value": "mathverify.scoring.value:ValueScorer",
}


def load_scorer(path: str | Path, **options: Any) -> Scorer:
    """The scorer for the model directory ``path``, chosen by the kind in its card.

    ``options`` go to the scorer (e.g. ``batch_size``, ``device``). A directory that is not a
    scorer (a policy, or no ``mathverify.json``) raises MathverifyError.
    """
    if not Path(path).is_dir():
        raise MathverifyError(f"{path}: not a directory; --scorer needs a trained model directory")
    card = load_card(path)
    if card.kind not in SCORERS:
        raise MathverifyError(
            f"{path}: is a {card.kind} model, not a scorer (expected {' or '.join(SCORERS)}; "
            "train one with mathverify train-prm or train-orm)"
        )
    module_name, class_name = SCORERS[card.kind].split(":")
    scorer_class = getattr(importlib.import_module(module_name), class_name)
    return scorer_class(path, **options)
