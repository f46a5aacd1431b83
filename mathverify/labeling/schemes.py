"""Step-label schemes in one place: what a label value means and how it becomes a target.

Three schemes cover every labeler and dataset here:

- ``hard``: 1 (correct) or 0 (wrong); Math-Shepherd hard estimation, ProcessBench, exact
  checking.
- ``soft``: a value in [0, 1], e.g. the fraction of rollouts that reach the right answer.
- ``prm800k``: PRM800K's three classes, -1 (wrong), 0 (neutral: fine but no progress, or
  ambiguous) and 1 (correct).

In every scheme ``None`` means "not labeled" (after ProcessBench's first error, or where a
labeler stopped); it stays ``None`` as a training target, so a loss can mask it.

Neutral PRM800K steps map to a target by ``neutral``: ``positive`` (the default, as in
"Let's Verify Step by Step", which counts neutral steps as not wrong), ``negative``, or
``ignore`` (no target). Not here: how a model turns targets into a loss (training/).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mathverify.errors import MathverifyError

__all__ = [
    "LABEL_SOURCE_SCHEMES",
    "NEUTRAL_MODES",
    "SCHEMES",
    "check_labels",
    "first_wrong_step",
    "scheme_for_source",
    "to_training_targets",
]

SCHEMES = ("hard", "soft", "prm800k")
NEUTRAL_MODES = ("positive", "negative", "ignore")

# The scheme each converter or labeler writes, keyed by a solution's `label_source`.
LABEL_SOURCE_SCHEMES: dict[str, str] = {
    "prm800k": "prm800k",
    "math-shepherd": "hard",
    "processbench": "hard",
    "exact": "hard",
    "mcts": "soft",
    # data stepwise: the hub's stepwise-supervision layout (booleans, or numbers in [0, 1]).
    "stepwise": "hard",
    "stepwise-soft": "soft",
}

# Sources whose name carries parameters, e.g. "rollout-soft-k8" from labeling/rollout.py.
_LABEL_SOURCE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("rollout-hard-", "hard"),
    ("rollout-soft-", "soft"),
    ("supervisor-hard", "hard"),
    ("supervisor-soft", "soft"),
)

_NEUTRAL_TARGET: dict[str, float | None] = {"positive": 1.0, "negative": 0.0, "ignore": None}

Label = float | int | None


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise MathverifyError(f"unknown {what} {value!r}: choose one of {', '.join(choices)}")


def scheme_for_source(label_source: str) -> str:
    """The label scheme of a ``label_source`` written by a converter or labeler."""
    if label_source in LABEL_SOURCE_SCHEMES:
        return LABEL_SOURCE_SCHEMES[label_source]
    for prefix, scheme in _LABEL_SOURCE_PREFIXES:
        if label_source.startswith(prefix):
            return scheme
    known = ", ".join(
        [*sorted(LABEL_SOURCE_SCHEMES), *(f"{p}*" for p, _ in _LABEL_SOURCE_PREFIXES)]
    )
    raise MathverifyError(f"label source {label_source!r} has no known scheme ({known})")


def check_labels(step_labels: Sequence[Label], scheme: str) -> None:
    """Raise MathverifyError naming the first step whose label the scheme does not allow."""
    _check_choice(scheme, SCHEMES, "label scheme")
    for index, value in enumerate(step_labels):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise MathverifyError(f"step {index}: label {value!r} is not a number")
        if scheme == "hard" and value not in (0, 1):
            raise MathverifyError(f"step {index}: hard label must be 0 or 1, got {value!r}")
        if scheme == "soft" and not 0.0 <= value <= 1.0:
            raise MathverifyError(f"step {index}: soft label must be in [0, 1], got {value!r}")
        if scheme == "prm800k" and value not in (-1, 0, 1):
            raise MathverifyError(f"step {index}: PRM800K rating must be -1, 0 or 1, got {value!r}")


def to_training_targets(
    step_labels: Sequence[Label], scheme: str, neutral: str = "positive"
) -> list[float | None]:
    """Per-step targets in [0, 1] (None = no target) for a PRM's loss."""
    _check_choice(neutral, NEUTRAL_MODES, "neutral mode")
    check_labels(step_labels, scheme)
    targets: list[float | None] = []
    for value in step_labels:
        if value is None:
            targets.append(None)
        elif scheme == "prm800k":
            targets.append(_NEUTRAL_TARGET[neutral] if value == 0 else (1.0 if value == 1 else 0.0))
        else:
            targets.append(float(value))
    return targets


def first_wrong_step(
    step_labels: Sequence[Label],
    scheme: str,
    *,
    neutral: str = "positive",
    threshold: float = 0.5,
) -> int | None:
    """Index of the first wrong step, or None when no labeled step is wrong.

    Wrong means 0 (hard), below ``threshold`` (soft), or -1 (prm800k; also 0 when
    ``neutral="negative"``). Unlabeled steps (None) are never wrong.
    """
    _check_choice(neutral, NEUTRAL_MODES, "neutral mode")
    check_labels(step_labels, scheme)
    for index, value in enumerate(step_labels):
        if value is None:
            continue
        if scheme == "hard" and value == 0:
            return index
        if scheme == "soft" and value < threshold:
            return index
        if scheme == "prm800k" and (value == -1 or (value == 0 and neutral == "negative")):
            return index
    return None
