"""Write examples/alphamath/SVPO.md: the SVPO round against the SFT round (round 1) from the
same MCTS trees, one folder per seed (the Makefile's ``svpo-seeds``).

Counts only, from the files the Makefile wrote in each seed's folder: accuracy of greedy and
SBS(3,5) for ``round1`` and ``svpo1``, the paired difference SVPO minus SFT on the same
problems (per seed, then the mean over seeds with the seeds' standard deviation), the value's
step AUROC (report.py's), the step pairs and the wall time of each round's own steps (the
MCTS is shared). Missing folders or rows are named, so one seed still reports.

    python examples/alphamath/svpo_report.py runs/alphamath runs/alphamath-seed1 \
        --results examples/alphamath/SVPO.md
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
from pathlib import Path

from mathverify.eval.metrics import paired_difference
from mathverify.records import StepPair, read_all

_spec = importlib.util.spec_from_file_location(
    "alphamath_report", Path(__file__).with_name("report.py")
)
assert _spec is not None and _spec.loader is not None
report = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = report
_spec.loader.exec_module(report)

SFT, SVPO = "round1", "svpo1"
EVALS = ("greedy", "sbs-3-5")
# The round's own timed steps (OUT/seconds/NAME.txt); both rounds share round1-mcts.
ROUND_STEPS = {
    SFT: ("round1-train", "round1-head"),
    SVPO: ("svpo1-pairs", "svpo1-train", "svpo1-head"),
}


def round_seconds(out: Path, round_: str) -> float | None:
    walls = [report.wall_seconds(out, name) for name in ROUND_STEPS[round_]]
    if any(w is None for w in walls):
        return None
    return sum(w[0] for w in walls if w is not None)


def seed_lines(out: Path) -> tuple[list[str], dict[str, float]]:
    """The lines of one seed's folder and its paired differences by eval (points)."""
    lines = [f"### {out}", ""]
    if not out.is_dir():
        return [*lines, "not run", ""], {}
    rows = {(r, e): report.load_row(out, r, e) for r in (SFT, SVPO) for e in EVALS}
    lines += [
        "| round | method | problems | accuracy % ± SE | generated tokens / problem | "
        "s / problem | wall s (load) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (round_, name), row in rows.items():
        what = f"| {'SFT (round 1)' if round_ == SFT else 'SVPO'} | {report.label(name)} |"
        lines.append(
            f"{what} {row} | | | | |"
            if isinstance(row, str)
            else f"{what} {report.row_cells(row)} |"
        )
    diffs: dict[str, float] = {}
    lines.append("")
    for name in EVALS:
        a, b = rows[SVPO, name], rows[SFT, name]
        if isinstance(a, report.Row) and isinstance(b, report.Row):
            diff, _ = paired_difference(a.outcomes, b.outcomes)
            diffs[name] = diff
            lines.append(f"- {report.label(name)}: SVPO above SFT: {report.verdict(a, b)}")
        else:
            lines.append(f"- {report.label(name)}: SVPO above SFT: not measured (a row is missing)")
    labels = out / "auroc-labels.jsonl"
    if labels.is_file():
        lines += ["", *report.auroc_lines(out, [SFT, SVPO], labels)]
    pairs = out / SVPO / "pairs.jsonl"
    if pairs.is_file():
        records = read_all(pairs, StepPair)
        gaps = [p.chosen_q - p.rejected_q for p in records]
        problems = len({p.problem_id for p in records})
        lines.append(
            f"\n{len(records)} step pairs from the trees of {problems} problems "
            f"(mean Q gap {sum(gaps) / max(1, len(gaps)):.2f})."
        )
    mcts = report.wall_seconds(out, "round1-mcts")
    parts = []
    for round_ in (SFT, SVPO):
        seconds = round_seconds(out, round_)
        parts.append(
            f"{'SFT' if round_ == SFT else 'SVPO'} {'n/a' if seconds is None else f'{seconds:.0f} s'}"
        )
    shared = "n/a" if mcts is None else f"{mcts[0]:.0f} s"
    lines += [
        f"Wall time of each round's own steps: {', '.join(parts)} (the shared MCTS: {shared}).",
        "",
    ]
    return lines, diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outs", type=Path, nargs="+", help="one folder per seed")
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--setting", action="append", default=[])
    args = parser.parse_args()
    per_seed = [seed_lines(out) for out in args.outs]
    summary = []
    for name in EVALS:
        diffs = [d[name] for _, d in per_seed if name in d]
        if not diffs:
            summary.append(f"- {report.label(name)}: not measured")
            continue
        mean = sum(diffs) / len(diffs)
        spread = (
            f", SD over seeds {math.sqrt(sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1)):.1f}"
            if len(diffs) > 1
            else " (one seed: no spread)"
        )
        summary.append(
            f"- {report.label(name)}: SVPO minus SFT {mean:+.1f} points, mean of "
            f"{len(diffs)} seed(s){spread}"
        )
    lines = [
        "# SVPO against SFT from the same MCTS trees",
        "",
        "Generated by `make -C examples/alphamath svpo-seeds` (svpo_report.py); do not edit by "
        "hand. README.md beside this file says what the rounds do.",
        "",
        "Settings:",
        *[f"- {s}" for s in args.setting],
        "",
        "## Summary",
        "",
        *summary,
        "",
        "## Per seed",
        "",
        *[line for lines, _ in per_seed for line in lines],
    ]
    args.results.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
