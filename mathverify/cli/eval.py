"""``mathverify eval``: accuracy, maj@k, pass@k and tokens for solutions or search results."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mathverify.cli.app import command
from mathverify.cli.grading_options import (
    AuditOpt,
    GradersOpt,
    GradeTimeoutOpt,
    GradeWorkersOpt,
    open_pool,
)
from mathverify.errors import MathverifyError
from mathverify.eval.metrics import Report, Sample, evaluate, step_label_stats
from mathverify.labeling.outcome import gold_answer
from mathverify.records import (
    STDIO,
    Problem,
    SearchResult,
    Solution,
    display_name,
    iter_json_lines,
    read_problems_by_id,
)

FACETS = ("subject", "level")


def _load_rows(
    path: str,
) -> tuple[list[tuple[str, int, str | None, bool | None, int]], list[tuple[bool, int | None]]]:
    """Rows ``(problem_id, order, answer, known outcome, n_tokens)`` per solution or search
    result, and ``(outcome, first_wrong_step)`` for each solution that has step labels."""
    rows = []
    step_rows = []
    name = display_name(path)
    for number, obj in iter_json_lines(path):
        if isinstance(obj, dict) and "method" in obj:
            result = SearchResult.from_dict(obj, path=name, line=number)
            outcome = result.meta.get("outcome")
            rows.append(
                (result.problem_id, result.run, result.answer, outcome, result.n_generated_tokens)
            )
        else:
            solution = Solution.from_dict(obj, path=name, line=number)
            rows.append(
                (
                    solution.problem_id,
                    solution.sample_id,
                    solution.answer,
                    solution.outcome,
                    solution.n_tokens,
                )
            )
            if solution.step_labels is not None and solution.outcome is not None:
                step_rows.append((solution.outcome, solution.first_wrong_step))
    return rows, step_rows


def _load_problems(problems: str | None, qaf: str | None) -> dict[str, Problem]:
    if (problems is None) == (qaf is None):
        raise MathverifyError("give exactly one of --problems or --qaf")
    if problems is not None:
        return read_problems_by_id(problems)
    from mathverify.data.loaders import load_mario

    return {p.id: p for p in load_mario(Path(qaf))}  # type: ignore[arg-type]


def _fmt(value: float, se: float | None = None) -> str:
    text = f"{100 * value:.1f}"
    return text if se is None else f"{text} ± {100 * se:.1f}"


def _table(reports: list[Report], title: str, ks: list[int] | None = None) -> Table:
    """One row per report; maj@k and pass@k columns for ``ks`` (default: the largest k)."""
    if ks is None:
        ks = [max(k for r in reports for k in r.maj)] if any(r.maj for r in reports) else []
    table = Table(title=title)
    for header in ("input", "problems", "samples", "accuracy"):
        table.add_column(header, justify="right" if header != "input" else "left")
    for k in ks:
        table.add_column(f"maj@{k}", justify="right")
    for k in ks:
        table.add_column(f"pass@{k}", justify="right")
    table.add_column("tokens", justify="right")
    for r in reports:
        table.add_row(
            r.name,
            str(r.n_problems),
            str(r.samples_per_problem),
            _fmt(r.accuracy, r.accuracy_se),
            *[_fmt(r.maj[k], r.maj_se[k]) if k in r.maj else "" for k in ks],
            *[_fmt(r.pass_at[k]) if k in r.pass_at else "" for k in ks],
            f"{r.mean_tokens_per_problem:.1f}",
        )
    return table


def _step_table(report: Report) -> Table:
    stats = report.step_labels or {}
    table = Table(title=f"{report.name}: step labels ({stats['labeled']} labeled solutions)")
    table.add_column("first wrong step (wrong answers)")
    table.add_column("solutions", justify="right")
    for index, count in stats["first_wrong_step_histogram"].items():
        table.add_row(str(index), str(count))
    share = stats["right_answer_with_wrong_step"]
    table.caption = (
        "right answers that contain a wrong step: "
        + ("n/a" if share is None else f"{100 * share:.1f}%")
        + " (the false positives an ORM cannot see)"
    )
    return table


@command(
    "eval",
    help=(
        "Accuracy (mean over samples, ± standard error), maj@k, unbiased pass@k and generated "
        "tokens per problem, for each input file of solutions or search results; per subject "
        "and level when the problems carry them. Uses `outcome` labels when present and grades "
        "the rest."
    ),
)
def eval_command(
    inputs: Annotated[
        list[str], typer.Argument(help="Solution or search-result JSONL files (- for stdin).")
    ],
    problems: Annotated[
        str | None, typer.Option("--problems", "-p", help="Problem records with gold answers.")
    ] = None,
    qaf: Annotated[
        str | None,
        typer.Option("--qaf", help="MARIO_EVAL question/answer file instead of --problems."),
    ] = None,
    k: Annotated[
        str | None,
        typer.Option(
            "--k",
            help=(
                "Comma-separated k for maj@k/pass@k in the table (default: the largest; "
                "the JSON has 1,2,4,..,n)."
            ),
        ),
    ] = None,
    json_path: Annotated[
        str | None,
        typer.Option("--json", help="Write the numbers as JSON to this path (- for stdout)."),
    ] = None,
    names: Annotated[
        str | None, typer.Option("--names", help="Comma-separated row names, one per input.")
    ] = None,
    graders: GradersOpt = "math-verify",
    audit: AuditOpt = None,
    grade_timeout: GradeTimeoutOpt = 5.0,
    grade_workers: GradeWorkersOpt = 2,
) -> None:
    gold = _load_problems(problems, qaf)
    try:
        ks = [int(x) for x in k.split(",")] if k else None
    except ValueError:
        raise MathverifyError(f"--k {k!r}: expected comma-separated integers") from None
    row_names = (
        names.split(",") if names else [Path(p).stem if p != STDIO else "stdin" for p in inputs]
    )
    if len(row_names) != len(inputs):
        raise MathverifyError(f"--names has {len(row_names)} names for {len(inputs)} inputs")

    loaded_with_steps = [_load_rows(path) for path in inputs]
    loaded = [rows for rows, _ in loaded_with_steps]
    to_grade = sorted(
        {(row[2], gold_answer(gold, row[0])) for rows in loaded for row in rows if row[3] is None},
        key=repr,
    )
    verdicts: dict[tuple[str | None, str], bool] = {}
    if to_grade:
        with open_pool(graders, audit, grade_timeout, grade_workers) as pool:
            for pair, verdict in zip(to_grade, pool.grade_many(to_grade), strict=True):
                verdicts[pair] = verdict.equal

    facets = {
        facet: {pid: str(p.meta[facet]) for pid, p in gold.items() if facet in p.meta}
        for facet in FACETS
    }
    reports = []
    for name, rows in zip(row_names, loaded, strict=True):
        by_problem: dict[str, list[tuple[int, Sample]]] = defaultdict(list)
        for pid, order, answer, outcome, n_tokens in rows:
            correct = outcome if outcome is not None else verdicts[(answer, gold_answer(gold, pid))]
            by_problem[pid].append((order, Sample(answer, bool(correct), n_tokens)))
        samples = {
            pid: [s for _, s in sorted(items, key=lambda x: x[0])]
            for pid, items in by_problem.items()
        }
        report = evaluate(name, samples, ks=ks, groups={f: v for f, v in facets.items() if v})
        report.missing_problems = len(set(gold) - set(samples))
        reports.append(report)
    for report, (_, step_rows) in zip(reports, loaded_with_steps, strict=True):
        report.step_labels = step_label_stats(step_rows) if step_rows else None

    to_stdout_json = json_path == STDIO
    out = Console(file=sys.stderr if to_stdout_json else sys.stdout)
    out.print(_table(reports, "mathverify eval", ks))
    for report in reports:
        if report.step_labels:
            out.print(_step_table(report))
        for facet, groups in report.groups.items():
            if len(groups) > 1:
                out.print(_table(list(groups.values()), f"{report.name} by {facet}", ks))
    if json_path:
        payload: dict[str, Any] = {"reports": [r.to_dict() for r in reports]}
        text = json.dumps(payload, indent=2) + "\n"
        if to_stdout_json:
            sys.stdout.write(text)
        else:
            Path(json_path).write_text(text, encoding="utf-8")
