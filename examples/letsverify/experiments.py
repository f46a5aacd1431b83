"""Issue #10's "Let's Verify" experiments on the synthetic task: helpers and the report.

Run by experiments.mk beside it; the `mathverify` CLI does the training, labeling, selection
and scoring. This script only

- ``slice``: keeps the solutions of problems [start, stop) of a file, in file order (active
  learning seeds and pools, the supervisor's training set);
- ``novel``: keeps the problems whose expression is in none of the given problem files,
  renaming their ids (the out-of-distribution test set);
- ``threshold``: picks the supervisor's hard-label threshold on its own training solutions
  (the one that puts the most first wrong steps where the exact labels put them);
- ``report``: measures the scored files against the exact labels with report.py's
  functions and writes EXPERIMENTS.md, active.png, supervisor.png, ood.png.

It is not a trainer and computes no verifier scores itself.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

from mathverify.records import Solution, iter_json_lines, read_records

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

THRESHOLDS = [round(0.01 * i, 2) for i in range(1, 100)]


# ---------------------------------------------------------------------------------------
# Pure functions (tests/test_letsverify_experiments.py)
def first_wrong_by_label(labels: Sequence[float | None]) -> int | None:
    """Index of the first step labeled wrong (below 0.5), or None."""
    return next((i for i, v in enumerate(labels) if v is not None and v < 0.5), None)


def first_wrong_by_threshold(scores: Sequence[float | None], threshold: float) -> int | None:
    """Index of the first step a supervisor with this threshold labels wrong, or None."""
    return next((i for i, v in enumerate(scores) if v is not None and v < threshold), None)


def first_wrong_agreement(
    pairs: Sequence[tuple[Sequence[float | None], Sequence[float | None]]], threshold: float
) -> float:
    """Share of solutions (step scores, exact labels) whose first wrong step the threshold gets.

    With hard labels cut after the first wrong step (how our PRMs train), a solution's
    training labels are its first wrong step and nothing else, so this is the share of
    solutions a supervisor with ``threshold`` labels exactly as the checker would.
    """
    if not pairs:
        raise ValueError("no solutions to choose a threshold on")
    hits = sum(
        first_wrong_by_threshold(scores, threshold) == first_wrong_by_label(labels)
        for scores, labels in pairs
    )
    return hits / len(pairs)


def best_threshold(
    pairs: Sequence[tuple[Sequence[float | None], Sequence[float | None]]],
    candidates: Sequence[float] = THRESHOLDS,
) -> tuple[float, float]:
    """The candidate threshold with the highest first-wrong agreement (lowest on ties)."""
    best = max(candidates, key=lambda t: (first_wrong_agreement(pairs, t), -t))
    return best, first_wrong_agreement(pairs, best)


def budget_to_match(curve: Sequence[tuple[float, float]], quality: float) -> float | None:
    """Labels a strategy needs to reach ``quality``, read off its (labels, quality) curve.

    Linear interpolation in log(labels) between the first two neighbouring points that
    bracket ``quality`` (the curve sorted by labels); None when the curve never reaches it.
    A quality at or below the curve's first point gives that point's labels (no
    extrapolation below the smallest budget measured).
    """
    points = sorted(curve)
    if not points:
        raise ValueError("empty curve")
    if quality <= points[0][1]:
        return points[0][0]
    for (x0, y0), (x1, y1) in pairwise(points):
        if y0 < quality <= y1:
            share = (quality - y0) / (y1 - y0)
            return math.exp(math.log(x0) + share * (math.log(x1) - math.log(x0)))
    return None


def efficiency_factor(
    reference: Sequence[tuple[float, float]], labels: float, quality: float
) -> float | None:
    """How many times more labels the reference strategy needs for ``quality`` than ``labels``.

    None when the reference curve never reaches ``quality`` within its measured budgets.
    """
    needed = budget_to_match(reference, quality)
    return None if needed is None else needed / labels


# ---------------------------------------------------------------------------------------
# Data helpers
def problem_order(path: Path) -> list[str]:
    """The problem ids of a solutions file, in the order they first appear."""
    ids: dict[str, None] = {}
    for _, row in iter_json_lines(path):
        ids.setdefault(row["problem_id"], None)
    return list(ids)


def cmd_slice(args: argparse.Namespace) -> None:
    order = problem_order(args.input)
    stop = len(order) if args.stop is None else args.stop
    if not 0 <= args.start < stop <= len(order):
        raise SystemExit(
            f"{args.input}: cannot take problems [{args.start}, {stop}) of {len(order)}"
        )
    keep = set(order[args.start : stop])
    with open(args.input, encoding="utf-8") as src, open(args.output, "w", encoding="utf-8") as dst:
        dst.writelines(
            line for line in src if line.strip() and json.loads(line)["problem_id"] in keep
        )


def expression(row: dict) -> str:
    meta = row.get("meta") or {}
    if "expression" not in meta:
        raise SystemExit(f"problem {row.get('id')!r} has no meta.expression (not synthetic?)")
    return meta["expression"]


def cmd_novel(args: argparse.Namespace) -> None:
    seen = {expression(row) for path in args.exclude for _, row in iter_json_lines(path)}
    kept = 0
    with open(args.output, "w", encoding="utf-8") as dst:
        for _, row in iter_json_lines(args.input):
            if expression(row) in seen:
                continue
            seen.add(expression(row))
            row["id"] = f"{args.prefix}{kept:06d}"
            dst.write(json.dumps(row) + "\n")
            kept += 1
            if kept == args.limit:
                break
    if kept < args.limit:
        raise SystemExit(f"{args.input}: only {kept} novel problems, wanted {args.limit}")


def cmd_threshold(args: argparse.Namespace) -> None:
    pairs = []
    for s in read_records(str(args.input), Solution):
        if s.step_scores is None or s.step_labels is None:
            raise SystemExit(f"{args.input}: solution {s.key()} lacks step_scores or step_labels")
        pairs.append((s.step_scores, s.step_labels))
    threshold, agreement = best_threshold(pairs)
    print(
        f"threshold {threshold} puts {100 * agreement:.1f}% of first wrong steps", file=sys.stderr
    )
    print(threshold)


# ---------------------------------------------------------------------------------------
# The report
PAPER = "Lightman et al. 2023"
N = 16  # best-of-N on the demo's test samples (16 per problem)


def count_lines(path: Path) -> int:
    with open(path, encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def measure(path: Path, kind: str) -> dict[str, float | None]:
    """Quality of one scored, exact-labeled file (report.py's measures)."""
    import report

    solutions = report.load(path)
    q = report.quality(solutions, kind)
    how = "min" if kind == "prm" else "last"
    point = report.curve(solutions, how, [N])[0]
    return {
        "solutions": len(solutions),
        "problems": len({s.problem_id for s in solutions}),
        "accuracy": sum(bool(s.outcome) for s in solutions) / len(solutions),
        "step_auroc_until_first_wrong": q.step_auroc_until_first_wrong,
        "solution_auroc": q.solution_auroc[how],
        "within_problem_auroc": q.within_problem_auroc[how],
        "best_of_n": point.best_of_n,
        "majority": point.majority,
        "pass_at_n": point.pass_at_n,
    }


def new_figure(columns: int):  # noqa: ANN201 (matplotlib types)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.2 * columns, 4.2))
    FigureCanvasAgg(figure)
    return figure, [figure.add_subplot(1, columns, i + 1) for i in range(columns)]


METRICS = {
    "best_of_n": f"best-of-{N} (% solved)",
    "step_auroc_until_first_wrong": "step AUROC (to first wrong)",
    "within_problem_auroc": "solution AUROC within problem",
}


def value(metric: str, v: float | None) -> str:
    import report

    return report.pct(v) if metric == "best_of_n" else report.cell(v)


def active_section(args: argparse.Namespace, xout: Path, out: dict) -> list[str]:
    """One active learning run: XOUT/DIR/ as experiments.mk lays it out."""
    ks = args.active_k.split()
    seed_file = xout / "seed.jsonl"
    n_seed = count_lines(seed_file)
    seed_problems = set(problem_order(seed_file))
    n_all = count_lines(xout / "all.jsonl")
    seed_q = measure(xout / "test.seed.jsonl", "prm")
    all_q = measure(xout / "test.all.jsonl", "prm")
    curves: dict[str, list[tuple[int, dict]]] = {}
    picks: dict[str, dict[str, float]] = {}
    for strategy in ("convincing-wrong", "uniform"):
        points = [(n_seed, seed_q)]
        for k in ks:
            train = xout / f"{strategy}-k{k}.jsonl"
            picked = [
                s for s in read_records(str(train), Solution) if s.problem_id not in seed_problems
            ]
            picks[f"{strategy}-k{k}"] = {
                "picked": len(picked),
                "wrong_share": sum(not s.outcome for s in picked) / len(picked),
            }
            points.append(
                (
                    count_lines(train),
                    measure(xout / f"test.{strategy}-k{k}.jsonl", "prm"),
                )
            )
        points.append((n_all, all_q))
        curves[strategy] = points
    pool = list(read_records(str(xout / "pool.jsonl"), Solution))
    pool_wrong = sum(not s.outcome for s in pool) / len(pool)
    per_problem = round(len(pool) / len({s.problem_id for s in pool}))
    factors: dict[str, dict[str, float | None]] = {}
    for metric in METRICS:
        reference = [(x, q[metric]) for x, q in curves["uniform"]]
        factors[metric] = {
            f"k{k}": efficiency_factor(reference, x, q[metric])
            for k, (x, q) in zip(ks, curves["convincing-wrong"][1:-1], strict=True)
        }
    out.setdefault("active", {})[xout.name] = {
        "curves": curves,
        "picks": picks,
        "factors": factors,
        "pool_wrong": pool_wrong,
        "per_problem": per_problem,
        "n_seed": n_seed,
    }

    figure, axes = new_figure(2)
    for ax, metric in zip(axes, ("best_of_n", "step_auroc_until_first_wrong"), strict=True):
        scale = 100 if metric == "best_of_n" else 1
        for strategy, marker in (("convincing-wrong", "o"), ("uniform", "s")):
            xs = [x for x, _ in curves[strategy]]
            ax.plot(
                xs, [scale * q[metric] for _, q in curves[strategy]], marker=marker, label=strategy
            )
        if metric == "best_of_n":
            ax.axhline(
                100 * seed_q["majority"], color="grey", linestyle="--", label=f"majority@{N}"
            )
        ax.set_xscale("log")
        ax.set_xlabel("labeled training solutions (seed + picks)")
        ax.set_ylabel(METRICS[metric])
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    figure.suptitle(
        f"Active learning, seed {n_seed} labeled solutions: PRMs on convincing-wrong vs "
        "uniform picks"
    )
    figure.tight_layout()
    png = "active.png" if xout.name == "active" else f"{xout.name}.png"
    figure.savefig(args.png_dir / png, dpi=110)

    lines = [
        f"### Seed of {len(seed_problems)} problems ({xout.name})",
        "",
        f"A seed PRM ({seed_note(xout, n_seed, len(seed_problems))}) scores the pool: "
        f"{len({s.problem_id for s in pool})} other verifier training problems' solutions ({len(pool)}, {per_problem} per problem, "
        f"{100 * pool_wrong:.0f}% with a wrong answer). Per pool problem, K solutions are "
        "picked: `select --strategy convincing-wrong` (the wrong-answer ones the seed PRM scores "
        f"highest, random share {args.random_share}) or `--strategy uniform`. A PRM (the demo "
        f"PRM's settings) trains on seed + picks with exact labels. K = {per_problem} picks the "
        "whole pool "
        f"under both strategies ({n_all} solutions{all_note(xout)}). Judged on the "
        f"demo's {seed_q['problems']} test problems x {N} samples.",
        "",
        f"![active learning]({png})",
        "",
        "| strategy | K per pool problem | labeled solutions | wrong-answer share of picks | "
        + " | ".join(METRICS.values())
        + " |",
        "|---|---|---|---|" + "---|" * len(METRICS),
    ]
    for strategy, points in curves.items():
        for label, (x, q) in zip(["0 (seed)", *ks, f"{per_problem} (all)"], points, strict=True):
            share = picks.get(f"{strategy}-k{label}", {}).get("wrong_share")
            cells = [value(m, q[m]) for m in METRICS]
            lines.append(
                f"| {strategy} | {label} | {x} | {'' if share is None else f'{100 * share:.0f}%'} | "
                + " | ".join(cells)
                + " |"
            )
    lines += [
        "",
        "Data-efficiency factor: for each convincing-wrong PRM, the labeled solutions the "
        "uniform curve needs to reach the same quality (linear interpolation in log(labels) "
        "between the two uniform points that bracket it; `budget_to_match` in experiments.py), "
        "divided by the convincing-wrong PRM's labeled solutions. Above 1: convincing-wrong "
        "picks are worth more labels; 'not reached': uniform stays below it up to the whole "
        "pool; a value of seed/labels (< 1) means uniform's seed point already matches it.",
        "",
        "| measure | " + " | ".join(f"K = {k}" for k in ks) + " |",
        "|---|" + "---|" * len(ks),
    ]
    for metric, row in factors.items():
        lines.append(
            f"| {METRICS[metric]} | "
            + " | ".join("not reached" if v is None else f"{v:.2f}x" for v in row.values())
            + " |"
        )
    return lines


def seed_note(xout: Path, n_seed: int, n_problems: int) -> str:
    linked = (xout / "seed").is_symlink()
    where = "the main run's budget PRM: " if linked else ""
    return f"{where}exact labels on all {n_seed} solutions of the first {n_problems} problems"


def all_note(xout: Path) -> str:
    return ": the demo PRM" if (xout / "test.all.jsonl").is_symlink() else ""


def bars(ax, groups: list[str], series: dict[str, list[float]], ylabel: str) -> None:  # noqa: ANN001
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(xs, values, width, label=name)
    ax.set_xticks(range(len(groups)), groups, fontsize="small")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize="small")


def supervisor_section(args: argparse.Namespace, out: dict) -> list[str]:
    xout = args.xout / "supervisor"
    threshold = float((xout / "threshold.txt").read_text())
    pool = [
        (s.step_scores, s.step_labels)
        for s in read_records(str(xout / "pool.large.jsonl"), Solution)
    ]
    exact = {s.key(): s for s in read_records(str(args.out / "budget" / "exact.jsonl"), Solution)}
    given = list(read_records(str(xout / "labels.jsonl"), Solution))
    early = late = same = 0
    for solution in given:
        by_supervisor = first_wrong_by_label(solution.step_labels)
        by_checker = first_wrong_by_label(exact[solution.key()].step_labels)
        if by_supervisor == by_checker:
            same += 1
        elif by_supervisor is not None and (by_checker is None or by_supervisor < by_checker):
            early += 1
        else:
            late += 1
    same_first = same / len(given)
    rows = {
        "PRM_large (supervisor: exact labels, pool)": (xout / "test.large.jsonl", "prm"),
        "PRM, exact labels": (args.out / "budget" / "test.prm-exact.jsonl", "prm"),
        "PRM, supervisor labels": (xout / "test.prm.jsonl", "prm"),
        "ORM, outcomes": (args.out / "budget" / "test.orm.jsonl", "orm"),
    }
    qualities = {name: measure(path, kind) for name, (path, kind) in rows.items()}
    n_large = count_lines(args.xout / "active" / "pool.jsonl")
    n_budget = len(given)
    out["supervisor"] = {
        "threshold": threshold,
        "label_ratio": n_large // n_budget,
        "pool_first_wrong_agreement": first_wrong_agreement(pool, threshold),
        "budget_first_wrong_agreement": same_first,
        "budget_too_early": early / len(given),
        "budget_too_late": late / len(given),
        "quality": qualities,
    }
    majority = next(iter(qualities.values()))["majority"]

    figure, axes = new_figure(2)
    names = [n.split(" (")[0].replace(", ", "\n") for n in qualities]
    bars(
        axes[0],
        names,
        {f"best-of-{N}": [100 * q["best_of_n"] for q in qualities.values()]},
        f"% of test problems solved (best of {N})",
    )
    axes[0].axhline(100 * majority, color="grey", linestyle="--", label=f"majority@{N}")
    axes[0].set_ylim(0, 115 * max(majority, *(q["best_of_n"] for q in qualities.values())))
    axes[0].legend(fontsize="small", loc="lower right")
    bars(
        axes[1],
        names,
        {
            "step AUROC (to first wrong)": [
                q["step_auroc_until_first_wrong"] or 0.0 for q in qualities.values()
            ],
            "solution AUROC within problem": [
                q["within_problem_auroc"] or 0.0 for q in qualities.values()
            ],
        },
        "AUROC (0.5 = chance; ORM has no step AUROC)",
    )
    axes[1].set_ylim(0.4, 1.0)
    figure.suptitle(f"Supervision by PRM_large: {n_budget} labeled training solutions")
    figure.tight_layout()
    figure.savefig(args.png_dir / "supervisor.png", dpi=110)

    lines = [
        "## 2. A large PRM as the supervisor of small verifiers",
        "",
        f"PRM_large: the demo PRM's recipe trained on the pool's {n_large} solutions with exact "
        f"labels ({n_large // n_budget}x the budget set's labels; the same size of model as the "
        "small ones: ours is large in labels, not in parameters). It labels the budget set (the "
        f"{n_budget} solutions of the first {args.budget_problems} verifier training problems, "
        "which it never saw) with `label --method supervisor --hard`: a step is right when its "
        f"score is at least {threshold}, the threshold that on PRM_large's own training solutions "
        f"put the most first wrong steps where the exact labels put them "
        f"({100 * out['supervisor']['pool_first_wrong_agreement']:.1f}% of them; "
        "`experiments.py threshold`). On the budget set its labels give the same first wrong step "
        f"as the exact checker for {100 * same_first:.1f}% of the solutions; it flags an error "
        f"too early (or where there is none) in {100 * early / len(given):.1f}% and too late "
        f"(or misses it) in {100 * late / len(given):.1f}%. A PRM "
        "trained on those labels is compared with the main run's PRM on exact labels and ORM on "
        f"outcomes of the same solutions, on the demo's test samples (majority@{N}: "
        f"{report_pct(majority)}).",
        "",
        "![supervisor](supervisor.png)",
        "",
        "| verifier | " + " | ".join(METRICS.values()) + " | solution AUROC (pooled) |",
        "|---|" + "---|" * (len(METRICS) + 1),
    ]
    for name, q in qualities.items():
        cells = [
            value(m, q[m])
            if rows[name][1] == "prm" or m != "step_auroc_until_first_wrong"
            else "n/a"
            for m in METRICS
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {value('x', q['solution_auroc'])} |")
    return lines


def report_pct(v: float | None) -> str:
    return value("best_of_n", v)


def standard_error(share: float, n: int) -> float:
    """Binomial standard error of a share of ``n`` problems, in points (for +- in the text)."""
    return 100 * math.sqrt(share * (1 - share) / n)


def with_error(q: dict, key: str = "best_of_n") -> str:
    return f"{report_pct(q[key])} +- {standard_error(q[key], q['problems']):.1f}"


def ood_section(args: argparse.Namespace, out: dict) -> list[str]:
    xout = args.xout / "ood"
    sets = {
        "short (test, 3-4 operations)": {
            "PRM": (args.demo / "samples.prm.jsonl", "prm"),
            "ORM": (xout / "short.orm.jsonl", "orm"),
        },
        f"long ({args.ood_ops} operations)": {
            "PRM": (xout / "long.prm.jsonl", "prm"),
            "ORM": (xout / "long.orm.jsonl", "orm"),
        },
    }
    qualities = {
        name: {v: measure(path, kind) for v, (path, kind) in files.items()}
        for name, files in sets.items()
    }
    out["ood"] = qualities

    figure, axes = new_figure(2)
    groups = ["short\n(3-4 operations)", f"long\n({args.ood_ops} operations)"]
    bars(
        axes[0],
        groups,
        {
            "one sample (policy accuracy)": [
                100 * q["PRM"]["accuracy"] for q in qualities.values()
            ],
            f"majority@{N}": [100 * q["PRM"]["majority"] for q in qualities.values()],
            f"PRM best-of-{N}": [100 * q["PRM"]["best_of_n"] for q in qualities.values()],
            f"ORM best-of-{N}": [100 * q["ORM"]["best_of_n"] for q in qualities.values()],
            f"pass@{N}": [100 * q["PRM"]["pass_at_n"] for q in qualities.values()],
        },
        "% of problems solved",
    )
    bars(
        axes[1],
        groups,
        {
            "PRM step AUROC (to first wrong)": [
                q["PRM"]["step_auroc_until_first_wrong"] or 0.0 for q in qualities.values()
            ],
            "PRM within problem": [
                q["PRM"]["within_problem_auroc"] or 0.0 for q in qualities.values()
            ],
            "ORM within problem": [
                q["ORM"]["within_problem_auroc"] or 0.0 for q in qualities.values()
            ],
        },
        "AUROC (0.5 = chance)",
    )
    axes[1].set_ylim(0.4, 1.0)
    figure.suptitle("Out of distribution: verifiers trained on 3-4 operations, tested on longer")
    figure.tight_layout()
    figure.savefig(args.png_dir / "ood.png", dpi=110)

    lines = [
        "## 3. Out of distribution: longer expressions",
        "",
        f"The policy and both verifiers (the demo PRM; the main run's ORM, same training "
        f"solutions, outcomes) trained on expressions of 3-4 operations. Long: "
        f"{qualities[list(sets)[1]]['PRM']['problems']} new problems of "
        f"exactly {args.ood_ops} operations (`data synth`, seed of its own, none in the demo's "
        f"train or test files), {N} policy samples each, exact labels. Short: the demo's test "
        "samples.",
        "",
        "![out of distribution](ood.png)",
        "",
        f"| problems | problems (samples) | policy accuracy | pass@{N} | majority@{N} | "
        f"PRM best-of-{N} | ORM best-of-{N} | PRM step AUROC (to first wrong) | "
        "PRM solution AUROC within problem | ORM solution AUROC within problem |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, q in qualities.items():
        p, o = q["PRM"], q["ORM"]
        lines.append(
            f"| {name} | {p['problems']} ({p['solutions']}) | {report_pct(p['accuracy'])} | "
            f"{report_pct(p['pass_at_n'])} | {report_pct(p['majority'])} | "
            f"{report_pct(p['best_of_n'])} | {report_pct(o['best_of_n'])} | "
            f"{value('x', p['step_auroc_until_first_wrong'])} | "
            f"{value('x', p['within_problem_auroc'])} | {value('x', o['within_problem_auroc'])} |"
        )
    return lines


def holds(flag: bool) -> str:
    return "yes" if flag else "**no**"


def beats(a: float, b: float, n: int) -> str:
    """Whether share ``a`` beats ``b`` (of ``n`` problems), and whether by more than noise.

    Noise: two standard errors of the difference, taking the two as independent (the
    samples are shared, so this errs towards 'within noise').
    """
    if a <= b:
        return "**no**"
    noise = 2 * math.hypot(standard_error(a, n), standard_error(b, n))
    return "yes" if 100 * (a - b) > noise else "yes, within noise"


def paper_table(args: argparse.Namespace, out: dict) -> list[str]:
    """The paper's three findings next to ours, with why ours differ where they do."""
    sup, ood = out["supervisor"]["quality"], out["ood"]

    def factor(v: float | None) -> str:
        return "not reached" if v is None else f"{v:.2f}x"

    ours, verdicts, why = [], [], []
    for run in out["active"].values():
        auc = run["factors"]["step_auroc_until_first_wrong"]
        bon = run["factors"]["best_of_n"]
        ours.append(
            f"seed {run['n_seed']}: step AUROC "
            + ", ".join(f"K = {k[1:]} {factor(v)}" for k, v in auc.items())
            + f"; best-of-{N} "
            + ", ".join(f"K = {k[1:]} {factor(v)}" for k, v in bon.items())
        )
        verdicts.append(
            f"seed {run['n_seed']}: " + holds(any(v is not None and v > 1.0 for v in auc.values()))
        )
        last_k = [k for k in run["picks"] if k.startswith("convincing-wrong-")][-1]
        uniform = [q for _, q in run["curves"]["uniform"]]
        gain = (
            uniform[-1]["step_auroc_until_first_wrong"] - uniform[0]["step_auroc_until_first_wrong"]
        )
        why.append(
            f"seed {run['n_seed']}: the whole pool adds {gain:+.3f} step AUROC over the seed "
            f"alone; at K = {last_k[len('convincing-wrong-k') :]}, "
            f"{100 * run['picks'][last_k]['wrong_share']:.0f}% of the picks have a wrong answer "
            f"(pool: {100 * run['pool_wrong']:.0f}%)"
        )
    active_row = (
        "| active learning (convincing wrong-answer picks) is more data-efficient than uniform "
        "| 2.6x, by best-of-N of PRMs against labeled solutions per problem; the selector scores "
        f"1,000 samples per problem | {'; '.join(ours)} | {'; '.join(verdicts)} (by step AUROC) "
        f"| our selector picks among {next(iter(out['active'].values()))['per_problem']} samples "
        "per problem, not 1,000, so its picks can differ from uniform's only so much; where "
        "more labels add little, no selection can show a factor; "
        + "; ".join(why)
        + f"; best-of-{N} moves by noise-sized steps here |"
    )
    prm_sup, orm = sup["PRM, supervisor labels"], sup["ORM, outcomes"]
    sup_holds = beats(prm_sup["best_of_n"], orm["best_of_n"], orm["problems"])
    sup_rank = prm_sup["within_problem_auroc"] > orm["within_problem_auroc"]
    short, long = ood[list(ood)[0]], ood[list(ood)[1]]
    rival = max(long["ORM"]["best_of_n"], long["PRM"]["majority"])
    ood_holds = beats(long["PRM"]["best_of_n"], rival, long["PRM"]["problems"])
    return [
        "## The paper's findings next to ours",
        "",
        f"Paper: {PAPER}, sections 4 (small-scale synthetic supervision, active learning) and "
        "5 (out of distribution); GPT-4-scale models on MATH.",
        "",
        "| finding | paper | ours | holds here | why ours differ |",
        "|---|---|---|---|---|",
        active_row,
        "| process supervision by PRM_large beats outcome supervision (small scale) | every "
        "data scale (Fig. 4a) "
        f"| best-of-{N}: PRM on supervisor labels {with_error(prm_sup)}, ORM "
        f"{with_error(orm)} (PRM on exact labels {with_error(sup['PRM, exact labels'])}); "
        "within-problem AUROC "
        f"{value('x', prm_sup['within_problem_auroc'])} against "
        f"{value('x', orm['within_problem_auroc'])} "
        f"| {sup_holds} (best-of-{N}), {holds(sup_rank)} (within-problem AUROC) "
        f"| one data scale; PRM_large is the small model trained on "
        f"{out['supervisor']['label_ratio']}x the labels, not a bigger "
        "model, so its labels are only as good as a PRM can be here; the ORM's outcomes are "
        "exact (the synthetic answer check), the paper's final-answer grader too |",
        "| the PRM stays ahead out of distribution | AP Calculus/Chemistry/Physics, AMC10/12 "
        "(224 problems, best-of-100): PRM 72.9, ORM 63.8, majority 61.3 "
        f"| {args.ood_ops} operations, best-of-{N}: PRM {with_error(long['PRM'])}, "
        f"ORM {with_error(long['ORM'])}, majority {with_error(long['PRM'], 'majority')} "
        f"(+- one binomial standard error over {long['PRM']['problems']} problems); in "
        f"distribution PRM {report_pct(short['PRM']['best_of_n'])}, ORM "
        f"{report_pct(short['ORM']['best_of_n'])}, majority {report_pct(short['PRM']['majority'])} "
        f"| {ood_holds} "
        "| the shift is longer expressions of the same operations, not new subjects; the "
        "policy is as out of distribution as the verifiers (its accuracy falls from "
        f"{report_pct(short['PRM']['accuracy'])}% to {report_pct(long['PRM']['accuracy'])}% a "
        "sample), so few problems have a right sample to pick; "
        + (
            "in distribution the PRM is below majority vote already"
            if short["PRM"]["best_of_n"] < short["PRM"]["majority"]
            else "in distribution the PRM is above majority vote too"
        )
        + " |",
    ]


def cmd_report(args: argparse.Namespace) -> None:
    import report

    out: dict = {}
    lines = [
        '# "Let\'s Verify Step by Step": supervision, active learning, out of distribution',
        "",
        "Generated by `make -C examples/letsverify experiments` (experiments.mk, experiments.py); "
        "do not edit by hand. Verifier quality as in RESULTS.md (report.py's measures): "
        "step AUROC over the steps up to each solution's first wrong step, solution AUROC "
        f"within problem (the ranking best-of-N uses), and best-of-{N} on the demo's test "
        "samples (% of problems whose top-scored sample is right; PRMs aggregate by min, "
        f"ORMs take the last step's score). Seed {args.seed}.",
        "",
    ]
    lines += [
        "## 1. Active learning: convincing wrong-answer picks against uniform picks",
        "",
        "At two scales: a seed PRM trained on the main run's label budget, and one trained on "
        "far fewer labels, where a PRM still gains from more of them.",
    ]
    for xout in args.active:
        lines += ["", *active_section(args, xout, out)]
    lines += ["", *supervisor_section(args, out)]
    lines += ["", *ood_section(args, out)]
    lines += ["", *paper_table(args, out)]
    for section in args.section:
        # Sections other scripts wrote (diagnose_orm.py), as they are.
        lines += ["", *section.read_text().rstrip("\n").splitlines()]
    timing = report.seconds_table(args.xout)
    if timing:
        lines += ["", "## Wall time", "", *timing]
    args.results.write_text("\n".join(lines) + "\n")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    part = sub.add_parser("slice", help="the solutions of problems [start, stop) in file order")
    part.add_argument("-i", "--input", type=Path, required=True)
    part.add_argument("--start", type=int, default=0, help="first problem kept (0-based)")
    part.add_argument("--stop", type=int, help="first problem not kept (default: to the end)")
    part.add_argument("-o", "--output", type=Path, required=True)
    part.set_defaults(run=cmd_slice)
    novel = sub.add_parser("novel", help="problems whose expression no --exclude file has")
    novel.add_argument("-i", "--input", type=Path, required=True)
    novel.add_argument("--exclude", type=Path, action="append", default=[])
    novel.add_argument("--limit", type=int, required=True, help="problems to keep")
    novel.add_argument("--prefix", required=True, help="new id prefix (ids of other files clash)")
    novel.add_argument("-o", "--output", type=Path, required=True)
    novel.set_defaults(run=cmd_novel)
    threshold = sub.add_parser("threshold", help="the supervisor's hard-label threshold")
    threshold.add_argument("-i", "--input", type=Path, required=True, help="scored, exact-labeled")
    threshold.set_defaults(run=cmd_threshold)
    rep = sub.add_parser("report", help="EXPERIMENTS.md and its PNGs")
    rep.add_argument("out", type=Path, help="the main run's folder (runs/letsverify)")
    rep.add_argument("--xout", type=Path, required=True, help="experiments.mk's folder")
    rep.add_argument("--demo", type=Path, required=True, help="the demo folder (runs/demo)")
    rep.add_argument(
        "--active", type=Path, action="append", required=True, help="an active learning folder"
    )
    rep.add_argument("--active-k", required=True, help="the K values run, space-separated")
    rep.add_argument("--random-share", type=float, default=0.0)
    rep.add_argument("--budget-problems", type=int, required=True)
    rep.add_argument("--ood-ops", type=int, required=True)
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--results", type=Path, required=True, help="Markdown file to write")
    rep.add_argument("--png-dir", type=Path, required=True, help="folder for the three PNGs")
    rep.add_argument("--json", type=Path, help="also write every number here")
    rep.add_argument(
        "--section", type=Path, action="append", default=[], help="Markdown to append as it is"
    )
    rep.set_defaults(run=cmd_report)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
