"""RESULTS.md for examples/math500: accuracy by MATH level, tokens and seconds per problem,
and published numbers for the same models beside ours.

Reads OUT/ROW.jsonl (search results, graded by `mathverify search` against the gold answer),
the problems file (for each problem's level) and anchors.json (published numbers, each with
its source). A row whose file is missing is listed as missing. Only reads and formats: every
search and every grade comes from the `mathverify` CLI.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

LEVELS = (1, 2, 3, 4, 5)


def row_label(row: str, n: int, b2: int, simulations: int) -> str:
    labels = {
        "greedy": "greedy",
        "majority": f"maj@{n}",
        "bon-min": f"best-of-{n}, PRM min",
        "bon-last": f"best-of-{n}, PRM last",
        "bon-product": f"best-of-{n}, PRM product",
        "weighted-vote": f"PRM-weighted vote@{n} (last)",
        "sbs-1": f"SBS(1,{b2})",
        "sbs-3": f"SBS(3,{b2})",
        "mcts": f"MCTS (N={simulations}, B2={b2})",
    }
    return labels.get(row, row)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def summarize(records: list[dict], levels: dict[str, int]) -> dict:
    """Accuracy (%) overall (± standard error) and by level, mean tokens and seconds."""
    right = [bool((r.get("meta") or {}).get("outcome")) for r in records]
    n = len(right)
    accuracy = 100.0 * sum(right) / n if n else float("nan")
    stderr = 100.0 * math.sqrt((accuracy / 100) * (1 - accuracy / 100) / n) if n else float("nan")
    by_level = {}
    for level in LEVELS:
        picked = [
            ok for r, ok in zip(records, right, strict=True) if levels.get(r["problem_id"]) == level
        ]
        by_level[level] = (100.0 * sum(picked) / len(picked), len(picked)) if picked else None
    return {
        "n": n,
        "accuracy": accuracy,
        "stderr": stderr,
        "by_level": by_level,
        "tokens": sum(r.get("n_generated_tokens") or 0 for r in records) / n if n else float("nan"),
        "seconds": sum(r.get("seconds") or 0.0 for r in records) / n if n else float("nan"),
    }


def matching(anchor: dict, policy: str, prm: str) -> bool:
    wants_policy, wants_scorer = anchor.get("policy"), anchor.get("scorer")
    return (wants_policy is None or wants_policy in policy.lower()) and (
        wants_scorer is None or wants_scorer in prm.lower()
    )


def render(args: argparse.Namespace) -> str:
    problems = read_jsonl(Path(args.problems))
    levels = {p["id"]: (p.get("meta") or {}).get("level") for p in problems}
    anchors = json.loads(Path(args.anchors).read_text(encoding="utf-8"))["anchors"]
    numbered = {id(a): i for i, a in enumerate(anchors, 1)}
    lines = [
        "# MATH500: search methods with a public policy and PRM",
        "",
        f"Policy `{args.policy}`, PRM `{args.prm}` (format `{args.prm_format}`). Written by "
        "`examples/math500/report.py` from the search results in "
        f"`{args.out}/` (`make -C examples/math500`).",
        "",
        "| method | accuracy | "
        + " | ".join(f"level {lv}" for lv in LEVELS)
        + " | tokens / problem | seconds / problem | published (same models) |",
        "|---|---|" + "---|" * len(LEVELS) + "---|---|---|",
    ]
    missing = []
    for row in args.rows.split():
        path = Path(args.out) / f"{row}.jsonl"
        published = [
            f"{a['value']} [{numbered[id(a)]}]"
            for a in anchors
            if a.get("row") == row
            and a.get("value") is not None
            and matching(a, args.policy, args.prm)
        ]
        label = row_label(row, args.n, args.b2, args.simulations)
        if not path.exists():
            missing.append(row)
            lines.append(
                f"| {label} | (not run) |"
                + " |" * len(LEVELS)
                + " | | "
                + ", ".join(published)
                + " |"
            )
            continue
        s = summarize(read_jsonl(path), levels)
        cells = [
            f"{s['by_level'][lv][0]:.1f} ({s['by_level'][lv][1]})" if s["by_level"][lv] else ""
            for lv in LEVELS
        ]
        lines.append(
            f"| {label} | {s['accuracy']:.1f} ± {s['stderr']:.1f} ({s['n']}) | "
            + " | ".join(cells)
            + f" | {s['tokens']:.0f} | {s['seconds']:.2f} | {', '.join(published)} |"
        )
    lines += [
        "",
        "Accuracy in percent (± standard error; problems in brackets); by level, the accuracy on "
        "the problems of that MATH level. Tokens: generated tokens per problem, all samples and "
        "expansions counted; seconds: the search's wall time per problem (each batch's time "
        "shared among its problems; the PRM's time included).",
    ]
    if missing:
        lines += ["", "Not run yet: " + ", ".join(missing) + "."]
    lines += ["", "## Settings", ""] + [f"- {s}" for s in args.setting]
    lines += [
        "",
        "## Published numbers",
        "",
        "A number shows in the table when its policy and scorer match ours; all are listed here. "
        "Check the benchmark before comparing: the full MATH test set is not MATH500. An empty "
        "value is one we could not read from the source (a plot, or a table we did not have).",
        "",
        "| # | model | benchmark | method | published | source |",
        "|---|---|---|---|---|---|",
    ]
    for a in anchors:
        method = row_label(a["row"], args.n, args.b2, args.simulations) if a.get("row") else ""
        method = f"{method} {('(' + a['note'] + ')') if a.get('note') else ''}".strip()
        value = "" if a.get("value") is None else str(a["value"])
        lines.append(
            f"| {numbered[id(a)]} | {a['model']} | {a['benchmark']} | {method} | {value} | {a['source']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the folder with ROW.jsonl search results")
    parser.add_argument("--rows", required=True, help="space-separated row names, in order")
    parser.add_argument("--problems", required=True)
    parser.add_argument("--policy", required=True)
    parser.add_argument("--prm", required=True)
    parser.add_argument("--prm-format", default="auto")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--b2", type=int, default=5)
    parser.add_argument("--simulations", type=int, default=40)
    parser.add_argument("--anchors", default=str(Path(__file__).with_name("anchors.json")))
    parser.add_argument("--setting", action="append", default=[])
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(render(args), encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
