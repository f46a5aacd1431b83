"""The table of RESULTS.md: plain vs code-step (react) policy on the same test problems.

Reads what the Makefile wrote under OUT: ``eval.first{N}.json`` (accuracies, tokens), the
react records (sandbox calls: the observations in each solution's text), and the
``generate`` logs (wall seconds: the sum of the ``generate: ... in Xs`` lines, one per
resumed segment). Prints a markdown table on stdout.

    python examples/react/results.py runs/react 1000
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from mathverify.records import Solution, read_records
from mathverify.training.policy import observation_spans

_SECONDS = re.compile(r"generate: (\d+) solutions for (\d+) problems, \d+ tokens in ([\d.]+)s")


def log_seconds(path: Path) -> float | None:
    """Total generation seconds in a log (None when it has no finished segment)."""
    if not path.exists():
        return None
    found = _SECONDS.findall(path.read_text())
    return sum(float(seconds) for _, _, seconds in found) if found else None


def sandbox_calls(path: Path) -> tuple[int, int]:
    """(observations in all solutions, problems) of a records file."""
    calls, problems = 0, set()
    for solution in read_records(str(path), Solution):
        calls += len(observation_spans(solution.text or ""))
        problems.add(solution.problem_id)
    return calls, len(problems)


def main(out: Path, n_eval: int) -> str:
    reports = {
        r["name"]: r for r in json.loads((out / f"eval.first{n_eval}.json").read_text())["reports"]
    }
    rows = [
        "| variant | greedy | sample mean | maj@16 | pass@16 | tokens/problem greedy · 16 samples "
        "| sandbox calls/problem greedy · 16 samples | seconds/problem greedy · 16 samples |",
        "|---|---|---|---|---|---|---|---|",
    ]
    timing = {
        "plain": (out / "plain" / "greedy.timing.log", out / "plain" / "samples.timing.log"),
        "react": (out / f"greedy.first{n_eval}.log", out / f"samples.first{n_eval}.log"),
    }
    for variant in ("plain", "react"):
        greedy, sampled = reports[f"{variant}-greedy"], reports[f"{variant}-sampled"]
        k = str(sampled["samples_per_problem"])
        if variant == "react":
            g_calls, g_n = sandbox_calls(out / f"greedy.first{n_eval}.jsonl")
            s_calls, s_n = sandbox_calls(out / f"samples.first{n_eval}.jsonl")
            calls = f"{g_calls / g_n:.2f} · {s_calls / s_n:.1f}"
        else:
            calls = "0 · 0"
        seconds = []
        for log in timing[variant]:
            total = log_seconds(log)
            seconds.append("n/a" if total is None else f"{total / greedy['n_problems']:.3f}")
        rows.append(
            f"| {variant} | {greedy['accuracy']:.3f} | {sampled['accuracy']:.3f} "
            f"| {sampled['maj'][k]:.3f} | {sampled['pass_at'][k]:.3f} "
            f"| {greedy['mean_tokens_per_problem']:.1f} · {sampled['mean_tokens_per_problem']:.1f} "
            f"| {calls} | {' · '.join(seconds)} |"
        )
    n = reports["react-greedy"]["n_problems"]
    rows.append(f"\n{n} test problems; maj@k and pass@k at k = 16 (samples at T 0.7).")
    return "\n".join(rows)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: results.py OUT N_EVAL")
    print(main(Path(sys.argv[1]), int(sys.argv[2])))
