"""PNG plots and their numbers as JSON, for ``mathverify eval --plot DIR``.

Draws with matplotlib's Agg canvas on :class:`~matplotlib.figure.Figure` objects (no
pyplot, no global backend, no display needed):

- ``reliability.png``: reliability diagrams of step scores (against step labels) and of
  solution scores (against outcomes), one line per input, with the diagonal and ECE;
- ``best_of_n.png``: best-of-N, majority vote and pass@N against N (log2 axis), per input;
- ``accuracy_vs_tokens.png``: accuracy against mean generated tokens per problem, one
  series per search method (the compute-matched view).

A plot is drawn only when its data exist; ``diagnostics.json`` holds every number drawn,
the counts of solutions used in part, and the provenance of the numbers.
Computing the numbers is not done here (:mod:`mathverify.eval.calibration`,
:mod:`mathverify.eval.curves`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from mathverify.eval.calibration import Reliability
from mathverify.eval.curves import BestOfNPoint, ComputePoint

__all__ = [
    "Diagnostics",
    "plot_accuracy_vs_tokens",
    "plot_best_of_n",
    "plot_reliability",
    "write_diagnostics",
]

JSON_NAME = "diagnostics.json"
RELIABILITY_PNG = "reliability.png"
BEST_OF_N_PNG = "best_of_n.png"
COMPUTE_PNG = "accuracy_vs_tokens.png"


@dataclass
class Diagnostics:
    """Everything ``eval --plot`` draws, keyed by input name."""

    step_calibration: dict[str, Reliability] = field(default_factory=dict)
    solution_calibration: dict[str, Reliability] = field(default_factory=dict)
    best_of_n: dict[str, list[BestOfNPoint]] = field(default_factory=dict)
    compute: list[ComputePoint] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    # Per input with scores: solutions, and those a plot uses in part (unscored, no labels).
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    # What made the numbers: eval's settings and the inputs' record provenances.
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "provenance": self.provenance,
            "settings": self.settings,
            "counts": self.counts,
            "step_calibration": {k: v.to_dict() for k, v in self.step_calibration.items()},
            "solution_calibration": {k: v.to_dict() for k, v in self.solution_calibration.items()},
            "best_of_n": {k: [p.to_dict() for p in v] for k, v in self.best_of_n.items()},
            "accuracy_vs_tokens": [p.to_dict() for p in self.compute],
        }


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.savefig(path, format="png", dpi=120)
    return path


def _plain_ticks(ax: Any) -> None:
    """Tick labels as plain numbers (4, 16, 300), not powers, on a log x axis."""
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _reliability_axes(ax: Any, data: dict[str, Reliability], what: str) -> None:
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    for name, rel in data.items():
        used = [b for b in rel.bins if b.count]
        ece = "n/a" if rel.ece is None else f"{rel.ece:.3f}"
        ax.plot(
            [b.mean_score for b in used],
            [b.mean_target for b in used],
            marker="o",
            label=f"{name} (ECE {ece}, n={rel.n})",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"mean {what} score in bin")
    ax.set_ylabel("fraction correct in bin")
    ax.set_title(f"{what} scores")
    ax.legend(loc="best", fontsize="small")


def plot_reliability(
    step: dict[str, Reliability], solution: dict[str, Reliability], path: Path
) -> Path:
    """Reliability diagrams (one panel for steps, one for solutions, as available)."""
    panels = [(data, what) for data, what in ((step, "step"), (solution, "solution")) if data]
    if not panels:
        raise ValueError("no calibration data to plot")
    figure = Figure(figsize=(5.5 * len(panels), 5), layout="constrained")
    for i, (data, what) in enumerate(panels):
        _reliability_axes(figure.add_subplot(1, len(panels), i + 1), data, what)
    figure.suptitle("Reliability diagram")
    return _save(figure, path)


def plot_best_of_n(curves: dict[str, list[BestOfNPoint]], path: Path) -> Path:
    """Best-of-N (solid), majority vote (dashed) and pass@N (dotted) against N."""
    if not any(curves.values()):
        raise ValueError("no best-of-N data to plot")
    figure = Figure(figsize=(7, 5), layout="constrained")
    ax = figure.add_subplot()
    for name, points in curves.items():
        if not points:
            continue
        ns = [p.n for p in points]
        (line,) = ax.plot(ns, [p.best_of_n for p in points], marker="o", label=f"{name} best-of-N")
        color = line.get_color()
        ax.plot(
            ns,
            [p.majority for p in points],
            marker="s",
            linestyle="--",
            color=color,
            label=f"{name} majority",
        )
        ax.plot(
            ns,
            [p.pass_at_n for p in points],
            linestyle=":",
            color=color,
            label=f"{name} pass@N",
        )
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted({p.n for points in curves.values() for p in points}))
    _plain_ticks(ax)
    ax.set_xlabel("N (solutions per problem)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.set_title("Best-of-N against majority vote")
    ax.legend(fontsize="small")
    return _save(figure, path)


def plot_accuracy_vs_tokens(points: list[ComputePoint], path: Path) -> Path:
    """Accuracy against mean generated tokens per problem; one series per method."""
    if not points:
        raise ValueError("no search results to plot")
    by_method: dict[str, list[ComputePoint]] = defaultdict(list)
    for point in points:
        by_method[point.method].append(point)
    figure = Figure(figsize=(7, 5), layout="constrained")
    ax = figure.add_subplot()
    for method, series in by_method.items():
        series = sorted(series, key=lambda p: p.mean_tokens)
        ax.plot(
            [p.mean_tokens for p in series],
            [p.accuracy for p in series],
            marker="o",
            label=method,
        )
        for p in series:
            ax.annotate(
                p.name,
                (p.mean_tokens, p.accuracy),
                xytext=(4, -10),
                textcoords="offset points",
                fontsize="x-small",
            )
    tokens = [p.mean_tokens for p in points]
    if min(tokens) > 0 and max(tokens) / min(tokens) > 10:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        _plain_ticks(ax)
    ax.set_xlabel("mean generated tokens per problem")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.set_title("Accuracy against generated tokens")
    ax.legend(fontsize="small")
    return _save(figure, path)


def write_diagnostics(directory: str | Path, diagnostics: Diagnostics) -> list[Path]:
    """Write the PNGs that have data and ``diagnostics.json`` into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    if diagnostics.step_calibration or diagnostics.solution_calibration:
        written.append(
            plot_reliability(
                diagnostics.step_calibration,
                diagnostics.solution_calibration,
                directory / RELIABILITY_PNG,
            )
        )
    if any(diagnostics.best_of_n.values()):
        written.append(plot_best_of_n(diagnostics.best_of_n, directory / BEST_OF_N_PNG))
    if diagnostics.compute:
        written.append(plot_accuracy_vs_tokens(diagnostics.compute, directory / COMPUTE_PNG))
    json_path = directory / JSON_NAME
    json_path.write_text(json.dumps(diagnostics.to_dict(), indent=2) + "\n", encoding="utf-8")
    written.append(json_path)
    return written
