"""Per-snippet cost of the sandbox against a bare `python -c`, measured in the same run.

    python benchmarks/bench_sandbox.py [--snippets 50] [--repeats 3] [--sympy 5]

Baselines, each a fresh interpreter per snippet like the sandbox:
  bare        subprocess.run([sys.executable, "-c", code], capture_output=True)
  bare -I -S  the same with -I -S and site-packages put on sys.path: no site import, the
              floor for a fresh interpreter (the sandbox starts this way too)

Runs are interleaved (rotating the order per snippet) so that load from other processes on a
shared machine hits every runner alike. The runners' outputs must agree, so a sandbox that
runs nothing cannot look fast. Prints markdown tables for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import site
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from mathverify.sandbox import Sandbox, SandboxConfig

_TEMPLATES = [
    "print(sum(range({n})))",
    "print(sum(i * i for i in range({n})))",
    "import math\nprint(math.factorial({n} % 50))",
    "from fractions import Fraction\nprint(sum(Fraction(1, k) for k in range(1, {n} % 30 + 2)))",
    "import itertools\nprint(len(list(itertools.combinations(range({n} % 12 + 3), 3))))",
    "print([p for p in range(2, {n} % 200 + 10) if all(p % d for d in range(2, p))][-1])",
    "from decimal import Decimal, getcontext\ngetcontext().prec = 30\nprint(Decimal(2).sqrt() * {n})",
    "x = {n}\nwhile x != 1:\n    x = x // 2 if x % 2 == 0 else 3 * x + 1\nprint('done')",
    "import math\nprint(math.gcd({n}, 360), math.lcm({n}, 12))",
    "print(1 / ({n} - {n}))",  # an error: the traceback path costs something too
]
_SYMPY = "import sympy as sp\nx = sp.symbols('x')\nprint(sp.solve(x**2 - {n}**2, x))"


def snippets(count: int) -> list[str]:
    return [_TEMPLATES[i % len(_TEMPLATES)].format(n=97 + 13 * i) for i in range(count)]


def _bare(flags: list[str], prefix: str = "") -> Callable[[str], str]:
    def run(code: str) -> str:
        done = subprocess.run(
            [sys.executable, *flags, "-c", prefix + code],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.stdout

    return run


def measure(codes: list[str], repeats: int) -> dict[str, list[float]]:
    """Seconds per snippet for each runner (mean over repeats), interleaving the runners."""
    sandbox = Sandbox(SandboxConfig(timeout=60))
    # The floor with site-packages on sys.path but no site import, as the sandbox does it.
    add_site = f"import sys; sys.path += {site.getsitepackages()!r}\n"
    runners: dict[str, Callable[[str], str]] = {
        "bare": _bare([]),
        "sandbox": lambda code: sandbox.run(code).stdout,
        "bare -I -S": _bare(["-I", "-S"], add_site),
    }
    names = list(runners)
    totals = {name: [0.0] * len(codes) for name in names}
    for repeat in range(repeats):
        for i, code in enumerate(codes):
            shift = (i + repeat) % len(names)
            outputs = {}
            for name in names[shift:] + names[:shift]:
                started = time.perf_counter()
                outputs[name] = runners[name](code)
                totals[name][i] += time.perf_counter() - started
            if len(set(outputs.values())) != 1:
                raise SystemExit(f"snippet {i}: the runners printed different output: {outputs}")
    return {name: [t / repeats for t in times] for name, times in totals.items()}


def report(title: str, times: dict[str, list[float]]) -> str:
    lines = [
        f"**{title}** ({len(times['bare'])} snippets)",
        "",
        "| runner | mean ms/snippet | median ms | sandbox / runner |",
        "|---|---|---|---|",
    ]
    sandbox_total = sum(times["sandbox"])
    for name, values in times.items():
        ratio = sandbox_total / sum(values)
        lines.append(
            f"| {name} | {1000 * statistics.mean(values):.1f} | "
            f"{1000 * statistics.median(values):.1f} | {ratio:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snippets", type=int, default=50, help="small stdlib snippets")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each snippet per runner")
    parser.add_argument("--sympy", type=int, default=5, help="sympy snippets (0 to skip)")
    args = parser.parse_args()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs (shared), "
        f"load average {load:.2f}, repeats {args.repeats}\n"
    )
    print(report("small snippets", measure(snippets(args.snippets), args.repeats)))
    if args.sympy:
        codes = [_SYMPY.format(n=k + 2) for k in range(args.sympy)]
        print()
        print(report("sympy snippets", measure(codes, args.repeats)))


if __name__ == "__main__":
    main()
