"""Write examples/alphamath/RESULTS.md (and qvalues.png) from `make released`'s files.

AlphaMath's table (Chen et al. 2024: greedy 53.6, maj@5 61.8, SBS(1,5) 62.3, SBS(3,5) 65.7,
MCTS(40) 64.0 on MATH, MCTS at 4.4x SBS's time) rerun with the search settings the authors
released (github MARIO-Math-Reasoning/Super_MARIO), on the demo's policy and PRM, over
several search seeds. The searches and grading are the `mathverify` CLI's: each result
carries its graded outcome (``meta.outcome``), generated tokens and seconds. This script
only counts: accuracy per seed, its mean and spread over seeds, paired gaps on the same
problems (each seed's gap with its standard error, then their mean and spread), which of
AlphaMath's orderings hold at every seed, and the cost per problem. It also draws the Q
values of the saved trees (AlphaMath's Figure: intermediate and final steps, training trees
with gold rewards against test trees with values only).

    python examples/alphamath/released.py runs/alphamath-released --seeds "0 1 2" \\
        --rows "maj-5 sbs-1-5 sbs-3-5 mcts-40" --train-trees T.jsonl --test-trees U.jsonl \\
        --figure examples/alphamath/qvalues.png --results examples/alphamath/RESULTS.md

examples/sbs's `make seeds` uses it too, with its own file layout (``--pattern``), rows and
claims (``--claim A:B``: A above B, checked as a paired gap at every seed).
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass
from pathlib import Path

from mathverify.eval.metrics import paired_difference
from mathverify.records import SearchResult, Tree, read_all

# Chen et al. 2024 (AlphaMath), DeepSeekMath-Base-7B round 3, MATH test set (Table 2/3).
PAPER = {
    "greedy": 53.6,
    "maj-5": 61.8,
    "maj5": 61.8,
    "sbs-1-5": 62.3,
    "sbs-3-5": 65.7,
    "mcts-40": 64.0,
}
LABELS = {
    "greedy": "greedy",
    "maj-5": "maj@5",
    "maj5": "maj@5",
    "sbs-2-5": "SBS(2,5)",
    "sbs-5-5": "SBS(5,5)",
    "best-of-5": "best-of-5 by the scorer (min)",
    "sbs-3-5-vote": "SBS(3,5), 1 run + maj over its finished",
    "sbs-3-5-min": "SBS(3,5) ranking by the lowest step score (min)",
    "checker-greedy": "the checker LM alone, greedy (a solver, not a verifier)",
    "sbs-1-5": "SBS(1,5)",
    "sbs-3-5": "SBS(3,5)",
    "mcts-40": "MCTS(40)",
    "sbs-3-5-copies": "SBS(3,5), copies kept (before #35)",
    "mcts-40-distinct": "MCTS(40), identical steps merged (ours)",
    "mcts-40-per-step": "MCTS(40) per committed step, merged, T 1.0 (before #35)",
}
# AlphaMath's order, best first; each adjacent pair is a claim to check.
ORDER = ["sbs-3-5", "mcts-40", "sbs-1-5", "maj-5", "greedy"]
CLAIMS = [
    *zip(ORDER, ORDER[1:], strict=False),
    ("sbs-3-5", "greedy"),
    ("mcts-40", "greedy"),
    ("sbs-3-5", "sbs-3-5-copies"),
    ("mcts-40", "mcts-40-distinct"),
    ("mcts-40", "mcts-40-per-step"),
]


@dataclass
class Row:
    """One method's results at one seed."""

    name: str
    results: list[SearchResult]
    seed: str | None = None  # None: one run for every seed (greedy)

    @property
    def outcomes(self) -> dict[str, bool]:
        return {r.problem_id: bool(r.meta["outcome"]) for r in self.results}

    @property
    def accuracy(self) -> float:
        return 100 * sum(self.outcomes.values()) / len(self.results)

    @property
    def tokens(self) -> float:
        return statistics.fmean(r.n_generated_tokens for r in self.results)

    @property
    def seconds(self) -> float:
        return statistics.fmean(r.seconds for r in self.results)

    @property
    def no_answer(self) -> int:
        return sum(r.answer is None for r in self.results)


def load(path: Path, name: str, seed: str | None = None) -> Row | None:
    if not path.exists():
        return None
    results = read_all(path, SearchResult)
    missing = [r.problem_id for r in results if "outcome" not in r.meta]
    if missing:
        raise SystemExit(f"{path}: {len(missing)} results have no graded outcome (meta.outcome)")
    return Row(name, results, seed)


def spread(values: list[float]) -> str:
    """Mean ± sd over seeds (sd of one seed: none)."""
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.fmean(values):.1f} ± {statistics.stdev(values):.1f}"


def gap_cell(gaps: list[tuple[float, float]]) -> str:
    """Each seed's paired gap ± its standard error, then the mean over seeds."""
    per_seed = ", ".join(f"{g:+.1f} ± {se:.1f}" for g, se in gaps)
    if all(g > 0 for g, _ in gaps):
        verdict = "holds at every seed"
    elif all(g < 0 for g, _ in gaps):
        verdict = "reversed at every seed"
    else:
        verdict = "mixed over seeds"
    beyond = sum(abs(g) > 2 * se for g, se in gaps)
    mean = statistics.fmean(g for g, _ in gaps)
    return (
        f"{mean:+.1f} ({per_seed}); {verdict}, the gap beyond 2 SE at {beyond} of {len(gaps)} seeds"
    )


def table(rows: dict[str, list[Row]], order: list[str]) -> list[str]:
    lines = [
        "| method | AlphaMath (MATH) | ours: accuracy, mean ± sd over seeds | per seed "
        "| no answer | tokens per problem | seconds per problem |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in order:
        runs = rows.get(name) or []
        if not runs:
            lines.append(f"| {LABELS.get(name, name)} | {PAPER.get(name, '')} | missing | | | | |")
            continue
        accuracies = [r.accuracy for r in runs]
        lines.append(
            f"| {LABELS.get(name, name)} | {PAPER.get(name, '')} | {spread(accuracies)} "
            f"| {', '.join(f'{a:.1f}' for a in accuracies)} "
            f"| {spread([float(r.no_answer) for r in runs])} "
            f"| {spread([r.tokens for r in runs])} "
            f"| {statistics.fmean(r.seconds for r in runs):.3f} |"
        )
    return lines


def paired(rows: dict[str, list[Row]], a: str, b: str) -> list[tuple[float, float]] | None:
    """a minus b at each seed both have, on the problems both have (greedy, without a seed, is
    one run for every seed)."""
    by_seed_a = {r.seed: r for r in rows.get(a) or []}
    by_seed_b = {r.seed: r for r in rows.get(b) or []}
    if None in by_seed_a:
        by_seed_a = dict.fromkeys(by_seed_b, by_seed_a[None])
    if None in by_seed_b:
        by_seed_b = dict.fromkeys(by_seed_a, by_seed_b[None])
    seeds = [seed for seed in by_seed_a if seed in by_seed_b]
    if not seeds:
        return None
    return [paired_difference(by_seed_a[s].outcomes, by_seed_b[s].outcomes) for s in seeds]


def claims(rows: dict[str, list[Row]], pairs: list[tuple[str, str]]) -> list[str]:
    lines = ["| claim (AlphaMath's order) | paper gap | our paired gap, points |", "|---|---|---|"]
    for a, b in pairs:
        gaps = paired(rows, a, b)
        paper = f"{PAPER[a] - PAPER[b]:+.1f}" if a in PAPER and b in PAPER else "(ablation)"
        cell = gap_cell(gaps) if gaps else "missing"
        lines.append(f"| {LABELS.get(a, a)} > {LABELS.get(b, b)} | {paper} | {cell} |")
    return lines


def cost_line(rows: dict[str, list[Row]]) -> str:
    mcts, sbs = rows.get("mcts-40") or [], rows.get("sbs-3-5") or []
    if "mcts-40" not in rows:
        return ""
    if not mcts or not sbs:
        return "- MCTS against SBS(3,5) time: missing rows."
    seconds = statistics.fmean(r.seconds for r in mcts) / statistics.fmean(r.seconds for r in sbs)
    tokens = statistics.fmean(r.tokens for r in mcts) / statistics.fmean(r.tokens for r in sbs)
    return (
        f"- MCTS(40) costs {seconds:.1f}x SBS(3,5)'s seconds and {tokens:.1f}x its generated "
        "tokens per problem (AlphaMath: 4.4x the time)."
    )


# --- Q values --------------------------------------------------------------------------


def q_values(path: Path) -> dict[str, list[float]]:
    """Q of every visited node, split into intermediate steps and final (answer) steps."""
    split: dict[str, list[float]] = {"intermediate": [], "final": []}
    for tree in read_all(path, Tree):
        for node in tree.nodes[1:]:  # the root is the problem, not a step
            if node.get("q") is None or not node.get("visits"):
                continue
            split["final" if node["terminal"] else "intermediate"].append(float(node["q"]))
    return split


def q_summary(name: str, split: dict[str, list[float]]) -> list[str]:
    lines = []
    for kind, values in split.items():
        if not values:
            lines.append(f"| {name} | {kind} | 0 | | | |")
            continue
        positive = 100 * sum(v > 0 for v in values) / len(values)
        low = statistics.quantiles(values, n=20)[0] if len(values) > 1 else values[0]
        lines.append(
            f"| {name} | {kind} | {len(values)} | {statistics.fmean(values):+.3f} "
            f"| {low:+.3f} | {positive:.2f}% |"
        )
    return lines


def draw(train: dict[str, list[float]], test: dict[str, list[float]], figure: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=False)
    bins = [i / 10 - 1 for i in range(21)]
    for ax, (title, split) in zip(
        axes,
        [("training trees (gold rewards)", train), ("test trees (values only)", test)],
        strict=True,
    ):
        for kind, color in (("intermediate", "tab:blue"), ("final", "tab:orange")):
            values = split[kind]
            if values:
                ax.hist(values, bins=bins, alpha=0.6, color=color, label=f"{kind} ({len(values)})")
        ax.set_title(title)
        ax.set_xlabel("Q")
        ax.legend()
    axes[0].set_ylabel("nodes")
    fig.tight_layout()
    fig.savefig(figure, dpi=110)
    plt.close(fig)


def section(
    out: Path, seeds: list[str], names: list[str], pattern: str, pairs: list[tuple[str, str]]
) -> list[str]:
    """One results folder's table and claims. A row with no file at any seed was not run
    for this folder and is left out (named); one missing at some seeds is reported missing.
    A row with no file at any seed but a file OUT/ROW.jsonl (a greedy decode) is one run
    for every seed."""
    rows: dict[str, list[Row]] = {}
    greedy = load(out / "greedy.jsonl", "greedy")
    rows["greedy"] = [greedy] if greedy else []
    missing = [] if greedy else ["greedy"]
    not_run = []
    for name in names:
        found = {
            seed: load(out / pattern.format(seed=seed, row=name), name, seed) for seed in seeds
        }
        if all(row is None for row in found.values()):
            once = load(out / f"{name}.jsonl", name)
            if once is not None:  # a deterministic row, one run for every seed (as greedy)
                rows[name] = [once]
            else:
                not_run.append(name)
            continue
        missing += [f"seed{seed}/{name}" for seed, row in found.items() if row is None]
        rows[name] = [row for row in found.values() if row is not None]
    ran = [name for name in names if name in rows]
    pairs = [(a, b) for a, b in pairs if a in rows and b in rows]
    cost = cost_line(rows)
    return [
        *([f"- missing rows: {', '.join(missing)}"] if missing else []),
        *([f"- not run here: {', '.join(LABELS.get(n, n) for n in not_run)}"] if not_run else []),
        "",
        *table(rows, ["greedy", *ran]),
        "",
        "Paired gaps: each seed's difference on the same problems ± its standard error; the "
        "first number is their mean over seeds.",
        "",
        *claims(rows, pairs),
        *(["", cost] if cost else []),
    ]


def demoted(markdown: str) -> list[str]:
    """The lines of ``markdown`` with every heading one level down (``#`` becomes ``##``),
    outside fenced code."""
    out: list[str] = []
    fenced = False
    for line in markdown.rstrip("\n").split("\n"):
        if line.startswith("```"):
            fenced = not fenced
        out.append("#" + line if not fenced and line.startswith("#") else line)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seeds", required=True)
    parser.add_argument("--rows", required=True)
    parser.add_argument("--train-trees", type=Path)
    parser.add_argument("--test-trees", type=Path)
    parser.add_argument("--figure", type=Path)
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--setting", action="append", default=[])
    parser.add_argument(
        "--pattern",
        default="seed{seed}/{row}.jsonl",
        help="a row's results file under OUT (default: %(default)s); greedy is OUT/greedy.jsonl",
    )
    parser.add_argument(
        "--claim",
        action="append",
        default=[],
        metavar="A:B",
        help="row A above row B, a paired gap per seed (default: AlphaMath's order and ablations)",
    )
    parser.add_argument("--title", default="AlphaMath's table with the released search settings")
    parser.add_argument("--made-by", default="make -C examples/alphamath released")
    parser.add_argument("--label", default="", help="the heading of OUT's section (with --also)")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="another results folder with the same layout (another scorer): its own section",
    )
    parser.add_argument("--note", action="append", default=[], help="a line at the end")
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        type=Path,
        help="a markdown report (another target's) appended as a section, its headings one "
        "level down",
    )
    args = parser.parse_args()
    pairs = [tuple(c.split(":", 1)) for c in args.claim] or CLAIMS
    if any(len(pair) != 2 for pair in pairs):
        parser.error("--claim takes A:B, two row names")

    names = args.rows.split()
    sections = [(args.label, args.out)]
    for also in args.also:
        label, sep, folder = also.partition("=")
        if not sep or not label or not folder:
            parser.error(f"--also takes LABEL=DIR, got {also!r}")
        sections.append((label, Path(folder)))

    lines = [
        f"# {args.title}",
        "",
        f"Written by `{args.made_by}` (examples/alphamath/released.py) "
        "from the search results; every number below is counted from them.",
        "",
        *[f"- {s}" for s in args.setting],
    ]
    for label, out in sections:
        if len(sections) > 1:
            lines += ["", f"## {label}", "", f"- results: {out}"]
        lines += section(out, args.seeds.split(), names, args.pattern, pairs)
    if args.train_trees and args.test_trees and args.train_trees.exists():
        train, test = q_values(args.train_trees), q_values(args.test_trees)
        lines += [
            "",
            "## Q values (AlphaMath's figure)",
            "",
            "| trees | steps | nodes | mean Q | 5th percentile | Q > 0 |",
            "|---|---|---|---|---|---|",
            *q_summary("training (gold rewards)", train),
            *q_summary("test (values only)", test),
        ]
        if args.figure:
            draw(train, test, args.figure)
            lines += ["", f"![Q values]({args.figure.name})"]
    for path in args.include:
        lines += ["", *demoted(path.read_text(encoding="utf-8"))]
    if args.note:
        lines += ["", *args.note]
    args.results.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
