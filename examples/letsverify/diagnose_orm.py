"""Why an ORM's best-of-N falls below a random sample (issue #25): a Markdown section.

Run by ``make -C examples/letsverify diagnose``. Every input is the same test samples (exact
labels) scored by one verifier; this script only measures them:

- the verifier's ranking of one problem's samples (within-problem AUROC) and best-of-N;
- what its score follows within a problem: the solution's length (tokens the policy
  generated) and its answer's frequency among the problem's samples (the share of samples
  with the same final answer: what majority vote counts), as the mean over problems of the
  Spearman correlation, next to how well length or frequency alone rank the samples;
- its top-1 of all N samples per problem: how often it is right against the score it got
  (calibration), how long it is and how common its answer is, against a random sample's;
- the highest-scored wrong samples, written out;
- each model's validation-loss curve (``trainer_state.json`` of its last checkpoint) and the
  step the trainer kept.

    python diagnose_orm.py runs/letsverify --verifier "ORM:samples256.orm.jsonl:orm:orm" \\
        --results runs/letsverify/diagnosis.md --json runs/letsverify/diagnosis.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from mathverify.eval.curves import Candidate, best_of_n_curve
from mathverify.eval.labels import auroc
from mathverify.records import Solution, read_records
from mathverify.step_scores import aggregate

HOW = {"prm": "min", "orm": "last"}


def ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their ranks), 0-based."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    _, first, counts = np.unique(sorted_values, return_index=True, return_counts=True)
    mean_rank = first + (counts - 1) / 2.0
    out = np.empty(len(values))
    out[order] = np.repeat(mean_rank, counts)
    return out


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rank correlation; None when either side is constant."""
    rx, ry = ranks(np.asarray(x, float)), ranks(np.asarray(y, float))
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def mean_of(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.fmean(present) if present else None


def length(s: Solution) -> int:
    return s.n_tokens or len("".join(s.steps))


def analyse(solutions: list[Solution], how: str, seed: int, examples: int) -> dict[str, Any]:
    by_problem: dict[str, list[Solution]] = defaultdict(list)
    for s in solutions:
        by_problem[s.problem_id].append(s)
    within, with_length, with_freq = [], [], []
    length_auroc, freq_auroc = [], []
    top: list[dict[str, Any]] = []
    unscored = sum(1 for s in solutions if aggregate(s.step_scores or [], how) == -math.inf)
    for pid, group in by_problem.items():
        group.sort(key=lambda s: s.sample_id)
        scores = [aggregate(s.step_scores or [], how) for s in group]
        right = [bool(s.outcome) for s in group]
        lengths = [float(length(s)) for s in group]
        counts = Counter(s.answer for s in group)
        freq = [counts[s.answer] / len(group) if s.answer is not None else 0.0 for s in group]
        within.append(auroc(scores, right))
        length_auroc.append(auroc([-x for x in lengths], right))
        freq_auroc.append(auroc(freq, right))
        with_length.append(spearman(scores, lengths))
        with_freq.append(spearman(scores, freq))
        best = max(range(len(group)), key=lambda i: (scores[i], -i))
        top.append(
            {
                "problem_id": pid,
                "score": scores[best],
                "right": right[best],
                "length_ratio": lengths[best] / statistics.median(lengths),
                "answer_share": freq[best],
                "mean_answer_share": statistics.fmean(freq),
                "accuracy": statistics.fmean(right),
                "solution": group[best],
            }
        )
    candidates = {
        pid: [Candidate(s.answer, bool(s.outcome), aggregate(s.step_scores or [], how)) for s in g]
        for pid, g in by_problem.items()
    }
    # Exact over all N-subsets: ``seed`` no longer shapes it (kept for callers).
    curve = best_of_n_curve(candidates)
    # Calibration of the top-1 picks: bins of their score against how often they are right.
    edges = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0 + 1e-9]
    bins = []
    for lo, hi in zip(edges, edges[1:], strict=False):
        inside = [t for t in top if lo <= t["score"] < hi]
        if inside:
            bins.append(
                {
                    "bin": f"{lo:.1f}-{min(hi, 1.0):.1f}",
                    "n": len(inside),
                    "mean_score": statistics.fmean(t["score"] for t in inside),
                    "right": statistics.fmean(t["right"] for t in inside),
                }
            )
    wrong_top = sorted((t for t in top if not t["right"]), key=lambda t: -t["score"])
    return {
        "n_solutions": len(solutions),
        "n_problems": len(by_problem),
        "unscored": unscored,
        "pooled_auroc": auroc(
            [aggregate(s.step_scores or [], how) for s in solutions],
            [bool(s.outcome) for s in solutions],
        ),
        "within_auroc": mean_of(within),
        "spearman_length": mean_of(with_length),
        "spearman_answer_share": mean_of(with_freq),
        "shorter_is_right_auroc": mean_of(length_auroc),
        "answer_share_auroc": mean_of(freq_auroc),
        "best_of_n": {p.n: p.best_of_n for p in curve},
        "majority": {p.n: p.majority for p in curve},
        "top1": {
            "right": statistics.fmean(t["right"] for t in top),
            "mean_score": statistics.fmean(t["score"] for t in top),
            "median_length_ratio": statistics.median(t["length_ratio"] for t in top),
            "median_answer_share": statistics.median(t["answer_share"] for t in top),
            "mean_answer_share_of_a_sample": statistics.fmean(t["mean_answer_share"] for t in top),
            "sample_accuracy": statistics.fmean(t["accuracy"] for t in top),
            "calibration": bins,
        },
        "wrong_top": [
            {
                "problem_id": t["problem_id"],
                "score": t["score"],
                "answer": t["solution"].answer,
                "answer_share": t["answer_share"],
                "length_ratio": t["length_ratio"],
                "problem_accuracy": t["accuracy"],
                "steps": t["solution"].steps,
                "first_wrong_step": t["solution"].first_wrong_step,
            }
            for t in wrong_top[:examples]
        ],
    }


def validation_curve(model: Path) -> dict[str, Any] | None:
    """Eval losses by step from the last checkpoint's trainer state, and the kept step."""
    states = sorted(model.glob("checkpoint-*/trainer_state.json"), key=lambda p: p.stat().st_mtime)
    if not states:
        return None
    state = json.loads(states[-1].read_text())
    losses = [(h["step"], h["eval_loss"]) for h in state["log_history"] if "eval_loss" in h]
    best = state.get("best_model_checkpoint") or ""
    return {
        "eval_loss": losses,
        "kept_step": int(best.rsplit("-", 1)[-1]) if best else None,
        "last_step": state.get("global_step"),
    }


def fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def markdown(
    results: dict[str, dict[str, Any]], curves: dict[str, Any], ns: list[int], note: str = ""
) -> list[str]:
    names = list(results)
    first = results[names[0]]
    lines = [
        "## 4. The outcome reward model: why the old one fell below a random sample (issue #25)",
        "",
        f"The same test samples ({first['n_solutions']} solutions of "
        f"{first['n_problems']} problems, exact labels) scored by each verifier below. "
        "Spearman: the mean over problems of the rank correlation, among one problem's "
        "samples, between the score and the solution's length (policy tokens) or its "
        "answer's share of the problem's samples. "
        + (f"{first['unscored']} samples got no score (too long). " if first["unscored"] else "")
        + (note + " " if note else "")
        + "Generated by `make -C examples/letsverify diagnose` (diagnose_orm.py).",
        "",
        "| verifier | within-problem AUROC | pooled AUROC | "
        + " | ".join(f"best-of-{n}" for n in ns)
        + " | score vs length (Spearman) | score vs answer share (Spearman) |",
        "|---|---|---|" + "---|" * len(ns) + "---|---|",
    ]
    for name in names:
        r = results[name]
        lines.append(
            f"| {name} | {fmt(r['within_auroc'])} | {fmt(r['pooled_auroc'])} | "
            + " | ".join(pct(r["best_of_n"].get(n)) for n in ns)
            + f" | {fmt(r['spearman_length'], 2)} | {fmt(r['spearman_answer_share'], 2)} |"
        )
    lines += [
        "",
        f"Without any verifier: shorter-is-right ranks a problem's samples at "
        f"{fmt(first['shorter_is_right_auroc'])} (within-problem AUROC of minus the length), "
        f"the answer's share among the problem's samples at {fmt(first['answer_share_auroc'])}; "
        + "majority vote: "
        + ", ".join(f"{pct(first['majority'].get(n))} at N = {n}" for n in ns)
        + ".",
        "",
        "Top-1 of all samples per problem (N = all): how often it is right, the score it got, "
        "its length against the median sample of its problem, and the share of the problem's "
        "samples with its answer (a random sample's answer has the share in the last column).",
        "",
        "| verifier | top-1 right | its mean score | median length / problem median | "
        "median answer share of top-1 | mean answer share of a sample |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        t = results[name]["top1"]
        lines.append(
            f"| {name} | {pct(t['right'])} | {fmt(t['mean_score'])} | "
            f"{fmt(t['median_length_ratio'], 2)} | {fmt(t['median_answer_share'], 3)} | "
            f"{fmt(t['mean_answer_share_of_a_sample'], 3)} |"
        )
    lines += [
        "",
        "Calibration of the top-1 picks (problems binned by the top-1's score):",
        "",
        "| verifier | score bin: problems, mean score, % right |",
        "|---|---|",
    ]
    for name in names:
        bins = results[name]["top1"]["calibration"]
        text = "; ".join(
            f"{b['bin']}: {b['n']}, {fmt(b['mean_score'], 2)}, {pct(b['right'])}" for b in bins
        )
        lines.append(f"| {name} | {text} |")
    for name in names:
        wrong = results[name]["wrong_top"]
        if not wrong:
            continue
        lines += ["", f"Highest-scored wrong top-1 picks of {name}:", ""]
        for w in wrong:
            steps = " | ".join(w["steps"])
            lines.append(
                f"- {w['problem_id']} (score {fmt(w['score'])}, answer {w['answer']!r} given by "
                f"{pct(w['answer_share'])}% of the samples, {fmt(w['length_ratio'], 2)}x the "
                f"median length, {pct(w['problem_accuracy'])}% of samples right, first wrong "
                f"step {w['first_wrong_step']}): `{steps}`"
            )
    if curves:
        last = max(c["last_step"] or 0 for c in curves.values())
        marks = [m for m in (50, 100, 200, 300, 400, 500, 1000, 2000) if m <= last]
        lines += [
            "",
            "Validation loss (the trainer's held-out 10% of the training problems, every 50 "
            "steps) and the checkpoint kept (lowest):",
            "",
            "| model | kept step / last step | validation loss at steps "
            + ", ".join(str(m) for m in marks)
            + ", kept |",
            "|---|---|---|",
        ]
        for name, c in curves.items():
            losses = dict(c["eval_loss"])
            shown = ", ".join(f"{fmt(losses.get(m), 4)}" for m in marks)
            kept = losses.get(c["kept_step"])
            lines.append(
                f"| {name} | {c['kept_step']} / {c['last_step']} | {shown}, {fmt(kept, 4)} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder the Makefile wrote (runs/letsverify)")
    parser.add_argument(
        "--verifier",
        action="append",
        default=[],
        help="NAME:FILE:prm|orm[:MODEL_DIR], FILE and MODEL_DIR relative to OUT",
    )
    parser.add_argument("--ns", default="1,4,16,64,256", help="N of the best-of-N columns")
    parser.add_argument("--examples", type=int, default=3, help="wrong top-1 picks to write out")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="unused: the best-of-N curve is exact over all N-subsets (accepted for the "
        "Makefile's call)",
    )
    parser.add_argument("--note", default="", help="a sentence on the run, after the intro")
    parser.add_argument("--results", type=Path, required=True, help="Markdown fragment to write")
    parser.add_argument("--json", type=Path, help="also write every number here")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    curves: dict[str, Any] = {}
    for text in args.verifier:
        name, file, kind, *model = text.split(":")
        solutions = list(read_records(str(args.out / file), Solution))
        results[name] = analyse(solutions, HOW[kind], args.seed, args.examples)
        if model:
            curve = validation_curve(args.out / model[0])
            if curve is not None:
                curves[name] = curve
    ns = [int(n) for n in args.ns.split(",")]
    lines = markdown(results, curves, ns, args.note)
    args.results.write_text("\n".join(lines) + "\n")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "curves": curves}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
