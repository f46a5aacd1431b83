"""Benchmark: grading MATH500 through the GradingPool (2 workers) vs Math-Verify called directly.

The 500 pairs are (answer extracted from each reference solution, gold answer); with
``--negatives`` the 500 (same answer, next problem's gold answer) pairs are added, on which
lenient mode's rules run (they run only where Math-Verify says "not equal"). The pool is
timed in strict mode and in lenient mode (``--grading lenient``, every rule on). The
baseline calls ``verify(parse(gold), parse(pred))`` in one process, the way a script would
without the pool (Math-Verify's own signal timeouts on). To start both sides with cold
caches, the baseline runs in a fresh process too. Times:

- warm: the grading loop alone vs ``pool.grade_many`` on a started pool (both sides first
  grade the pool's warm-up pairs, so lazy imports and parser builds are out of the loop);
- cold: import + warm-up + loop vs pool start (spawn, import, warm-up) + ``grade_many``.

Speed-up = baseline seconds / pool seconds (> 1: the pool is faster). CPU seconds are
recorded too (``cores`` = CPU seconds / wall seconds): the pool can only win when the
machine has a free core. On Linux with autogroup scheduling, every process of one session
shares one fair share of the CPU, so on a machine loaded by other sessions the two workers
together get no more CPU than the single baseline process. Writes a JSON summary
(``--out``) and prints it. Run: ``python benchmarks/bench_grading.py``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from mathverify.grading import GradingPool
from mathverify.grading.graders import as_latex_answer
from mathverify.grading.pool import WARM_UP_PAIRS
from mathverify.paths import data_dir
from mathverify.steps import extract_answer


def load_pairs(path: Path, negatives: bool = False) -> list[tuple[str | None, str]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    preds = [extract_answer(row["solution"]) for row in rows]
    pairs = [(pred, row["answer"]) for pred, row in zip(preds, rows, strict=True)]
    if negatives:
        pairs += [(pred, rows[(i + 1) % len(rows)]["answer"]) for i, pred in enumerate(preds)]
    return pairs


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def direct(pairs: list[tuple[str | None, str]]) -> dict[str, float]:
    """Math-Verify in this process, one pair after another, after the pool's warm-up pairs."""
    start = time.perf_counter()
    from math_verify import parse, verify

    for pred, gold in WARM_UP_PAIRS:  # what each pool worker does before it says ready
        verify(parse(as_latex_answer(gold)), parse(as_latex_answer(pred)))
    imported = time.perf_counter()
    cpu_start = time.process_time()
    n_equal = 0
    for pred, gold in pairs:
        if pred:
            n_equal += verify(parse(as_latex_answer(gold)), parse(as_latex_answer(pred)))
    done = time.perf_counter()
    cpu_s = time.process_time() - cpu_start
    return {
        "setup_s": imported - start,
        "loop_s": done - imported,
        "cpu_s": cpu_s,
        "cores": cpu_s / (done - imported),
        "n_equal": n_equal,
    }


def pooled(pairs: list[tuple[str | None, str]], workers: int, mode: str) -> dict[str, float]:
    start = time.perf_counter()
    with GradingPool(workers=workers, timeout=5.0, mode=mode) as pool:
        pids = pool.worker_pids
        cpu_before = [cpu_seconds(pid) for pid in pids]
        started = time.perf_counter()
        verdicts = pool.grade_many(pairs)
        done = time.perf_counter()
        cpu_after = [cpu_seconds(pid) for pid in pids]
        restarts = pool.n_restarts
    known = [(a, b) for a, b in zip(cpu_after, cpu_before, strict=True) if None not in (a, b)]
    cpu_s = sum(a - b for a, b in known) if len(known) == len(pids) and not restarts else None
    return {
        "start_s": started - start,
        "grade_s": done - started,
        "cpu_s": cpu_s,
        "cores": None if cpu_s is None else cpu_s / (done - started),
        "n_equal": sum(v.equal for v in verdicts),
    }


MODES = ("strict", "lenient")


def run(pairs: list[tuple[str | None, str]], workers: int, repeats: int) -> dict:
    spawn = multiprocessing.get_context("spawn")
    rounds = []
    for index in range(repeats):
        load_before = os.getloadavg()[0]
        # Rotate which side runs first, so a load change hits all sides alike.
        order = ["direct", *MODES]
        order = order[index % 3 :] + order[: index % 3]
        sides: dict[str, dict] = {}
        for side in order:
            if side == "direct":
                with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as executor:
                    sides[side] = executor.submit(direct, pairs).result()
            else:
                sides[side] = pooled(pairs, workers, side)
        baseline = sides["direct"]
        if baseline["n_equal"] != sides["strict"]["n_equal"]:
            raise SystemExit(
                f"round {index}: baseline graded {baseline['n_equal']} equal, "
                f"pool {sides['strict']['n_equal']}"
            )
        record = {"direct": baseline, "load_1min_before": load_before}
        for mode in MODES:
            pool = sides[mode]
            record[mode] = pool
            record[f"speedup_warm_{mode}"] = baseline["loop_s"] / pool["grade_s"]
            record[f"speedup_cold_{mode}"] = (baseline["setup_s"] + baseline["loop_s"]) / (
                pool["start_s"] + pool["grade_s"]
            )
            record[f"cpu_ratio_{mode}"] = (
                baseline["cpu_s"] / pool["cpu_s"] if pool["cpu_s"] else None
            )
        record["load_1min_after"] = os.getloadavg()[0]
        rounds.append(record)

    def median(key: str) -> float | None:
        values = sorted(r[key] for r in rounds if r[key] is not None)
        return values[len(values) // 2] if values else None

    return {
        "benchmark": f"grading MATH500 ({len(pairs)} pairs): GradingPool strict and lenient "
        "vs direct math-verify",
        **{
            f"median_{what}_{mode}": median(f"{what}_{mode}")
            for mode in MODES
            for what in ("speedup_warm", "speedup_cold", "cpu_ratio")
        },
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "autogroup": _autogroup_enabled(),
        },
        "workers": workers,
        "n_pairs": len(pairs),
        "rounds": rounds,
    }


def _autogroup_enabled() -> bool | None:
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return None


def _cores(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="MATH500 test.jsonl (default: $MATHVERIFY_DATA/math500/test.jsonl)",
    )
    parser.add_argument("--workers", type=int, default=2, help="grading pool workers")
    parser.add_argument(
        "--negatives",
        action="store_true",
        help="also grade each answer against the next problem's gold (where lenient rules run)",
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="rounds (baseline and pool, order alternating)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).parent / "results" / "bench_grading.json",
        help="where to write the JSON summary",
    )
    args = parser.parse_args()
    path = args.data or data_dir() / "math500" / "test.jsonl"
    if not path.exists():
        raise SystemExit(f"{path} not found: set MATHVERIFY_DATA or pass --data")
    summary = run(load_pairs(path, args.negatives), args.workers, args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    for index, r in enumerate(summary["rounds"]):
        pools = "; ".join(
            f"{mode} {r[mode]['grade_s']:.2f} s (+{r[mode]['start_s']:.2f} s start, "
            f"{_cores(r[mode]['cores'])} cores, {r[mode]['n_equal']} equal) "
            f"warm {r['speedup_warm_' + mode]:.2f}x cold {r['speedup_cold_' + mode]:.2f}x"
            for mode in MODES
        )
        print(
            f"round {index}: direct {r['direct']['loop_s']:.2f} s (+{r['direct']['setup_s']:.2f} s "
            f"setup, {_cores(r['direct']['cores'])} cores, {r['direct']['n_equal']} equal); "
            f"{pools}; load {r['load_1min_before']:.1f}->{r['load_1min_after']:.1f}"
        )
    for mode in MODES:
        cpu_ratio = summary[f"median_cpu_ratio_{mode}"]
        print(
            f"median speed-up (direct / pool {mode}): warm "
            f"{summary[f'median_speedup_warm_{mode}']:.2f}x, cold "
            f"{summary[f'median_speedup_cold_{mode}']:.2f}x; CPU seconds direct / pool "
            f"{'?' if cpu_ratio is None else f'{cpu_ratio:.2f}'}"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
