"""Write examples/sbs/COPIES.md from the search results the Makefile beside it wrote.

The searches and the grading are the `mathverify` CLI's: every result record carries its
graded outcome (``meta.outcome``), its generated tokens (``n_generated_tokens``), its share
of its batch's seconds (``seconds``) and how many partial solutions the scorer rated
(``meta.n_scored``). This script only averages them, compares rows on the same problems
(paired differences), checks the issue's targets, lists the wall times the Makefile wrote
(``OUT/seconds/NAME.txt``: seconds and the 1-minute load when the row ended), and adds
diagnose.py's account of where SBS loses the right answer. Rows not (fully) there yet are
named as missing, so a partial run still gives a table.

    python examples/sbs/report.py runs/sbs --rows "maj5 sbs-1-5 ..." --temperatures "0.6 1.0" \
        --problems runs/demo/data/test.jsonl --n-test 100 --results examples/sbs/COPIES.md
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass
from pathlib import Path

from diagnose import Diagnosis, diagnose, outcome

from mathverify.eval.metrics import paired_difference
from mathverify.records import Problem, SearchResult, read_all, read_problems_by_id

# The seed: AlphaMath (Chen et al. 2024), DeepSeekMath-Base-7B policy and value, MATH test set.
SEED_NUMBERS = {"greedy": 53.6, "maj5": 61.8, "sbs-1-5": 62.3, "sbs-3-5": 65.7}
SEED_MCTS = "MCTS (N=40) 64.0"
# (holds, resolved beyond 2 SE) of every target checked, for the summary line.
SUMMARY: list[tuple[bool, bool]] = []


@dataclass
class Row:
    name: str
    label: str
    results: list[SearchResult]
    wall: tuple[float, str] | None  # wall seconds and load when the row ended

    @property
    def n(self) -> int:
        return len(self.results)

    @property
    def accuracy(self) -> float:
        return sum(outcome(r) for r in self.results) / self.n

    @property
    def accuracy_se(self) -> float:
        p = self.accuracy
        return math.sqrt(p * (1 - p) / self.n)

    def mean(self, values: list[float]) -> float:
        return sum(values) / len(values)


def label(row: str) -> str:
    """A row's name in the table: ``sbs-3-5-runs5`` -> ``SBS(3,5), 5 runs + maj@5``."""
    if row == "greedy":
        return "greedy"
    if m := re.fullmatch(r"maj(\d+)", row):
        return f"maj@{m[1]}"
    if m := re.fullmatch(r"best-of-(\d+)", row):
        return f"best-of-{m[1]} by the PRM (min)"
    if m := re.fullmatch(r"sbs-(\d+)-(\d+)(-vote|-runs(\d+))?", row):
        base = f"SBS({m[1]},{m[2]})"
        if m[3] == "-vote":
            return f"{base}, 1 run + maj over its <= {m[1]} finished"
        if m[4]:
            return f"{base}, {m[4]} runs + maj@{m[4]}"
        return base
    return row


def wall_seconds(out: Path, name: str) -> tuple[float, str] | None:
    path = out / "seconds" / f"{name}.txt"
    if not path.is_file():
        return None
    parts = path.read_text().split()
    return float(parts[0]), parts[1] if len(parts) > 1 else "n/a"


def load_row(out: Path, temperature: str | None, row: str, n_test: int) -> Row | str:
    """The row's results, or why it is missing."""
    folder = out / temperature if temperature else out
    path = folder / f"{row}.jsonl"
    if not path.is_file():
        part = path.with_name(path.name + ".part")
        if part.is_file():
            done = len(read_all(part, SearchResult))
            return f"unfinished ({done} of {n_test} problems in {part})"
        return "not run"
    results = read_all(path, SearchResult)
    if len(results) != n_test:
        return f"{path} holds {len(results)} problems, not {n_test} (another N_TEST?)"
    wall_name = f"{temperature}-{row}" if temperature else row
    return Row(row, label(row), results, wall_seconds(out, wall_name))


def paired(a: Row, b: Row) -> tuple[float, float]:
    """Mean and standard error of a's minus b's correctness over the same problems, in points."""
    return paired_difference(
        {r.problem_id: outcome(r) for r in a.results},
        {r.problem_id: outcome(r) for r in b.results},
    )


def verdict(a: Row, b: Row) -> str:
    diff, se = paired(a, b)
    SUMMARY.append((diff > 0, abs(diff) >= 2 * se))
    holds = "holds" if diff > 0 else "**does not hold**"
    noise = " (within 2 SE)" if abs(diff) < 2 * se else ""
    return f"{holds}: {diff:+.1f} ± {se:.1f} points, paired{noise}"


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| row | accuracy % ± SE | AlphaMath (MATH) | generated tokens / problem | "
        "s / problem | scored partial solutions / problem | wall s (load) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        seed = SEED_NUMBERS.get(row.name)
        wall = f"{row.wall[0]:.0f} ({row.wall[1]})" if row.wall else "n/a"
        lines.append(
            f"| {row.label} | {100 * row.accuracy:.1f} ± {100 * row.accuracy_se:.1f} | "
            f"{seed if seed is not None else ''} | "
            f"{row.mean([r.n_generated_tokens for r in row.results]):.0f} | "
            f"{row.mean([r.seconds for r in row.results]):.3f} | "
            f"{row.mean([float(r.meta.get('n_scored', 0)) for r in row.results]):.1f} | {wall} |"
        )
    return lines


def targets(rows: dict[str, Row], b2: str, n: str) -> list[str]:
    wanted = [
        (f"sbs-3-{b2}", f"sbs-1-{b2}"),
        (f"sbs-1-{b2}", "greedy"),
        (f"sbs-3-{b2}", f"maj{n}"),
    ]
    lines = []
    for a, b in wanted:
        name = f"{label(a)} above {label(b)}"
        if a in rows and b in rows:
            lines.append(f"- {name}: {verdict(rows[a], rows[b])}")
        else:
            lines.append(f"- {name}: not measured (a row is missing)")
    return lines


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def losses_table(found: list[Diagnosis], labels: dict[str, str]) -> list[str]:
    lines = [
        "| row | right | lost at the final choice | lost to pruning | lost to generation | "
        "step right when the steps before it are | "
        "finished solutions per run (distinct answers) |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in found:
        losses = d.losses
        ends = (
            f"{losses.finished_per_run:.2f} ({losses.answers_per_run:.2f})"
            if losses.finished_per_run is not None and losses.answers_per_run is not None
            else ""
        )
        pruning = pct(losses.lost_pruning) if d.selection else ""
        lines.append(
            f"| {labels[d.row]} | {pct(losses.chosen_right)} | {pct(losses.lost_choice)} | "
            f"{pruning} | {pct(losses.never_generated)} | {pct(d.step_right)} | {ends} |"
        )
    return lines


def selection_table(found: list[Diagnosis], labels: dict[str, str]) -> list[str]:
    lines = [
        "| row | selections | with a right candidate | top-scored right (when one is) | "
        "likeliest right (same) | random right (same) | top-scored is the likeliest | "
        "score AUROC within a selection | kept right / all right | kept that duplicate "
        "another kept |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in found:
        s = d.selection
        if s is None:
            continue
        auroc_cell = "n/a" if s.within_auroc is None else f"{s.within_auroc:.3f}"
        lines.append(
            f"| {labels[d.row]} | {s.selections} | {pct(s.with_right_candidate)} | "
            f"{pct(s.top1_right)} | {pct(s.top_prior_right)} | {pct(s.random_right)} | "
            f"{pct(s.top_is_likeliest)} | {auroc_cell} | {pct(s.kept_right)} / "
            f"{pct(s.all_right)} | {pct(s.kept_duplicates)} |"
        )
    return lines


def findings(found: dict[str, Diagnosis], b2: str, n: str) -> list[str]:
    """Sentences read off the diagnosis; the interpretation is in the section's header."""
    lines = []
    sbs3, sbs1, sample = found.get(f"sbs-3-{b2}"), found.get(f"sbs-1-{b2}"), found.get(f"maj{n}")
    if sbs3 and sbs3.selection and sample:
        lines.append(
            f"- Where SBS(3,{b2}) loses: pruning {pct(sbs3.losses.lost_pruning)}% of the problems "
            f"(a right next step was proposed, the beam kept none), generation "
            f"{pct(sbs3.losses.never_generated)}%, the final choice "
            f"{pct(sbs3.losses.lost_choice)}%. {n} whole samples at the same temperature had "
            f"no right answer (100 - pass@{n}) on {pct(sample.losses.never_generated)}% and "
            f"majority vote lost {pct(sample.losses.lost_choice)}% more."
        )
        s = sbs3.selection
        if s.kept_duplicates is not None and s.kept_duplicates > 0.1:
            lines.append(
                f"- Beam diversity: {pct(s.kept_duplicates)}% of the candidates SBS(3,{b2}) kept were "
                "the same partial solution as another kept candidate of the same selection (the "
                "policy samples the same step many times and the search keeps every copy), so "
                "fewer than 3 distinct partial solutions survive a depth."
            )
        lines.append(
            f"- Scorer: when some candidate of a selection was still right, the top-scored one was "
            f"right {pct(s.top1_right)}% of the time, the policy's likeliest "
            f"{pct(s.top_prior_right)}%, a random one {pct(s.random_right)}% (score AUROC within "
            f"a selection {s.within_auroc or float('nan'):.3f}); the top-scored step was the "
            f"likeliest one in {pct(s.top_is_likeliest)}% of the selections."
            + (
                " The demo PRM's head reads the step's token log-probabilities under the "
                "policy, and its ranking of sibling steps follows them: SBS with it ranks "
                "nearly as SBS without a scorer would."
                if s.top_is_likeliest is not None and s.top_is_likeliest >= 0.9
                else ""
            )
        )
        if sbs3.losses.answers_per_run is not None:
            lines.append(
                f"- Votes within a run: a run of SBS(3,{b2}) finished "
                f"{sbs3.losses.finished_per_run:.2f} solutions with "
                f"{sbs3.losses.answers_per_run:.2f} distinct answers on average"
                + (
                    ", so the vote over them rarely differs from the best one."
                    if sbs3.losses.answers_per_run < 1.2
                    else "."
                )
            )
    greedy = found.get("greedy")
    if greedy and sbs1 and sbs3 and sample:
        lines.append(
            f"- Per step (right when the steps before it are): greedy {pct(greedy.step_right)}%, "
            f"whole samples at this temperature {pct(sample.step_right)}%, the steps SBS(1,{b2}) "
            f"kept {pct(sbs1.step_right)}%, SBS(3,{b2}) {pct(sbs3.step_right)}%."
        )
    if sbs1 and sbs1.selection:
        lines.append(
            f"- SBS(1,{b2}): when a right candidate existed the top-scored one was right "
            f"{pct(sbs1.selection.top1_right)}% of the time, the likeliest "
            f"{pct(sbs1.selection.top_prior_right)}%, a random one "
            f"{pct(sbs1.selection.random_right)}%; it lost {pct(sbs1.losses.lost_pruning)}% of "
            f"the problems to pruning and {pct(sbs1.losses.never_generated)}% to generation."
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the Makefile's OUT folder (runs/sbs)")
    parser.add_argument("--rows", required=True, help="the rows per temperature, space-separated")
    parser.add_argument("--temperatures", required=True, help="space-separated")
    parser.add_argument("--problems", required=True, help="the test problems (for diagnose.py)")
    parser.add_argument("--n-test", type=int, required=True, help="problems each row must hold")
    parser.add_argument("--b2", default="5", help="SBS's B2, to find the target rows")
    parser.add_argument("--n", default="5", help="maj@N's N, to find the target rows")
    parser.add_argument("--setting", action="append", default=[], help="NAME=VALUE for Setup")
    parser.add_argument("--results", type=Path, required=True, help="the Markdown file to write")
    args = parser.parse_args()

    problems: dict[str, Problem] = read_problems_by_id(args.problems)
    lines = [
        "# AlphaMath's table on the synthetic task",
        "",
        "Generated by `make -C examples/sbs copies` (report.py and diagnose.py beside the Makefile); do "
        "not edit by hand.",
        "",
        f"**A run on the first {args.n_test} of the {len(problems)} test problems "
        f"(N_TEST={args.n_test}).** Setup: " + ", ".join(args.setting) + ".",
        "",
        "Accuracy: % of problems whose answer the CLI graded right (± binomial SE). Tokens: all "
        "tokens the policy generated for a problem, every candidate included. Seconds: the "
        "problem's share of its batch's search time (models loaded), from the records; wall s: "
        "the whole row, model loading included, with the 1-minute load when it ended (the 2 "
        "cores were shared with other jobs: compare seconds within a table only). Scored: "
        "partial or whole solutions the PRM rated. The AlphaMath column is the seed's MATH "
        f"number (DeepSeekMath-7B policy and value; the seed's {SEED_MCTS}), for the pattern, "
        "not the level. Rows: SBS(B1,B2) keeps the B1 best-scored of the candidate next "
        "steps at each depth (B2 per live beam) and answers with its best-scored finished "
        "solution; `1 run + maj` votes over that run's finished solutions instead (at most "
        "B1 of them); `K runs + maj@K` runs the search K times with different samples and "
        "votes over the K answers; best-of-N ranks N whole samples by their lowest step "
        "score. Targets: paired differences over the same problems, ± their SE; a "
        "difference within 2 SE is not resolved by this many problems.",
    ]
    missing: list[str] = []
    greedy = load_row(args.out, None, "greedy", args.n_test)
    if isinstance(greedy, str):
        missing.append(f"greedy: {greedy}")
    for temperature in args.temperatures.split():
        rows: dict[str, Row] = {}
        if isinstance(greedy, Row):
            rows["greedy"] = greedy
        for name in args.rows.split():
            row = load_row(args.out, temperature, name, args.n_test)
            if isinstance(row, str):
                missing.append(f"{name} at T={temperature}: {row}")
            else:
                rows[name] = row
        lines += ["", f"## Temperature {temperature}", "", *table(list(rows.values()))]
        lines += ["", "Targets (issue #8):", "", *targets(rows, args.b2, args.n)]
        labels = {name: row.label for name, row in rows.items()}
        found = {name: diagnose(name, row.results, problems) for name, row in rows.items()}
        if found:
            lines += [
                "",
                f"### Where the right answer is lost (T={temperature})",
                "",
                "Each candidate judged by the synthetic task's exact checker (diagnose.py). "
                "A selection is one problem, run and depth: all candidate next steps the beams "
                "proposed there; a candidate is right when every step so far is (a finished "
                "one: when its answer is). Right / lost at the final choice / lost to pruning / "
                "lost to generation: shares of problems (they sum to 100): the answer is "
                "right; a finished solution the search kept was right but another was chosen "
                "(whole-solution rows: pass@N - accuracy); the beam dropped its last right "
                "partial solution although a right candidate was proposed; no right candidate "
                "was proposed from the beam's right partial solutions (whole-solution rows: "
                "100 - pass@N). With several runs a problem counts under the first of these "
                "that some run shows. Likeliest: the candidate with the highest per-token "
                "probability under the policy (what SBS ranks by without a scorer). Step right: "
                "over the steps SBS kept whose earlier steps were right, or over every sampled "
                "solution's steps up to its first wrong one.",
                "",
                *losses_table(list(found.values()), labels),
                "",
                "Selections (SBS rows; percentages of selections, or of candidates for the "
                "last two columns):",
                "",
                *selection_table(list(found.values()), labels),
                "",
                *findings(found, args.b2, args.n),
            ]
    held = sum(h for h, _ in SUMMARY)
    resolved = sum(r for _, r in SUMMARY)
    summary = (
        f"**Targets: {held} of {len(SUMMARY)} hold; {resolved} of the {len(SUMMARY)} "
        f"differences are beyond 2 SE on {args.n_test} problems.**"
    )
    lines.insert(lines.index("## Temperature " + args.temperatures.split()[0]), summary)
    lines.insert(lines.index(summary) + 1, "")
    lines += ["", "## Missing rows", ""]
    lines += [f"- {m}" for m in missing] if missing else ["None: every row finished."]
    args.results.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
