"""Named recipes of ``train-prm`` and ``train-orm`` (``--recipe``): defaults for several options.

A recipe fixes what the score head reads, the head, whether the backbone trains, and the
step budget, batch size and learning rate that go with that choice. An option given
explicitly wins over the recipe's value (:mod:`mathverify.training.verifier_config` resolves
them); the trained model's card records the recipe and the values it resolved to.

- ``frozen-likelihood`` (the default): the head reads the backbone's last hidden state at
  each separator plus the sum, mean and minimum log-probability of the step's tokens under
  the backbone itself, through a two-layer MLP; the backbone stays frozen (its features are
  computed once). The demo's PRM and examples/letsverify's PRMs and ORMs; on the demo task it
  beats greedy decoding and a random sample (docs/results.md).
- ``finetune``: a linear head on the hidden state with the backbone fine-tuned, the usual
  recipe of Math-Shepherd- and PRM800K-style PRMs, and these commands' defaults before
  issue #38. On the demo's few thousand solutions it learned how hard a problem is and
  ranked one problem's samples at chance (PRM best-of-16 36.2, below a random sample);
  with a large backbone and much data it is the one papers use.

Not here: the trainers (:mod:`mathverify.training.prm`, :mod:`mathverify.training.orm`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from mathverify.errors import MathverifyError

__all__ = ["DEFAULT_RECIPE", "RECIPES", "RECIPE_FIELDS", "Recipe", "recipe_values"]

# The config fields a recipe sets; every other option keeps its own default.
RECIPE_FIELDS = ("step_features", "head", "freeze_backbone", "max_steps", "batch_size", "lr")
KINDS = ("prm", "orm")


@dataclass(frozen=True)
class Recipe:
    """A preset: one value per :data:`RECIPE_FIELDS` name for each verifier kind."""

    name: str
    prm: Mapping[str, Any]
    orm: Mapping[str, Any]

    def __post_init__(self) -> None:
        for kind in KINDS:
            values = getattr(self, kind)
            if set(values) != set(RECIPE_FIELDS):
                raise ValueError(f"recipe {self.name} ({kind}) must set {RECIPE_FIELDS}")
            object.__setattr__(self, kind, MappingProxyType(dict(values)))


_FROZEN_LIKELIHOOD = {"step_features": "likelihood", "head": "mlp", "freeze_backbone": True}
_FINETUNE = {"step_features": "hidden", "head": "linear", "freeze_backbone": False}

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "frozen-likelihood",
            # The demo's settings (root Makefile: PRM_STEPS, PRM_LR, PRM_OPTS, batch 32),
            # chosen by held-out validation loss; the ORM's are examples/letsverify's.
            prm={**_FROZEN_LIKELIHOOD, "max_steps": 1000, "batch_size": 32, "lr": 3e-3},
            orm={**_FROZEN_LIKELIHOOD, "max_steps": 500, "batch_size": 32, "lr": 3e-3},
        ),
        Recipe(
            "finetune",
            # train-prm's and train-orm's defaults before recipes existed.
            prm={**_FINETUNE, "max_steps": 500, "batch_size": 16, "lr": 1e-4},
            orm={**_FINETUNE, "max_steps": 500, "batch_size": 16, "lr": 1e-4},
        ),
    )
}
DEFAULT_RECIPE = "frozen-likelihood"


def recipe_values(name: str, kind: str) -> dict[str, Any]:
    """The values recipe ``name`` gives a ``kind`` (prm or orm) verifier's options."""
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: one of {KINDS}")
    if name not in RECIPES:
        raise MathverifyError(f"--recipe {name!r}: choose one of {', '.join(RECIPES)}")
    return dict(getattr(RECIPES[name], kind))
