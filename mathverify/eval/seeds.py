"""Mean and spread over seeds of the demo's headline numbers.

Each seed's run directory holds the ``mathverify eval --json`` files that ``make demo``
writes: ``eval.json`` (greedy and sampled reports) and, once the PRM is trained,
``verifier.json`` (its best-of-N curve). :func:`summarize` reads one directory per seed and
returns, per headline, the value at each seed, the mean, min, max and standard deviation,
plus the paired margins (majority minus greedy, PRM minus greedy, PRM minus majority) and
whether each margin is positive at every seed: the only claims a one-seed demo should make.
Reading numbers, not recomputing them: the eval command stays the one place they come from.

No silent wrong number (DESIGN.md): runs whose eval.json define maj@k differently (eval's
provenance, absent before it had one) are not averaged together, and a headline missing
from some runs is left out with the count of runs that lack it (``left_out``).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mathverify.errors import MathverifyError

EVAL_JSON = "eval.json"
VERIFIER_JSON = "verifier.json"
# (sampled-report name, greedy-report name, verifier curve name) as the demo writes them.
GREEDY, SAMPLED, VERIFIER = "greedy", "sampled", "prm-min"
# Margins reported as "a minus b" per seed; a claim "a beats b" holds when all are > 0.
MARGINS = (("maj", "greedy"), ("prm_best", "greedy"), ("prm_best", "maj"))


@dataclass(frozen=True)
class Spread:
    """One number over seeds: its values (in the seeds' order) and their summary."""

    values: list[float]
    mean: float
    std: float  # sample standard deviation (n - 1); 0.0 for one seed
    min: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        values = list(values)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return cls(values, statistics.fmean(values), std, min(values), max(values))


@dataclass
class SeedSummary:
    seeds: list[str]
    n: int  # samples per problem the curve and maj@n are read at
    metrics: dict[str, Spread] = field(default_factory=dict)
    margins: dict[str, Spread] = field(default_factory=dict)
    holds_at_every_seed: dict[str, bool] = field(default_factory=dict)
    # Headlines some runs lack (no verifier.json yet): name -> how many runs lack it.
    left_out: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MathverifyError(f"{path}: no such file (run `make demo` for this seed)") from None
    except json.JSONDecodeError as err:
        raise MathverifyError(f"{path}:{err.lineno}: not JSON ({err.msg})") from None


def _report(payload: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    for report in payload.get("reports", []):
        if report.get("name") == name:
            return report
    raise MathverifyError(f"{path}: reports: no report named {name!r}")


def _at(table: dict[str, Any], n: int, path: Path, what: str) -> float:
    # JSON keys are strings: maj and pass_at are {"16": 0.596, ...}.
    value = table.get(str(n), table.get(n))  # type: ignore[call-overload]
    if value is None:
        raise MathverifyError(f"{path}: {what}: no value at {n} (have {sorted(table)})")
    return float(value)


def headline(run_dir: str | Path, n: int = 16) -> dict[str, float]:
    """The demo's headline numbers of one run directory, as fractions in [0, 1].

    ``greedy``, ``sample`` (mean accuracy of one sample), ``maj`` and ``pass`` (at ``n``)
    from ``eval.json``; ``prm_best`` (best-of-``n`` by the PRM) and ``prm_majority`` (the
    majority vote the same curve reports) from ``verifier.json`` when it exists.
    """
    run_dir = Path(run_dir)
    path = run_dir / EVAL_JSON
    payload = _read(path)
    greedy = _report(payload, GREEDY, path)
    sampled = _report(payload, SAMPLED, path)
    out = {
        "greedy": float(greedy["accuracy"]),
        "sample": float(sampled["accuracy"]),
        "maj": _at(sampled["maj"], n, path, f"reports.{SAMPLED}.maj"),
        "pass": _at(sampled["pass_at"], n, path, f"reports.{SAMPLED}.pass_at"),
    }
    vpath = run_dir / VERIFIER_JSON
    if vpath.exists():
        curve = _read(vpath).get("diagnostics", {}).get("best_of_n", {}).get(VERIFIER)
        if not curve:
            raise MathverifyError(f"{vpath}: diagnostics.best_of_n: no curve named {VERIFIER!r}")
        point = next((p for p in curve if p["n"] == n), None)
        if point is None:
            raise MathverifyError(f"{vpath}: diagnostics.best_of_n.{VERIFIER}: no point at N={n}")
        out["prm_best"] = float(point["best_of_n"])
        out["prm_majority"] = float(point["majority"])
    return out


def definitions(run_dir: str | Path) -> dict[str, Any] | None:
    """How the run's eval.json defines its numbers (eval's provenance); None when it was
    written before eval recorded them (maj@k then voted over the first k samples)."""
    path = Path(run_dir) / EVAL_JSON
    return (_read(path).get("provenance") or {}).get("eval", {}).get("definitions")


def _check_same_definitions(run_dirs: Sequence[str | Path]) -> None:
    """Refuse runs whose maj@k means different things: their mean would be no number."""
    first = definitions(run_dirs[0])
    for run_dir in run_dirs[1:]:
        if definitions(run_dir) != first:
            raise MathverifyError(
                f"{Path(run_dir) / EVAL_JSON} defines maj@k and pass@k otherwise than "
                f"{Path(run_dirs[0]) / EVAL_JSON} (another mathverify eval): rerun eval on both"
            )


def samples_drawn(run_dir: str | Path) -> int:
    """The samples per problem of a run: the largest k its eval.json has maj@k at."""
    path = Path(run_dir) / EVAL_JSON
    table = _report(_read(path), SAMPLED, path).get("maj") or {}
    if not table:
        raise MathverifyError(f"{path}: reports.{SAMPLED}.maj: empty")
    return max(int(k) for k in table)


def summarize(run_dirs: Sequence[str | Path], n: int | None = None) -> SeedSummary:
    """Headlines of every run directory (one per seed), their spread and paired margins, at
    ``n`` samples per problem (None: as many as the first run drew).

    A metric missing from some run (no ``verifier.json`` yet) is left out of the summary
    rather than averaged over fewer seeds, and counted in ``left_out``.
    """
    if not run_dirs:
        raise MathverifyError("summarize: no run directories given")
    if n is None:
        n = samples_drawn(run_dirs[0])
    rows = [headline(d, n) for d in run_dirs]
    _check_same_definitions(run_dirs)
    summary = SeedSummary(seeds=[str(d) for d in run_dirs], n=n)
    every = list(dict.fromkeys(k for r in rows for k in r))
    common = [k for k in every if all(k in r for r in rows)]
    summary.left_out = {k: sum(k not in r for r in rows) for k in every if k not in common}
    for key in common:
        summary.metrics[key] = Spread.of([r[key] for r in rows])
    for a, b in MARGINS:
        if a in common and b in common:
            name = f"{a} - {b}"
            summary.margins[name] = Spread.of([r[a] - r[b] for r in rows])
            summary.holds_at_every_seed[f"{a} > {b}"] = all(r[a] > r[b] for r in rows)
    return summary


LABELS = {
    "greedy": "greedy",
    "sample": "one sample (mean)",
    "maj": "maj@{n}",
    "pass": "pass@{n}",
    "prm_best": "PRM best-of-{n}",
    "prm_majority": "majority (PRM curve)",
}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _label(key: str, n: int) -> str:
    if " - " in key:
        a, b = key.split(" - ")
        return f"{_label(a, n)} minus {_label(b, n)}"
    return LABELS.get(key, key).format(n=n)


def markdown(summary: SeedSummary) -> str:
    """A table in percent: one column per run (seed), then mean, std, min-max."""
    k = len(summary.seeds)
    head = "| | " + " | ".join(f"run {i + 1}" for i in range(k)) + " | mean | std | min-max |"
    lines = [head, "|---" * (k + 4) + "|"]
    for key, spread in [*summary.metrics.items(), *summary.margins.items()]:
        cells = " | ".join(_pct(v) for v in spread.values)
        lines.append(
            f"| {_label(key, summary.n)} | {cells} | {_pct(spread.mean)} | {_pct(spread.std)} | "
            f"{_pct(spread.min)}-{_pct(spread.max)} |"
        )
    lines.append("")
    lines.append("Runs: " + ", ".join(f"{i + 1} = `{s}`" for i, s in enumerate(summary.seeds)))
    for claim, holds in summary.holds_at_every_seed.items():
        a, b = claim.split(" > ")
        verdict = "at every seed" if holds else "NOT at every seed"
        lines.append(f"- {_label(a, summary.n)} above {_label(b, summary.n)}: {verdict}")
    for key, missing in summary.left_out.items():
        lines.append(f"- {_label(key, summary.n)}: left out, missing in {missing} of {k} runs")
    return "\n".join(lines) + "\n"
