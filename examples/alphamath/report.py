"""Write examples/alphamath/ROUNDS.md from the files the Makefile beside it wrote.

The searches, labels, training and grading are the `mathverify` CLI's: every search result
carries its graded outcome (``meta.outcome``), generated tokens and its share of its batch's
seconds; every round's value (round 0: the demo PRM) scored the same exact-labeled held-out
solutions (``ROUND/auroc-scored.jsonl``). This script only counts: accuracy per round and
method, paired differences between rounds on the same problems, the value's step AUROC
against the exact labels, MCTS against SBS(3,5) on the same problems, the training data of
each round, and the wall times (``OUT/seconds/NAME.txt``: seconds and the 1-minute load when
the step ended). Rows not there yet are named as missing, so a partial run still reports.

    python examples/alphamath/report.py runs/alphamath --rounds "round0 round1 round2" \
        --evals "greedy sbs-1-5 sbs-3-5 mcts-40" \
        --auroc-labels runs/alphamath/auroc-labels.jsonl --results examples/alphamath/ROUNDS.md
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass
from pathlib import Path

from mathverify.eval.labels import auroc
from mathverify.eval.metrics import paired_difference
from mathverify.records import SearchResult, Solution, read_all

# The seed: AlphaMath (Chen et al. 2024), DeepSeekMath-Base-7B, MATH test set, round 3 model.
SEED_NUMBERS = {"greedy": 53.6, "sbs-1-5": 62.3, "sbs-3-5": 65.7, "mcts-40": 64.0}
ROUND_NAMES = {
    "round0": "round 0 (SFT policy + demo PRM)",
    "round1": "round 1",
    "round2": "round 2",
}


@dataclass
class Row:
    round: str
    name: str
    results: list[SearchResult]
    wall: tuple[float, str] | None

    @property
    def outcomes(self) -> dict[str, bool]:
        return {r.problem_id: outcome(r) for r in self.results}

    @property
    def accuracy(self) -> float:
        return sum(self.outcomes.values()) / len(self.results)

    def restricted(self, problem_ids: set[str]) -> Row:
        kept = [r for r in self.results if r.problem_id in problem_ids]
        return Row(self.round, self.name, kept, None)


def outcome(result: SearchResult) -> bool:
    if "outcome" not in result.meta:
        raise SystemExit(f"result for {result.problem_id} has no graded outcome (meta.outcome)")
    return bool(result.meta["outcome"])


def label(name: str) -> str:
    if m := re.fullmatch(r"sbs-(\d+)-(\d+)", name):
        return f"SBS({m[1]},{m[2]})"
    if m := re.fullmatch(r"mcts-(\d+)", name):
        return f"MCTS(N={m[1]})"
    return name


def wall_seconds(out: Path, name: str) -> tuple[float, str] | None:
    path = out / "seconds" / f"{name}.txt"
    if not path.is_file():
        return None
    seconds, load = path.read_text().split()
    return float(seconds), load


def load_row(out: Path, round_: str, name: str) -> Row | str:
    path = out / round_ / f"{name}.jsonl"
    if not path.is_file():
        return "not run"
    results = read_all(path, SearchResult)
    if not results:
        return f"{path} is empty"
    return Row(round_, name, results, wall_seconds(out, f"{round_}-{name}"))


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def row_cells(row: Row) -> str:
    n = len(row.results)
    acc = row.accuracy
    se = math.sqrt(acc * (1 - acc) / n)
    wall = f"{row.wall[0]:.0f} ({row.wall[1]})" if row.wall else "n/a"
    return (
        f"{n} | {100 * acc:.1f} ± {100 * se:.1f} | "
        f"{mean([r.n_generated_tokens for r in row.results]):.0f} | "
        f"{mean([r.seconds for r in row.results]):.3f} | {wall}"
    )


def accuracy_table(
    rows: dict[tuple[str, str], Row | str], rounds: list[str], evals: list[str]
) -> list[str]:
    lines = [
        "| round | method | problems | accuracy % ± SE | AlphaMath (MATH, round 3) | "
        "generated tokens / problem | s / problem | wall s (load) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for round_ in rounds:
        for name in evals:
            row = rows[round_, name]
            seed = SEED_NUMBERS.get(name, "")
            if isinstance(row, str):
                lines.append(
                    f"| {ROUND_NAMES.get(round_, round_)} | {label(name)} | {row} | | | | | |"
                )
                continue
            n, acc, tokens, seconds, wall = row_cells(row).split(" | ")
            lines.append(
                f"| {ROUND_NAMES.get(round_, round_)} | {label(name)} | {n} | {acc} | {seed} | "
                f"{tokens} | {seconds} | {wall} |"
            )
    return lines


def verdict(a: Row, b: Row) -> str:
    diff, se = paired_difference(a.outcomes, b.outcomes)
    holds = "holds" if diff > 0 else "**does not hold**"
    noise = " (within 2 SE)" if abs(diff) < 2 * se else ""
    return f"{holds}: {diff:+.1f} ± {se:.1f} points, paired{noise}"


def round_targets(rows: dict[tuple[str, str], Row | str], rounds: list[str]) -> list[str]:
    lines = []
    for name in ("greedy", "sbs-3-5"):
        for later, earlier in zip(rounds[1:][::-1], rounds[:-1][::-1], strict=True):
            a, b = rows.get((later, name)), rows.get((earlier, name))
            what = f"{label(name)}: {ROUND_NAMES.get(later, later)} above {ROUND_NAMES.get(earlier, earlier)}"
            if isinstance(a, Row) and isinstance(b, Row):
                lines.append(f"- {what}: {verdict(a, b)}")
            else:
                lines.append(f"- {what}: not measured (a row is missing)")
    return lines


def step_aurocs(
    scored_path: Path, labels: dict[tuple[str, int], Solution]
) -> dict[str, float | None]:
    """Step AUROC of the scores against the exact labels: over all steps, and over the steps up
    to each solution's first wrong one (the steps a first-error-cut PRM is trained on)."""
    scored = read_all(scored_path, Solution)
    every: tuple[list[float], list[bool]] = ([], [])
    until: tuple[list[float], list[bool]] = ([], [])
    for solution in scored:
        gold = labels[(solution.problem_id, solution.sample_id)].step_labels or []
        scores = solution.step_scores or []
        before_error = True
        for score, gold_label in zip(scores, gold, strict=False):
            if score is None or gold_label is None:
                continue
            right = float(gold_label) >= 0.5
            every[0].append(float(score))
            every[1].append(right)
            if before_error:
                until[0].append(float(score))
                until[1].append(right)
            before_error = before_error and right
    return {
        "all steps": auroc(*every),
        "to the first wrong step": auroc(*until),
        "steps": float(len(every[0])),
    }


def auroc_lines(out: Path, rounds: list[str], labels_path: Path) -> list[str]:
    labels = {(s.problem_id, s.sample_id): s for s in read_all(labels_path, Solution)}
    lines = [
        "| round | scorer | steps | step AUROC, all steps | to the first wrong step |",
        "|---|---|---|---|---|",
    ]
    for round_ in rounds:
        path = out / round_ / "auroc-scored.jsonl"
        if not path.is_file():
            lines.append(f"| {ROUND_NAMES.get(round_, round_)} | not run | | | |")
            continue
        found = step_aurocs(path, labels)
        scorer = "demo PRM (exact labels)" if round_ == "round0" else "value head (MCTS Q labels)"

        def fmt(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.3f}"

        lines.append(
            f"| {ROUND_NAMES.get(round_, round_)} | {scorer} | {found['steps']:.0f} | "
            f"{fmt(found['all steps'])} | {fmt(found['to the first wrong step'])} |"
        )
    return lines


def mcts_vs_sbs(rows: dict[tuple[str, str], Row | str], rounds: list[str]) -> list[str]:
    lines = [
        "| round | method | problems | accuracy % ± SE | generated tokens / problem | "
        "s / problem | wall s (load) |",
        "|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for round_ in rounds:
        mcts, sbs = rows.get((round_, "mcts-40")), rows.get((round_, "sbs-3-5"))
        if not (isinstance(mcts, Row) and isinstance(sbs, Row)):
            continue
        same = sbs.restricted({r.problem_id for r in mcts.results})
        for row in (same, mcts):
            lines.append(
                f"| {ROUND_NAMES.get(round_, round_)} | {label(row.name)} | {row_cells(row)} |"
            )
        diff, se = paired_difference(mcts.outcomes, same.outcomes)
        ratio = mean([r.n_generated_tokens for r in mcts.results]) / mean(
            [r.n_generated_tokens for r in same.results]
        )
        seconds = mean([r.seconds for r in mcts.results]) / mean([r.seconds for r in same.results])
        verdicts.append(
            f"- {ROUND_NAMES.get(round_, round_)}: MCTS(N=40) minus SBS(3,5) {diff:+.1f} ± {se:.1f} "
            f"points on the same {len(mcts.results)} problems, at {ratio:.1f}x the generated "
            f"tokens and {seconds:.1f}x the seconds per problem"
        )
    return lines + [""] + verdicts


def training_lines(out: Path, rounds: list[str]) -> list[str]:
    lines = [
        "| round | MCTS problems | MCTS accuracy (gold reward) % | labeled paths | correct / "
        "incorrect trajectories | labeled steps | MCTS wall s (load) | joint training wall s (load) "
        "| head refit wall s (load) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for round_ in rounds:
        search = out / round_ / "train-search.jsonl"
        labels = out / round_ / "labels.jsonl"
        if not (search.is_file() and labels.is_file()):
            continue
        results = read_all(search, SearchResult)
        solutions = read_all(labels, Solution)
        right = sum(1 for s in solutions if s.outcome is True)
        wrong = sum(1 for s in solutions if s.outcome is False)
        steps = sum(len(s.steps) for s in solutions)
        mcts_wall = wall_seconds(out, f"{round_}-mcts")
        train_wall = wall_seconds(out, f"{round_}-train")
        head_wall = wall_seconds(out, f"{round_}-head")

        def fmt(wall: tuple[float, str] | None) -> str:
            return f"{wall[0]:.0f} ({wall[1]})" if wall else "n/a"

        lines.append(
            f"| {round_} | {len(results)} | {100 * mean([float(outcome(r)) for r in results]):.1f} "
            f"| {len(solutions)} | {right} / {wrong} | {steps} | {fmt(mcts_wall)} | {fmt(train_wall)} | {fmt(head_wall)} |"
        )
    return lines


def total_wall(out: Path) -> str:
    folder = out / "seconds"
    if not folder.is_dir():
        return "no timings"
    total = sum(float(p.read_text().split()[0]) for p in folder.glob("*.txt"))
    return f"{total / 60:.1f} minutes over {len(list(folder.glob('*.txt')))} timed steps"


def svpo_section(path: Path) -> list[str]:
    """``path`` (an SVPO.md of svpo_report.py) as a section: its title a level-2 heading
    naming the file, its other headings one level down."""
    if not path.exists():
        return [f"## SVPO ({path.name}): missing, run `make svpo-seeds`", ""]
    lines = path.read_text(encoding="utf-8").splitlines()
    title = lines[0].lstrip("# ").strip() if lines and lines[0].startswith("# ") else "SVPO"
    body = lines[1:] if lines and lines[0].startswith("# ") else lines
    demoted = ["#" + line if line.startswith("#") else line for line in body]
    return [f"## {title} ({path.name})", *demoted, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rounds", required=True)
    parser.add_argument("--evals", required=True)
    parser.add_argument("--auroc-labels", type=Path, required=True)
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--setting", action="append", default=[])
    parser.add_argument(
        "--svpo",
        type=Path,
        action="append",
        default=[],
        help="an SVPO report of svpo_report.py to include as a section (repeatable; "
        "a missing file is named as missing)",
    )
    args = parser.parse_args()
    rounds, evals = args.rounds.split(), args.evals.split()
    rows = {(r, e): load_row(args.out, r, e) for r in rounds for e in evals}
    lines = [
        "# AlphaMath's loop on the synthetic task",
        "",
        "Generated by `make -C examples/alphamath rounds` (report.py); do not edit by hand. "
        "README.md beside this file says what each step does and what the numbers mean.",
        "",
        "Settings:",
        *[f"- {s}" for s in args.setting],
        "",
        "## Accuracy per round",
        "",
        *accuracy_table(rows, rounds, evals),
        "",
        "Targets (paired differences on the same problems; SE = standard error):",
        "",
        *round_targets(rows, rounds),
        "",
        "## The value's step AUROC against exact step labels",
        "",
        "No round trains on step labels: the values learn from MCTS Q-values only. Round 0's "
        "row is the demo PRM, which was trained on exact labels, for reference.",
        "",
        *auroc_lines(args.out, rounds, args.auroc_labels),
        "",
        "## MCTS(N=40) against SBS(3,5) on the same problems",
        "",
        *mcts_vs_sbs(rows, rounds),
        "",
        "## Training data of each round",
        "",
        *training_lines(args.out, rounds),
        "",
        f"Total wall time of the timed steps: {total_wall(args.out)}.",
        "",
        *[line for path in args.svpo for line in svpo_section(path)],
    ]
    args.results.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
