"""Write examples/letsverify/RESULTS.md and its PNG from the scored files the Makefile made.

Run by the Makefile beside it. The verifiers, samples, labels and scores all come from the
`mathverify` CLI; this script only measures them against the exact labels and lays the
numbers out:

- step AUROC of each verifier's step scores against the exact step labels (all steps, and
  the steps up to the first wrong one, the ones a PRM trained with the first-error cut sees);
- solution AUROC of the aggregated score (min, product for a PRM; the last step's for an
  ORM) against the final answer's correctness;
- best-of-N for N = 1, 2, 4, ... (:func:`mathverify.eval.curves.best_of_n_curve`, the same
  code as ``mathverify eval --plot``), majority vote and pass@N: each the exact expectation
  over all N-subsets of a problem's samples (maj@N as ``mathverify eval``'s table);
- with ``--versus-majority NAME[:OTHER]``: NAME's best-of-N minus majority vote at each N,
  paired over problems (per problem, over the same N-subsets), per seed with its standard
  error, and NAME's lead over OTHER; claim lines say whether the margins hold;
- the run times the Makefile wrote (``OUT/seconds/<step>.txt``: seconds and the 1-minute
  load average when the step ended).

A verifier may name several scored files, comma-separated: the same samples scored by the
same recipe trained with different seeds. Every number is then measured on each file and
shown as the mean +- the sample standard deviation over the files; the figure draws the
mean with the lowest-to-highest band.

    python report.py runs/letsverify --verifier "PRM (exact):samples64.prm-exact.jsonl:prm" \
        --verifier "ORM:orm-s0.jsonl,orm-s1.jsonl,orm-s2.jsonl:orm" \
        --curve "PRM (exact)" --budget "PRM (exact)" ... --results RESULTS.md --png best_of_n.png \
        --versus-majority "PRM (exact), product:ORM"
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mathverify.eval.curves import (
    BestOfNPoint,
    Candidate,
    ProblemPoint,
    best_of_n_curve,
    mean_over_problems,
    problem_points,
)
from mathverify.eval.labels import auroc
from mathverify.eval.metrics import paired_difference
from mathverify.records import Solution, read_records
from mathverify.step_scores import aggregate

AGGREGATIONS = {"prm": ("min", "product"), "orm": ("last",)}


@dataclass(frozen=True)
class Verifier:
    name: str
    paths: tuple[Path, ...]  # one scored file per training seed
    kind: str  # prm or orm


@dataclass
class Quality:
    n_solutions: int
    n_steps: int
    n_wrong_steps: int
    step_auroc: float | None
    step_auroc_until_first_wrong: float | None
    step_auroc_prefix_min: float | None
    solution_auroc: dict[str, float | None]
    within_problem_auroc: dict[str, float | None]


def parse_verifier(text: str, out: Path) -> Verifier:
    try:
        name, paths, kind = text.rsplit(":", 2)
    except ValueError:
        raise SystemExit(f"--verifier {text!r}: expected NAME:FILE[,FILE...]:prm|orm") from None
    if kind not in AGGREGATIONS:
        raise SystemExit(f"--verifier {text!r}: kind must be prm or orm, not {kind!r}")
    return Verifier(name, tuple(out / p for p in paths.split(",")), kind)


def spread(values: list[float | None], show) -> str:  # noqa: ANN001 (a formatter)
    """One value as ``show`` writes it; several as ``mean +- sd`` (sample sd over seeds)."""
    present = [v for v in values if v is not None]
    if not present:
        return show(None)
    if len(values) == 1:
        return show(present[0])
    sd = statistics.stdev(present) if len(present) > 1 else 0.0
    return f"{show(statistics.fmean(present))} ± {show(sd).lstrip()}"


def mean(values: list[float]) -> float:
    return statistics.fmean(values)


@dataclass(frozen=True)
class Point:
    """One best-of-N point over seeds: the mean best-of-N, its per-seed values, and the
    majority vote and pass@N (the same for every seed: the same samples and subsets)."""

    n: int
    best_of_n: float
    seeds: tuple[float, ...]
    majority: float
    pass_at_n: float

    def to_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "best_of_n": self.best_of_n,
            "best_of_n_by_seed": list(self.seeds),
            "majority": self.majority,
            "pass_at_n": self.pass_at_n,
        }


def over_seeds(runs: list[list[BestOfNPoint]]) -> list[Point]:
    """Per-seed curves (same N) as one curve of mean best-of-N."""
    return [
        Point(
            n=points[0].n,
            best_of_n=mean([p.best_of_n for p in points]),
            seeds=tuple(p.best_of_n for p in points),
            majority=points[0].majority,
            pass_at_n=points[0].pass_at_n,
        )
        for points in zip(*runs, strict=True)
    ]


def pct_spread(point: Point) -> str:
    return spread(list(point.seeds), pct)


def load(path: Path) -> list[Solution]:
    solutions = list(read_records(str(path), Solution))
    for s in solutions:
        if s.step_scores is None or s.step_labels is None or s.outcome is None:
            raise SystemExit(f"{path}: solution {s.key()} lacks step_scores or exact labels")
    return solutions


def quality(solutions: list[Solution], kind: str) -> Quality:
    scores: list[float] = []
    labels: list[bool] = []
    until_scores: list[float] = []
    until_labels: list[bool] = []
    prefix_min: list[float] = []
    if kind == "prm":
        for s in solutions:
            last = s.first_wrong_step if s.first_wrong_step is not None else len(s.steps) - 1
            lowest = math.inf
            for index, (score, label) in enumerate(zip(s.step_scores, s.step_labels, strict=True)):
                if score is None or label is None:
                    continue
                lowest = min(lowest, score)
                scores.append(score)
                prefix_min.append(lowest)
                labels.append(label > 0.5)
                if index <= last:
                    until_scores.append(score)
                    until_labels.append(label > 0.5)
    outcomes = [bool(s.outcome) for s in solutions]
    return Quality(
        n_solutions=len(solutions),
        n_steps=len(labels),
        n_wrong_steps=labels.count(False),
        step_auroc=auroc(scores, labels) if labels else None,
        step_auroc_until_first_wrong=auroc(until_scores, until_labels) if until_labels else None,
        step_auroc_prefix_min=auroc(prefix_min, labels) if labels else None,
        solution_auroc={
            how: auroc([aggregate(s.step_scores, how) for s in solutions], outcomes)
            for how in AGGREGATIONS[kind]
        },
        within_problem_auroc={how: within_problem(solutions, how) for how in AGGREGATIONS[kind]},
    )


def within_problem(solutions: list[Solution], how: str) -> float | None:
    """Mean over problems (with right and wrong samples) of the solution AUROC among its samples.

    Best-of-N only ranks samples of one problem against each other, so this, not the pooled
    AUROC (which also rewards telling easy problems from hard ones), is what it depends on.
    """
    by_problem: dict[str, list[Solution]] = defaultdict(list)
    for s in solutions:
        by_problem[s.problem_id].append(s)
    values = [
        auroc([aggregate(s.step_scores, how) for s in group], [bool(s.outcome) for s in group])
        for group in by_problem.values()
    ]
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def candidates(solutions: list[Solution], how: str) -> dict[str, list[Candidate]]:
    """Each problem's samples in sample order, scored by ``how`` of their step scores."""
    by_problem: dict[str, list[tuple[int, Candidate]]] = defaultdict(list)
    for s in solutions:
        candidate = Candidate(s.answer, bool(s.outcome), aggregate(s.step_scores, how))
        by_problem[s.problem_id].append((s.sample_id, candidate))
    return {
        pid: [c for _, c in sorted(rows, key=lambda r: r[0])] for pid, rows in by_problem.items()
    }


def curve(solutions: list[Solution], how: str, ns: list[int] | None) -> list[BestOfNPoint]:
    return best_of_n_curve(candidates(solutions, how), ns=ns)


def curve_label(name: str, kind: str, how: str) -> str:
    """A curve's name in the best-of-N table: a PRM's says its aggregation."""
    return f"{name}, {how}" if kind == "prm" else name


def parse_versus(text: str, labels: dict[str, list[str]]) -> tuple[str, str | None]:
    """``NAME[:OTHER]`` as two curve labels. ``labels``: each --curve verifier's curve labels.

    A name is a curve label ("PRM (exact), product") or a --curve verifier's name, which
    stands for its first curve (a PRM's min, an ORM's last step).
    """

    def resolve(name: str) -> str | None:
        if name in labels:
            return labels[name][0]
        return name if any(name in group for group in labels.values()) else None

    whole = resolve(text)
    if whole is not None:
        return whole, None
    name, _, other = text.rpartition(":")
    first, second = resolve(name), resolve(other)
    if first is None or second is None:
        known = ", ".join(repr(label) for group in labels.values() for label in group)
        raise SystemExit(
            f"--versus-majority {text!r}: expected NAME[:OTHER], each a --curve verifier or "
            f"one of its curves ({known})"
        )
    return first, second


@dataclass(frozen=True)
class Margin:
    """At one N, in percentage points: each seed's best-of-N minus majority vote, paired over
    problems, with its standard error; and the seeds' mean best-of-N minus OTHER's (the
    lead), paired over problems, with its standard error (None without OTHER)."""

    n: int
    by_seed: tuple[float, ...]
    se_by_seed: tuple[float, ...]
    lead: float | None = None
    lead_se: float | None = None

    @property
    def mean(self) -> float:
        return statistics.fmean(self.by_seed)

    @property
    def mean_se(self) -> float:
        return statistics.fmean(self.se_by_seed)

    @property
    def sd(self) -> float:
        """The standard deviation of the seeds' margins (0 for one seed)."""
        return statistics.stdev(self.by_seed) if len(self.by_seed) > 1 else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "margin": self.mean,
            "margin_sd": self.sd,
            "margin_by_seed": list(self.by_seed),
            "se_by_seed": list(self.se_by_seed),
            "mean_se": self.mean_se,
            "lead_over_other": self.lead,
            "lead_se": self.lead_se,
        }


Runs = list[dict[int, dict[str, ProblemPoint]]]  # problem_points of each seed's file


def seed_mean(runs: Runs, n: int) -> dict[str, float]:
    """Each problem's best-of-N at ``n``, averaged over the seeds."""
    return {pid: statistics.fmean(run[n][pid].best_of_n for run in runs) for pid in runs[0][n]}


def margins(runs: Runs, other: Runs | None = None) -> list[Margin]:
    """Best-of-N against majority vote at each N of ``runs`` (and the lead over ``other``)."""
    out = []
    for n in runs[0]:
        paired = [
            paired_difference(
                {pid: p.best_of_n for pid, p in run[n].items()},
                {pid: p.majority for pid, p in run[n].items()},
            )
            for run in runs
        ]
        lead = lead_se = None
        if other is not None and all(n in run for run in other):
            lead, lead_se = paired_difference(seed_mean(runs, n), seed_mean(other, n))
        out.append(
            Margin(
                n=n,
                by_seed=tuple(d for d, _ in paired),
                se_by_seed=tuple(se for _, se in paired),
                lead=lead,
                lead_se=lead_se,
            )
        )
    return out


def margin_claims(points: list[Margin], margin_from: int, margin_at: int) -> dict[str, bool | None]:
    """Whether the margins hold: above majority at every N >= ``margin_from`` at every seed;
    the mean margin at ``margin_at`` above twice the mean paired SE; the lead over OTHER
    positive at every N > 1 (at N = 1 every verifier keeps the one sample: no lead)."""
    at = {p.n: p for p in points}
    if margin_at not in at:
        raise SystemExit(
            f"--margin-at {margin_at}: not an N of the curve ({', '.join(map(str, at))})"
        )
    tail = [p for p in points if p.n >= margin_from]
    if not tail:
        raise SystemExit(f"--margin-from {margin_from}: beyond the curve's largest N")
    leads = [p.lead for p in points if p.n > 1]
    above_other = None
    if leads and all(lead is not None for lead in leads):
        above_other = all(lead is not None and lead > 0 for lead in leads)
    return {
        "above_majority_every_n_every_seed": all(m > 0 for p in tail for m in p.by_seed),
        "margin_at_beyond_two_se": at[margin_at].mean > 2 * at[margin_at].mean_se,
        "above_other_every_n": above_other,
    }


def signed(points: float) -> str:
    return f"{points:+.1f}"


def versus_majority_section(
    name: str,
    other: str | None,
    points: list[Margin],
    claims: dict[str, bool | None],
    margin_from: int,
    margin_at: int,
    files: list[str],
    n_problems: int,
) -> list[str]:
    """The Markdown section for one --versus-majority."""
    seeds = len(points[0].by_seed)
    largest = points[-1].n
    intro = [
        f"Margin: best-of-N by {name} minus majority vote over the same N-subsets, per "
        f"problem, averaged over the {n_problems} problems, in percentage points. Paired SE: "
        "the standard deviation of the per-problem differences over the square root of the "
        "number of problems."
    ]
    if seeds > 1:
        intro.append(
            f"One margin per training seed (seed k: the k-th file, {', '.join(files)}); "
            "mean ± standard deviation over the seeds."
        )
    if other:
        intro.append(
            f"Lead over {other}: the seeds' mean best-of-N minus {other}'s, per problem, ± its "
            "paired SE."
        )
    lines = [f"## {name} against majority vote (paired over problems)", "", " ".join(intro), ""]
    seed_heads = [f"seed {k + 1}: margin ± SE" for k in range(seeds)] if seeds > 1 else []
    heads = ["N", "margin", "paired SE" if seeds == 1 else "mean paired SE", *seed_heads]
    if other:
        heads.append(f"lead over {other}")
    lines += ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for p in points:
        row = [str(p.n)]
        if seeds > 1:
            row += [f"{signed(p.mean)} ± {p.sd:.1f}", f"{p.mean_se:.1f}"]
            row += [
                f"{signed(m)} ± {se:.1f}" for m, se in zip(p.by_seed, p.se_by_seed, strict=True)
            ]
        else:
            row += [signed(p.mean), f"{p.mean_se:.1f}"]
        if other:
            row.append("n/a" if p.lead is None else f"{signed(p.lead)} ± {p.lead_se:.1f}")
        lines.append("| " + " | ".join(row) + " |")
    at = next(p for p in points if p.n == margin_at)
    lines += [
        "",
        f"- above majority at every N from {margin_from} to {largest} at every seed: "
        + _holds(bool(claims["above_majority_every_n_every_seed"])),
        f"- margin at N = {margin_at} more than two paired standard errors (mean of seeds' "
        "margins vs mean SE): "
        + _holds(bool(claims["margin_at_beyond_two_se"]))
        + f" ({signed(at.mean)} against 2 × {at.mean_se:.1f})",
    ]
    if other:
        verdict = claims["above_other_every_n"]
        lines.append(
            f"- above {other} at every N from 2 to {largest} (at N = 1 both keep the one sample): "
            + ("n/a" if verdict is None else _holds(verdict))
        )
    return lines


def cell(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def seconds_table(out: Path) -> list[str]:
    folder = out / "seconds"
    if not folder.is_dir():
        return []
    lines = ["| step | wall seconds | load (1 min) when it ended |", "|---|---|---|"]
    total = 0.0
    for path in sorted(folder.glob("*.txt"), key=lambda p: p.stat().st_mtime):
        parts = path.read_text().split()
        total += float(parts[0])
        lines.append(
            f"| {path.stem} | {float(parts[0]):.0f} | {parts[1] if len(parts) > 1 else 'n/a'} |"
        )
    lines.append(f"| **total** | **{total:.0f}** ({total / 60:.1f} min) | |")
    return lines


def with_se(p: float, n: int) -> str:
    """A share as a percentage +- its binomial standard error over ``n`` problems."""
    return f"{pct(p)} ± {100 * math.sqrt(p * (1 - p) / n):.1f}"


def _holds(flag: bool) -> str:
    return "yes" if flag else "**no**"


def seed_comparison(
    curves: dict[str, list[Point]],
    curve_kinds: dict[str, str],
    budget: dict[str, dict[str, Point]],
    verifiers: dict[str, Verifier],
    budget_n: int,
    n_problems: int,
) -> list[str]:
    """The seed paper's findings next to ours; README.md explains the gaps."""
    lines = [
        "## The seed's findings next to ours",
        "",
        "Seed: Lightman et al. 2023, GPT-4-scale policy and verifiers on MATH. Why ours "
        "differ where they do: README.md, section Findings.",
        "",
        "| finding | seed | ours | holds here |",
        "|---|---|---|---|",
    ]
    prm = [name for name in curves if curve_kinds[name] == "prm"]
    orm = [name for name in curves if curve_kinds[name] == "orm"]
    if prm and orm:
        last = {name: points[-1] for name, points in curves.items()}
        n = last[prm[0]].n
        majority = last[prm[0]].majority
        best_prm = max(prm, key=lambda name: last[name].best_of_n)
        ours = ", ".join(f"{name} {pct_spread(last[name])}" for name in [*prm, *orm])
        lines.append(
            f"| best-of-N: PRM above ORM and above majority vote at the largest N | "
            f"N = 1860: PRM 78.2, ORM 72.4, majority 69.6 | N = {n}: {ours}, majority "
            f"{pct(majority)} | "
            + _holds(
                all(last[best_prm].best_of_n > last[o].best_of_n for o in orm)
                and last[best_prm].best_of_n > majority
            )
            + " |"
        )
        best, outcome = curves[best_prm], curves[orm[0]]
        first_gap = best[0].best_of_n - outcome[0].best_of_n
        last_gap = best[-1].best_of_n - outcome[-1].best_of_n
        lines.append(
            f"| the PRM's lead over the ORM grows with N | grows from N = 1 to 1860 | "
            f"{100 * first_gap:+.1f} points at N = 1, {100 * last_gap:+.1f} at N = {n} | "
            f"{_holds(last_gap > first_gap)} |"
        )
    for name, points in curves.items():
        # A verifier's N = 1 is a random sample; its standard error over the problems.
        start = points[0].best_of_n
        se = math.sqrt(start * (1 - start) / n_problems)
        low = min(points, key=lambda p: p.best_of_n)
        lines.append(
            f"| {name}: best-of-N never below a random sample (N = 1) by more than one "
            f"standard error | the ORM rises with N (Fig. 3) | N = 1: {pct(start)} ± "
            f"{100 * se:.1f}; lowest: {pct(low.best_of_n)} at N = {low.n} | "
            f"{_holds(low.best_of_n >= start - se)} |"
        )
    prms = [name for name in budget if verifiers[name].kind == "prm"]
    orms = [name for name in budget if verifiers[name].kind == "orm"]
    if prms and orms:
        orm_point = budget[orms[0]]["last"]
        for name in prms:
            point = budget[name]["min"]
            lines.append(
                f"| process beats outcome supervision at the same label budget ({name}) | "
                f"small-scale, every budget (PRM_large as labeler) | best-of-{budget_n}: "
                f"{pct_spread(point)} against ORM {pct_spread(orm_point)} | "
                f"{_holds(point.best_of_n > orm_point.best_of_n)} |"
            )
    lines += [
        "| active learning is 2.6x more data-efficient | 2.6x | "
        "`make experiments`: see EXPERIMENTS.md | see there |",
        "| PRM ahead out of distribution (AP, AMC) | PRM 72.9, ORM 63.8, majority 61.3 | "
        "`make experiments`: see EXPERIMENTS.md | see there |",
        "| a large PRM's labels train small verifiers well | small-scale synthetic setting | "
        "`make experiments`: see EXPERIMENTS.md | see there |",
    ]
    return lines


def processbench_section(numbers: dict[str, Any]) -> list[str]:
    """ProcessBench's table (``eval --processbench --json``'s ``processbench`` field)."""
    pb = numbers["processbench"]
    held_out = (
        Path(pb["threshold_from"]).stem.removesuffix(".prm") if pb["threshold_from"] else None
    )
    lines = [
        "## ProcessBench (real math, the demo PRM)",
        "",
        "The demo PRM on ProcessBench's human-labeled solutions: the predicted first wrong step "
        f"is the first step scored below {pb['threshold']:.4g}"
        + (
            f", the threshold with the best F1 on the {held_out} split "
            f"({pb['held_out_samples']} solutions, F1 {pct(pb['held_out_f1'])} there), which is "
            "therefore not a test split here"
            if held_out
            else ""
        )
        + ". Accuracy on erroneous solutions: the exact first wrong step found; on correct "
        "ones: no step flagged; F1: their harmonic mean (ProcessBench's metric). The PRM has "
        "only seen synthetic arithmetic and reads characters through a 512-token window "
        "(steps past it get no score), so it is expected near zero: the point is that the "
        "pipeline runs end to end on real data.",
        "",
        "| split | erroneous | acc. erroneous | correct | acc. correct | F1 |",
        "|---|---|---|---|---|---|",
    ]
    for one in pb["inputs"]:
        for split in one["splits"]:
            lines.append(
                f"| {split['split']} | {split['n_erroneous']} | "
                f"{pct(split['erroneous_accuracy'])} | {split['n_correct']} | "
                f"{pct(split['correct_accuracy'])} | {pct(split['f1'])} |"
            )
    averages = [one["average_f1"] for one in pb["inputs"] if one["average_f1"] is not None]
    if averages:
        lines += ["", f"Mean F1 over these splits: {pct(sum(averages) / len(averages))}."]
    return lines


def plot(curves: dict[str, list[Point]], path: Path, title: str) -> None:
    figure = Figure(figsize=(6.4, 4.4))
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    first = next(iter(curves.values()))
    ns = [p.n for p in first]
    for name, points in curves.items():
        seeds = len(points[0].seeds)
        label = f"{name} (mean of {seeds} seeds)" if seeds > 1 else name
        (line,) = ax.plot(ns, [100 * p.best_of_n for p in points], marker="o", label=label)
        if seeds > 1:
            ax.fill_between(
                ns,
                [100 * min(p.seeds) for p in points],
                [100 * max(p.seeds) for p in points],
                color=line.get_color(),
                alpha=0.2,
                linewidth=0,
            )
    ax.plot(
        ns, [100 * p.majority for p in first], marker="s", linestyle="--", label="majority vote"
    )
    ax.plot(
        ns, [100 * p.pass_at_n for p in first], color="grey", linestyle=":", label="pass@N (bound)"
    )
    ax.set_xscale("log", base=2)
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.set_xlabel("N = solutions per problem")
    ax.set_ylabel("% problems solved (best of N)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder the Makefile wrote (runs/letsverify)")
    parser.add_argument(
        "--verifier",
        action="append",
        default=[],
        help="NAME:FILE:prm|orm, FILE (relative to OUT) scored test samples with exact labels",
    )
    parser.add_argument(
        "--curve", action="append", default=[], help="verifier NAME in the best-of-N figure"
    )
    parser.add_argument(
        "--budget", action="append", default=[], help="verifier NAME in the supervision table"
    )
    parser.add_argument(
        "--budget-n", type=int, default=16, help="N of the supervision table's best-of-N"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="unused: best-of-N, majority and pass@N are exact over all N-subsets (accepted "
        "for the Makefile's calls)",
    )
    parser.add_argument("--setting", action="append", default=[], help="key=value to list")
    parser.add_argument("--results", type=Path, required=True, help="Markdown file to write")
    parser.add_argument("--png", type=Path, help="best-of-N PNG to write (with --curve)")
    parser.add_argument("--json", type=Path, help="also write every number here")
    parser.add_argument(
        "--samples", default="test", help="what the scored solutions are, for the headings"
    )
    parser.add_argument(
        "--processbench", type=Path, help="`eval --processbench --json` output to lay out"
    )
    parser.add_argument(
        "--versus-majority",
        action="append",
        default=[],
        metavar="NAME[:OTHER]",
        help="a section on NAME's best-of-N minus majority vote, paired over problems, per "
        "seed, and its lead over OTHER; each a --curve verifier (a PRM's min) or one of its "
        'curves ("NAME, product")',
    )
    parser.add_argument(
        "--margin-from", type=int, default=16, help="--versus-majority: claim from this N up"
    )
    parser.add_argument(
        "--margin-at", type=int, default=64, help="--versus-majority: the N of the 2-SE claim"
    )
    args = parser.parse_args()

    verifiers = {v.name: v for v in (parse_verifier(t, args.out) for t in args.verifier)}
    if args.curve and args.png is None:
        raise SystemExit("--curve needs --png")
    for name in [*args.curve, *args.budget]:
        if name not in verifiers:
            raise SystemExit(f"unknown verifier {name!r}; have {', '.join(verifiers)}")
    labels = {
        name: [
            curve_label(name, verifiers[name].kind, h) for h in AGGREGATIONS[verifiers[name].kind]
        ]
        for name in args.curve
    }
    versus = [parse_versus(text, labels) for text in args.versus_majority]
    data = {name: [load(path) for path in v.paths] for name, v in verifiers.items()}
    seeds_of = {name: [quality(d, v.kind) for d in data[name]] for name, v in verifiers.items()}
    qualities = {name: runs[0] for name, runs in seeds_of.items()}
    curves: dict[str, list[Point]] = {}
    curve_kinds: dict[str, str] = {}
    runs_of: dict[str, Runs] = {}  # per-problem points of each seed, for --versus-majority
    files_of: dict[str, list[str]] = {}
    for name in args.curve:
        for how in AGGREGATIONS[verifiers[name].kind]:
            label = curve_label(name, verifiers[name].kind, how)
            runs_of[label] = [problem_points(candidates(d, how)) for d in data[name]]
            curves[label] = over_seeds([mean_over_problems(run) for run in runs_of[label]])
            curve_kinds[label] = verifiers[name].kind
            files_of[label] = [p.name for p in verifiers[name].paths]
    budget_points: dict[str, dict[str, Point]] = {}
    for name in args.budget:
        budget_points[name] = {
            how: over_seeds([curve(d, how, [args.budget_n]) for d in data[name]])[0]
            for how in AGGREGATIONS[verifiers[name].kind]
        }

    def measure(name: str, get) -> str:  # noqa: ANN001 (a getter)
        return spread([get(q) for q in seeds_of[name]], cell)

    def by_aggregation(name: str, field: str) -> str:
        return ", ".join(
            f"{measure(name, lambda q, h=how: getattr(q, field)[h])} ({how})"
            for how in AGGREGATIONS[verifiers[name].kind]
        )

    lines = [
        '# "Let\'s Verify Step by Step" on the synthetic task',
        "",
        "Generated by `make -C examples/letsverify` (see README.md there); do not edit by hand.",
        "",
        "Setup: " + ", ".join(args.setting) + ".",
        "",
    ]
    first = next(iter(data.values()))[0]
    n_problems = len({s.problem_id for s in first})
    lines += [
        f"## Verifier quality on held-out {args.samples} samples",
        "",
        f"Policy samples of the {args.samples} problems (temperature as above), exact step labels. "
        "Step AUROC: step scores against the exact step labels (correct = positive), over all "
        "steps; over the steps up to each solution's first wrong step (the steps a PRM "
        "trained with the first-error cut is taught on); and over all steps with each step "
        "scored by the lowest score so far (an exact label says the solution is right up to "
        "and including this step: every step after an error is labeled wrong). "
        "Solution AUROC: the aggregated score against final-answer correctness, pooled over "
        "all samples, and within problem (the mean over problems of the AUROC among one "
        "problem's samples: the only ranking best-of-N uses).",
        "",
        f"| verifier | {args.samples} solutions (wrong steps / steps) | step AUROC (all steps) "
        "| step AUROC (to first wrong) | step AUROC (lowest so far) | solution AUROC "
        "| solution AUROC within problem |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, q in qualities.items():
        sol = by_aggregation(name, "solution_auroc")
        is_prm = verifiers[name].kind == "prm"
        step = (
            measure(name, lambda q: q.step_auroc) if is_prm else "n/a (scores the last step only)"
        )
        until = measure(name, lambda q: q.step_auroc_until_first_wrong) if is_prm else "n/a"
        prefix = measure(name, lambda q: q.step_auroc_prefix_min) if is_prm else "n/a"
        counts = (
            f"{q.n_solutions} ({q.n_wrong_steps} / {q.n_steps})"
            if q.n_steps
            else str(q.n_solutions)
        )
        if len(seeds_of[name]) > 1:
            counts += f"; {len(seeds_of[name])} seeds"
        within = by_aggregation(name, "within_problem_auroc")
        lines.append(f"| {name} | {counts} | {step} | {until} | {prefix} | {sol} | {within} |")

    if curves:
        names = list(curves)
        ref = curves[names[0]]
        lines += [
            "",
            "## Best-of-N",
            "",
            f"% of the {n_problems} {args.samples} problems whose top-scored of N samples is right; "
            "majority vote and pass@N over the same N-subsets (each the exact mean over all "
            "N-subsets of a problem's samples; a majority tie of the right answer with t-1 "
            "wrong ones counts 1/t). "
            "A verifier trained with several seeds: mean ± standard deviation over them. "
            "± after pass@N and majority: their binomial standard error over the "
            f"{n_problems} problems (the noise of one problem set; a verifier's N = 1 is a "
            "random pick, so its N = 1 value has the same standard error).",
            "",
            f"![best-of-N]({args.png.name})",
            "",
            "| N | " + " | ".join(names) + " | majority | pass@N |",
            "|---|" + "---|" * (len(names) + 2),
        ]
        for i, point in enumerate(ref):
            row = [pct_spread(curves[n][i]) for n in names]
            lines.append(
                f"| {point.n} | "
                + " | ".join(row)
                + f" | {with_se(point.majority, n_problems)} | {pct(point.pass_at_n)} |"
            )
        plot(curves, args.png, f"Best-of-N on {n_problems} synthetic test problems")

    versus_numbers: dict[str, dict[str, Any]] = {}
    for name, other in versus:
        points = margins(runs_of[name], runs_of[other] if other else None)
        claims = margin_claims(points, args.margin_from, args.margin_at)
        lines += [
            "",
            *versus_majority_section(
                name,
                other,
                points,
                claims,
                args.margin_from,
                args.margin_at,
                files_of[name],
                n_problems,
            ),
        ]
        versus_numbers[name] = {
            "other": other,
            "unit": "percentage points",
            "margin_from": args.margin_from,
            "margin_at": args.margin_at,
            "points": [p.to_dict() for p in points],
            "claims": claims,
        }

    if budget_points:
        n = args.budget_n
        majority = next(iter(next(iter(budget_points.values())).values())).majority
        lines += [
            "",
            "## Process vs outcome supervision at the same label budget",
            "",
            f"Each verifier trained on the same labeled training solutions, with different "
            f"labels (several seeds: mean ± standard deviation). Judged by best-of-{n} on the test samples (% solved; majority@{n}: "
            f"{pct(majority)}) and by step AUROC against the exact labels.",
            "",
            f"| verifier | best-of-{n} (min) | best-of-{n} (product) | best-of-{n} (last) | "
            "step AUROC (all) | step AUROC (to first wrong) | step AUROC (lowest so far) | "
            "solution AUROC | solution AUROC within problem |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, points in budget_points.items():
            kind = verifiers[name].kind
            sol = by_aggregation(name, "solution_auroc")
            within = by_aggregation(name, "within_problem_auroc")
            cells = [
                pct_spread(points[h]) if h in points else "" for h in ("min", "product", "last")
            ]
            step = (
                [
                    measure(name, lambda q: q.step_auroc),
                    measure(name, lambda q: q.step_auroc_until_first_wrong),
                    measure(name, lambda q: q.step_auroc_prefix_min),
                ]
                if kind == "prm"
                else ["n/a", "n/a", "n/a"]
            )
            lines.append(f"| {name} | " + " | ".join([*cells, *step, sol, within]) + " |")

    if args.processbench:
        lines += ["", *processbench_section(json.loads(args.processbench.read_text()))]
    lines += [
        "",
        *seed_comparison(curves, curve_kinds, budget_points, verifiers, args.budget_n, n_problems),
    ]
    timing = seconds_table(args.out)
    if timing:
        lines += ["", "## Wall time", "", *timing]
    args.results.write_text("\n".join(lines) + "\n")
    if args.json:
        payload = {
            "quality": {k: [vars(q) for q in v] for k, v in seeds_of.items()},
            "best_of_n": {k: [p.to_dict() for p in v] for k, v in curves.items()},
            "budget": {k: {h: p.to_dict() for h, p in v.items()} for k, v in budget_points.items()},
            "versus_majority": versus_numbers,
        }
        args.json.write_text(json.dumps(payload, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
