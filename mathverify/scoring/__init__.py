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

__all__ = [
    "AGGREGATIONS",
    "SCORERS",
    "Scorer",
    "StepScores",
    "aggregate",
    "load_scorer",
    "scorer_provenance",
]

# Model kind (mathverify.json) -> "module:class" of its scorer. One line per kind.
SCORERS: dict[str, str] = {
    "prm": "mathverify.scoring.prm:PRMScorer",
    "orm": "mathverify.scoring.orm:ORMScorer",
    "value": "mathverify.scoring.value:ValueScorer",
}


def load_scorer(path: str | Path, scorer_format: str = "auto", **options: Any) -> Scorer:
    """The scorer for the model directory (or hub name) ``path``.

    ``scorer_format``: ``mathverify`` (a directory with ``mathverify.json``: the scorer of
    its kind), a public format (:data:`~mathverify.scoring.public.PUBLIC_FORMATS`), or
    ``auto`` (the card when there is one, else :func:`~mathverify.scoring.public.detect_format`).
    ``options`` go to the scorer (e.g. ``batch_size``, ``device``). A directory that is not
    a scorer (a policy, or an unknown format) raises MathverifyError.
    """
    from mathverify.scoring.public import SCORER_FORMATS

    if scorer_format not in SCORER_FORMATS:
        raise MathverifyError(
            f"--scorer-format {scorer_format!r}: choose one of {', '.join(SCORER_FORMATS)}"
        )
    if not Path(path).is_dir() and not _hub_name(str(path)):
        raise MathverifyError(
            f"{path}: not a directory; --scorer needs a model directory or a hub name"
        )
    if scorer_format == "auto":
        from mathverify.scoring.public import detect_format

        scorer_format = detect_format(path)
    if scorer_format != "mathverify":
        from mathverify.scoring.public import PublicScorer

        return _described(PublicScorer(path, fmt=scorer_format, **options), path, scorer_format)
    card = load_card(path)
    if card.kind not in SCORERS:
        raise MathverifyError(
            f"{path}: is a {card.kind} model, not a scorer (expected {' or '.join(SCORERS)}; "
            "train one with mathverify train-prm or train-orm)"
        )
    module_name, class_name = SCORERS[card.kind].split(":")
    scorer_class = getattr(importlib.import_module(module_name), class_name)
    return _described(scorer_class(path, **options), path, f"mathverify-{card.kind}")


def _described(scorer: Any, path: str | Path, scorer_format: str) -> Any:
    # What a provenance names: where the scorer came from and the format it was read in.
    scorer.source = str(path)
    scorer.scorer_format = scorer_format
    return scorer


def scorer_provenance(scorer: Any | None) -> dict[str, Any]:
    """``scorer`` and ``scorer_format`` of a loaded scorer (``None`` for no scorer)."""
    if scorer is None:
        return {"scorer": None, "scorer_format": None}
    return {
        "scorer": getattr(scorer, "source", type(scorer).__name__),
        "scorer_format": getattr(scorer, "scorer_format", None),
    }


def _hub_name(name: str) -> bool:
    """``owner/name`` as the hub spells it (a relative path that does not exist locally)."""
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith(".") and not Path(name).exists()
