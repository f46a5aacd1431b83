"""Write the SVPO ablation table (the Makefile's ``svpo-ablations``, issue #39): one row per
SVPO setting against the SFT round from the same MCTS trees, over the seeds' folders.

Counts only, from the files the Makefile wrote in each seed's folder (``OUT/seedS``):

- the step pairs of each row's pair set (``ablation/pairs-SET.jsonl``) and their precision by
  the synthetic task's exact checker: the share of pairs whose chosen step is right and
  rejected step wrong, each step judged after the pair's prefix as
  :func:`mathverify.data.synthetic.check_steps` judges the last step of ``prefix + [step]``
  (a step after a wrong prefix is wrong); also the shares with both right, both wrong, and
  the reverse (chosen wrong, rejected right);
- greedy and SBS(3,5) accuracy of each row's policy (``ablation/ROW/EVAL.jsonl``) and of the
  SFT round (``round1/EVAL.jsonl``), and the paired difference row minus SFT round on the
  same problems: per seed with its paired standard error, then the mean over seeds with the
  seeds' standard deviation.

A missing folder, file or row is named, so a partial run still reports.

    python examples/alphamath/svpo_ablation.py runs/svpo-ablations/seed0 \\
        --row "dpo|base|DPO alone|--value-weight 0" --results SVPO-ABLATIONS.md
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from mathverify.data.synthetic import check_steps
from mathverify.eval.metrics import paired_difference
from mathverify.records import Problem, SearchResult, StepPair, read_all

_spec = importlib.util.spec_from_file_location(
    "alphamath_report", Path(__file__).with_name("report.py")
)
assert _spec is not None and _spec.loader is not None
report = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = report
_spec.loader.exec_module(report)

SFT = "round1"
EVALS = ("greedy", "sbs-3-5")
PAIR_KINDS = ("right>wrong", "both right", "both wrong", "wrong>right")


@dataclass(frozen=True)
class AblationRow:
    """One setting: its name (folder), pair set, what it changes, and its training options."""

    name: str
    pair_set: str
    label: str
    options: str

    @classmethod
    def parse(cls, text: str) -> AblationRow:
        parts = text.split("|")
        if len(parts) != 4 or not all(parts[:3]):
            raise SystemExit(f"--row {text!r}: give NAME|PAIR_SET|LABEL|OPTIONS")
        return cls(*parts)


def pair_kinds(pairs: list[StepPair], problems: dict[str, Problem]) -> dict[str, int]:
    """How many pairs are right>wrong, both right, both wrong, wrong>right by the checker."""
    counts = dict.fromkeys(PAIR_KINDS, 0)
    for pair in pairs:
        problem = problems.get(pair.problem_id)
        if problem is None:
            raise SystemExit(f"pair of problem {pair.problem_id!r}: not in the problems file")
        chosen = check_steps(problem, [*pair.prefix, pair.chosen]).labels[-1] == 1
        rejected = check_steps(problem, [*pair.prefix, pair.rejected]).labels[-1] == 1
        kind = {
            (True, False): "right>wrong",
            (True, True): "both right",
            (False, False): "both wrong",
            (False, True): "wrong>right",
        }[chosen, rejected]
        counts[kind] += 1
    return counts


def load_results(path: Path) -> dict[str, bool] | str:
    """Outcome per problem id, or why there is none."""
    if not path.is_file():
        return "not run"
    results = read_all(path, SearchResult)
    if not results:
        return f"{path} is empty"
    return {r.problem_id: report.outcome(r) for r in results}


@dataclass
class SeedRow:
    """One row at one seed: pair counts by kind, and per eval the accuracy and the paired
    difference (points) and its SE against the SFT round, or why missing."""

    kinds: dict[str, int] | str
    accuracy: dict[str, float]
    diffs: dict[str, tuple[float, float] | str]
    # greedy against the policy both rounds start from (--start), when given
    vs_start: tuple[float, float] | str | None = None

    @property
    def n_pairs(self) -> int | None:
        return sum(self.kinds.values()) if isinstance(self.kinds, dict) else None

    def share(self, kind: str) -> float | None:
        n = self.n_pairs
        return 100 * self.kinds[kind] / n if n and isinstance(self.kinds, dict) else None


def against(mine: dict[str, bool] | str, base: dict[str, bool] | str | None):
    """The paired difference ``mine - base`` (points, SE), why there is none, or None
    without a base."""
    if base is None:
        return None
    if isinstance(base, str):
        return f"start: {base}"
    return mine if isinstance(mine, str) else paired_difference(mine, base)


def seed_rows(
    out: Path, rows: list[AblationRow], start: dict[str, bool] | str | None = None
) -> tuple[dict[str, float | str], dict[str, SeedRow]]:
    """The SFT round's accuracy per eval and every row's numbers at one seed's folder; with
    ``start`` (the greedy results of the policy both rounds start from) the SFT round's and
    each row's greedy difference from it (the SFT round under the key ``SFT``)."""
    problems_path = out / "problems" / "train-round1.jsonl"
    problems = (
        {p.id: p for p in read_all(problems_path, Problem)} if problems_path.is_file() else {}
    )
    sft = {name: load_results(out / SFT / f"{name}.jsonl") for name in EVALS}
    sft_accuracy: dict[str, float | str] = {
        name: (100 * sum(r.values()) / len(r) if isinstance(r, dict) else r)
        for name, r in sft.items()
    }
    kinds_by_set: dict[str, dict[str, int] | str] = {}
    found: dict[str, SeedRow] = {}
    for row in rows:
        if row.pair_set not in kinds_by_set:
            path = out / "ablation" / f"pairs-{row.pair_set}.jsonl"
            if not path.is_file():
                kinds_by_set[row.pair_set] = "not run"
            elif not problems:
                kinds_by_set[row.pair_set] = f"{problems_path} missing"
            else:
                kinds_by_set[row.pair_set] = pair_kinds(read_all(path, StepPair), problems)
        accuracy: dict[str, float] = {}
        diffs: dict[str, tuple[float, float] | str] = {}
        for name in EVALS:
            mine = load_results(out / "ablation" / row.name / f"{name}.jsonl")
            base = sft[name]
            if isinstance(mine, str):
                diffs[name] = mine
                continue
            accuracy[name] = 100 * sum(mine.values()) / len(mine)
            diffs[name] = (
                f"SFT round: {base}" if isinstance(base, str) else paired_difference(mine, base)
            )
        greedy = load_results(out / "ablation" / row.name / "greedy.jsonl")
        found[row.name] = SeedRow(
            kinds_by_set[row.pair_set], accuracy, diffs, against(greedy, start)
        )
    found[SFT] = SeedRow("-", {}, {}, against(sft["greedy"], start))
    return sft_accuracy, found


def mean_sd(values: list[float]) -> str:
    """``mean (SD s)`` over seeds; one value has no SD."""
    if not values:
        return "n/a"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:+.1f} (1 seed)"
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{mean:+.1f} (SD {sd:.1f}, {len(values)} seeds)"


def plain_mean(values: list[float], fmt: str = "{:.1f}") -> str:
    return fmt.format(sum(values) / len(values)) if values else "n/a"


def start_diffs(name: str, by_seed: list[dict[str, SeedRow]]) -> list[float]:
    """The greedy differences of row ``name`` (or ``SFT``) from the start policy, per seed."""
    return [
        d[0] for seed in by_seed if name in seed and isinstance(d := seed[name].vs_start, tuple)
    ]


def summary_table(
    rows: list[AblationRow], by_seed: list[dict[str, SeedRow]], with_start: bool = False
) -> list[str]:
    lines = [
        "| row | setting | pair set | pairs | precision % | both right % | both wrong % | "
        "wrong>right % | greedy: row - SFT, points | SBS(3,5): row - SFT, points |"
        + (" greedy: row - start, points |" if with_start else ""),
        "|---|---|---|---|---|---|---|---|---|---|" + ("---|" if with_start else ""),
    ]
    for row in rows:
        at = [seed[row.name] for seed in by_seed if row.name in seed]
        counts = [r.n_pairs for r in at if r.n_pairs is not None]
        shares = {k: [s for r in at if (s := r.share(k)) is not None] for k in PAIR_KINDS}
        diffs = {
            name: [d[0] for r in at if isinstance(d := r.diffs[name], tuple)] for name in EVALS
        }
        lines.append(
            f"| {row.name} | {row.label} | {row.pair_set} | "
            f"{plain_mean([float(c) for c in counts], '{:.0f}')} | "
            + " | ".join(plain_mean(shares[k]) for k in PAIR_KINDS)
            + " | "
            + " | ".join(mean_sd(diffs[name]) for name in EVALS)
            + " |"
            + (f" {mean_sd(start_diffs(row.name, by_seed))} |" if with_start else "")
        )
    return lines


def start_lines(start: dict[str, bool] | str | None) -> list[str]:
    """The start policy's greedy accuracy (the reference of the last column), if given."""
    if start is None:
        return []
    if isinstance(start, str):
        return [f"- start policy (greedy): {start}"]
    accuracy = 100 * sum(start.values()) / len(start)
    return [
        f"- start policy (both rounds' init), greedy: {accuracy:.1f}% on {len(start)} problems; "
        "row - start pairs each seed's row with it"
    ]


def best_row_lines(rows: list[AblationRow], by_seed: list[dict[str, SeedRow]]) -> list[str]:
    """The row with the highest mean greedy difference, and whether it reaches the SFT round."""
    means = {}
    for row in rows:
        diffs = [
            d[0]
            for seed in by_seed
            if row.name in seed and isinstance(d := seed[row.name].diffs["greedy"], tuple)
        ]
        if len(diffs) == len(by_seed) and diffs:
            means[row.name] = sum(diffs) / len(diffs)
    if not means:
        return ["- best row: not measured at every seed"]
    best = max(means, key=lambda name: means[name])
    reaches = "at or above" if means[best] >= 0 else "**below**"
    lines = [
        f"- best row by the greedy paired mean over seeds: {best} ({means[best]:+.1f} points), "
        f"{reaches} the SFT round"
    ]
    from_start = {name: start_diffs(name, by_seed) for name in (SFT, best)}
    if all(len(d) == len(by_seed) for d in from_start.values()):
        for name, label in ((SFT, "the SFT round"), (best, f"the best row ({best})")):
            diffs = from_start[name]
            lines.append(
                f"- {label} against the start policy (greedy, paired): {mean_sd(diffs)} points"
            )
    return lines


def seed_section(
    out: Path,
    rows: list[AblationRow],
    sft_accuracy: dict[str, float | str],
    found: dict[str, SeedRow],
) -> list[str]:
    lines = [f"### {out}", ""]
    if not out.is_dir():
        return [*lines, "not run", ""]
    sft = ", ".join(
        f"{report.label(n)} {a:.1f}%" if isinstance(a, float) else f"{report.label(n)} {a}"
        for n, a in sft_accuracy.items()
    )
    lines += [
        f"SFT round: {sft}.",
        "",
        "| row | pairs | precision % | greedy % | greedy: row - SFT | SBS(3,5) % | "
        "SBS(3,5): row - SFT | train s (load) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        r = found[row.name]
        cells = []
        for name in EVALS:
            d = r.diffs[name]
            acc = f"{r.accuracy[name]:.1f}" if name in r.accuracy else "n/a"
            cells += [acc, f"{d[0]:+.1f} ± {d[1]:.1f}" if isinstance(d, tuple) else d]
        share = r.share("right>wrong")
        wall = report.wall_seconds(out, f"ablation-{row.name}-train")
        lines.append(
            f"| {row.name} | {r.n_pairs if r.n_pairs is not None else r.kinds} | "
            f"{'n/a' if share is None else f'{share:.1f}'} | "
            + " | ".join(cells)
            + f" | {f'{wall[0]:.0f} ({wall[1]})' if wall else 'n/a'} |"
        )
    total = report.wall_seconds(out.parent, out.name)
    if total:
        lines += ["", f"Wall time of this seed: {total[0]:.0f} s (1-minute load {total[1]})."]
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outs", type=Path, nargs="+", help="one folder per seed")
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument(
        "--row", action="append", default=[], help="NAME|PAIR_SET|LABEL|OPTIONS, in order"
    )
    parser.add_argument("--setting", action="append", default=[])
    parser.add_argument(
        "--start",
        type=Path,
        help="greedy results of the policy both rounds start from, on the same problems",
    )
    args = parser.parse_args()
    rows = [AblationRow.parse(text) for text in args.row]
    if not rows:
        raise SystemExit("give at least one --row")
    start = load_results(args.start) if args.start is not None else None
    measured = [seed_rows(out, rows, start) for out in args.outs]
    by_seed = [found for out, (_, found) in zip(args.outs, measured, strict=True) if out.is_dir()]
    lines = [
        "# SVPO ablations against the SFT round from the same MCTS trees",
        "",
        "Generated by `make -C examples/alphamath svpo-ablations` (svpo_ablation.py); do not "
        "edit by hand.",
        "",
        "Settings:",
        *[f"- {s}" for s in args.setting],
        "",
        "Rows (train-policy options):",
        *[f"- {row.name}: {row.label} (`{row.options}`)" for row in rows],
        "",
        "## Summary",
        "",
        "Pairs and their shares by the exact checker (precision = chosen step right and "
        "rejected wrong): means over seeds. Differences: row minus SFT round on the same "
        "problems, mean over seeds (SD over seeds).",
        "",
        *summary_table(rows, by_seed, with_start=start is not None),
        "",
        *start_lines(start),
        *best_row_lines(rows, by_seed),
        "",
        "## Per seed",
        "",
    ]
    for out, (sft_accuracy, found) in zip(args.outs, measured, strict=True):
        lines += seed_section(out, rows, sft_accuracy, found)
    args.results.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
