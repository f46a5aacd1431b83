"""``mathverify eval``: accuracy, maj@k, pass@k and tokens for solutions or search results;
with ``--processbench``, ProcessBench's first-wrong-step F1 of a scorer; with ``--plot``,
calibration, best-of-N and accuracy-vs-tokens PNGs plus their numbers as JSON."""

from __future__ import annotations

import hashlib
import json
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mathverify.cli.app import SeedOpt, command, console
from mathverify.cli.grading_options import (
    AuditOpt,
    GradersOpt,
    GradeTimeoutOpt,
    GradeWorkersOpt,
    GradingModeOpt,
    NoRuleOpt,
    open_pool,
)
from mathverify.errors import MathverifyError, RecordError
from mathverify.eval import calibration, curves, processbench
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

if TYPE_CHECKING:
    from mathverify.eval.plots import Diagnostics

FACETS = ("subject", "level")


Row = tuple[str, int, str | None, bool | None, int]


@dataclass
class Loaded:
    """One input file: a row ``(problem_id, order, answer, known outcome, n_tokens)`` per
    solution or search result, with the parsed records (and their line numbers) beside it."""

    name: str
    rows: list[Row] = field(default_factory=list)
    step_rows: list[tuple[bool, int | None]] = field(default_factory=list)
    solutions: list[tuple[int, Solution]] = field(default_factory=list)
    results: list[tuple[int, SearchResult]] = field(default_factory=list)


def _load_rows(path: str) -> Loaded:
    """Every record of ``path``; ``step_rows`` has ``(outcome, first_wrong_step)`` for each
    solution that has step labels."""
    name = display_name(path)
    loaded = Loaded(name)
    for number, obj in iter_json_lines(path):
        if isinstance(obj, dict) and "method" in obj:
            result = SearchResult.from_dict(obj, path=name, line=number)
            outcome = result.meta.get("outcome")
            loaded.rows.append(
                (result.problem_id, result.run, result.answer, outcome, result.n_generated_tokens)
            )
            loaded.results.append((number, result))
        else:
            solution = Solution.from_dict(obj, path=name, line=number)
            loaded.rows.append(
                (
                    solution.problem_id,
                    solution.sample_id,
                    solution.answer,
                    solution.outcome,
                    solution.n_tokens,
                )
            )
            loaded.solutions.append((number, solution))
            if solution.step_labels is not None and solution.outcome is not None:
                loaded.step_rows.append((solution.outcome, solution.first_wrong_step))
    return loaded


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


def _row_names(inputs: list[str], names: str | None) -> list[str]:
    row_names = (
        names.split(",") if names else [Path(p).stem if p != STDIO else "stdin" for p in inputs]
    )
    if len(row_names) != len(inputs):
        raise MathverifyError(f"--names has {len(row_names)} names for {len(inputs)} inputs")
    return row_names


Judge = Callable[[str, str | None, bool | None], bool | None]


def _judge(loaded: list[Loaded], gold: dict[str, Problem], grading: dict[str, Any]) -> Judge:
    """Grade every row without an outcome label (when gold answers are given); returns
    ``judge(problem_id, answer, outcome)``: the label, else the verdict, else None."""
    verdicts: dict[tuple[str | None, str], bool] = {}
    if gold:
        to_grade = sorted(
            {(r[2], gold_answer(gold, r[0])) for one in loaded for r in one.rows if r[3] is None},
            key=repr,
        )
        if to_grade:
            with open_pool(**grading) as pool:
                for pair, verdict in zip(to_grade, pool.grade_many(to_grade), strict=True):
                    verdicts[pair] = verdict.equal

    def judge(problem_id: str, answer: str | None, outcome: bool | None) -> bool | None:
        if outcome is not None:
            return outcome
        if not gold:
            return None
        return verdicts[(answer, gold_answer(gold, problem_id))]

    return judge


def _reports(
    loaded: list[Loaded],
    row_names: list[str],
    gold: dict[str, Problem],
    judge: Judge,
    ks: list[int] | None,
) -> list[Report]:
    facets = {
        facet: {pid: str(p.meta[facet]) for pid, p in gold.items() if facet in p.meta}
        for facet in FACETS
    }
    reports = []
    for name, one in zip(row_names, loaded, strict=True):
        by_problem: dict[str, list[tuple[int, Sample]]] = defaultdict(list)
        for pid, order, answer, outcome, n_tokens in one.rows:
            correct = judge(pid, answer, outcome)
            by_problem[pid].append((order, Sample(answer, bool(correct), n_tokens)))
        samples = {
            pid: [s for _, s in sorted(items, key=lambda x: x[0])]
            for pid, items in by_problem.items()
        }
        report = evaluate(name, samples, ks=ks, groups={f: v for f, v in facets.items() if v})
        report.missing_problems = len(set(gold) - set(samples))
        report.step_labels = step_label_stats(one.step_rows) if one.step_rows else None
        reports.append(report)
    return reports


# --------------------------------------------------------------------------------------
# --processbench


def _pb_samples(one: Loaded, default_split: str) -> list[processbench.PBSample]:
    """Samples of one file; the split is ``meta.split`` (as the converter writes it), else
    ``default_split``."""
    if one.results:
        number = one.results[0][0]
        raise RecordError(
            one.name, number, "--processbench reads scored solutions, not search results"
        )
    samples = []
    for number, solution in one.solutions:
        split = solution.meta.get("split")
        split = split if isinstance(split, str) and split else default_split
        try:
            samples.append(processbench.sample_from_solution(solution, split))
        except MathverifyError as exc:
            raise RecordError(one.name, number, str(exc)) from None
    if not samples:
        raise MathverifyError(f"{one.name}: no solutions to evaluate")
    return samples


def _digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _check_held_out(held_out: str, inputs: list[str]) -> None:
    """Refuse a held-out file that is an evaluated input (the same file, or a copy)."""
    if held_out == STDIO:
        raise MathverifyError("--threshold-from needs a file, not stdin")
    if not Path(held_out).is_file():
        raise MathverifyError(f"--threshold-from {held_out}: no such file")
    held_out_digest = _digest(held_out)
    for path in inputs:
        if path == STDIO or not Path(path).is_file():
            continue
        if Path(path).samefile(held_out) or _digest(path) == held_out_digest:
            raise MathverifyError(
                f"--threshold-from {held_out} is also an evaluated input ({path}): choose the "
                "threshold on held-out data, e.g. another split"
            )


def _scorers(solutions: list[tuple[int, Solution]]) -> set[str]:
    return {s.scorer for _, s in solutions if s.scorer}


def _processbench(
    loaded: list[Loaded],
    row_names: list[str],
    inputs: list[str],
    threshold: float | None,
    threshold_from: str | None,
) -> dict[str, Any]:
    """ProcessBench's per-split numbers for every input, with the threshold used."""
    if (threshold is None) == (threshold_from is None):
        raise MathverifyError("--processbench needs exactly one of --threshold or --threshold-from")
    samples = [_pb_samples(one, name) for one, name in zip(loaded, row_names, strict=True)]
    held_out_f1 = None
    held_out_n = None
    if threshold_from is not None:
        _check_held_out(threshold_from, inputs)
        held_out = _load_rows(threshold_from)
        held_out_samples = _pb_samples(held_out, Path(threshold_from).stem)
        try:
            threshold, held_out_f1 = processbench.choose_threshold(held_out_samples)
        except ValueError as exc:
            raise MathverifyError(f"--threshold-from {threshold_from}: {exc}") from None
        held_out_n = len(held_out_samples)
        evaluated = set().union(*(_scorers(one.solutions) for one in loaded))
        if _scorers(held_out.solutions) != evaluated:
            console.print(
                f"warning: --threshold-from {threshold_from} was scored by "
                f"{sorted(_scorers(held_out.solutions))}, the inputs by {sorted(evaluated)}",
                soft_wrap=True,
            )
    assert threshold is not None
    results = []
    for name, input_samples in zip(row_names, samples, strict=True):
        splits = processbench.evaluate_processbench(input_samples, threshold)
        f1s = [s.f1 for s in splits if s.f1 is not None]
        results.append(
            {
                "name": name,
                "splits": [s.to_dict() for s in splits],
                # ProcessBench's "Avg. F1": the mean over splits.
                "average_f1": sum(f1s) / len(f1s) if f1s else None,
            }
        )
    return {
        "threshold": threshold,
        "threshold_from": threshold_from,
        "held_out_samples": held_out_n,
        "held_out_f1": held_out_f1,
        "inputs": results,
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _processbench_table(numbers: dict[str, Any]) -> Table:
    title = f"ProcessBench: first step scored below {numbers['threshold']:.4g}"
    if numbers["threshold_from"]:
        title += (
            f" (threshold chosen on {numbers['threshold_from']}, "
            f"F1 {_pct(numbers['held_out_f1'])} there)"
        )
    table = Table(title=title)
    for header in (
        "input",
        "split",
        "erroneous",
        "acc. erroneous",
        "correct",
        "acc. correct",
        "F1",
    ):
        table.add_column(header, justify="left" if header in ("input", "split") else "right")
    for one in numbers["inputs"]:
        for split in one["splits"]:
            table.add_row(
                one["name"],
                split["split"],
                str(split["n_erroneous"]),
                _pct(split["erroneous_accuracy"]),
                str(split["n_correct"]),
                _pct(split["correct_accuracy"]),
                _pct(split["f1"]),
            )
        if len(one["splits"]) > 1:
            table.add_row(one["name"], "average", "", "", "", "", _pct(one["average_f1"]))
    return table


# --------------------------------------------------------------------------------------
# --plot


def _diagnostics(
    loaded: list[Loaded],
    row_names: list[str],
    judge: Judge,
    *,
    bins: int,
    subsets: int,
    seed: int,
) -> Diagnostics:
    # matplotlib loads only when plotting.
    from mathverify.eval.plots import Diagnostics

    diagnostics = Diagnostics(settings={"bins": bins, "subsets": subsets, "seed": seed})

    def correct(name: str, problem_id: str, answer: str | None, outcome: bool | None) -> bool:
        verdict = judge(problem_id, answer, outcome)
        if verdict is None:
            raise MathverifyError(
                f"{name}: problem {problem_id!r} has a row without an outcome label; "
                "give --problems (or --qaf) to grade it"
            )
        return verdict

    compute_rows = []
    for name, one in zip(row_names, loaded, strict=True):
        solutions = [s for _, s in one.solutions]
        try:
            steps = [pair for s in solutions for pair in calibration.step_pairs(s)]
            if steps:
                diagnostics.step_calibration[name] = calibration.reliability(steps, bins)
            if any(calibration.solution_score(s) is not None for s in solutions):
                judged = [(s, correct(name, s.problem_id, s.answer, s.outcome)) for s in solutions]
                pairs = calibration.solution_pairs(judged)
                diagnostics.solution_calibration[name] = calibration.reliability(pairs, bins)
                by_problem: dict[str, list[tuple[int, curves.Candidate]]] = defaultdict(list)
                for s, ok in judged:
                    candidate = curves.Candidate(s.answer, ok, calibration.solution_score(s))
                    by_problem[s.problem_id].append((s.sample_id, candidate))
                candidates = {
                    pid: [c for _, c in sorted(items, key=lambda x: x[0])]
                    for pid, items in by_problem.items()
                }
                diagnostics.best_of_n[name] = curves.best_of_n_curve(
                    candidates, subsets=subsets, seed=seed
                )
        except MathverifyError as exc:
            raise MathverifyError(f"{name}: {exc}") from None
        for _, r in one.results:
            ok = correct(name, r.problem_id, r.answer, r.meta.get("outcome"))
            compute_rows.append((name, r.method, r.problem_id, ok, r.n_generated_tokens))
    diagnostics.compute = curves.compute_points(compute_rows)
    if not (
        diagnostics.step_calibration or diagnostics.solution_calibration or diagnostics.compute
    ):
        raise MathverifyError(
            "--plot: nothing to plot (no scored solutions and no search results in the inputs)"
        )
    return diagnostics


def _diagnostics_tables(diagnostics: Diagnostics) -> list[Table]:
    """ECE and the largest best-of-N per input; accuracy and tokens per search method."""
    tables = []
    names = list(dict.fromkeys([*diagnostics.step_calibration, *diagnostics.solution_calibration]))
    if names:
        table = Table(title="verifier calibration and best-of-N (all numbers: diagnostics.json)")
        for header in ("input", "step ECE", "solution ECE", "N", "best-of-N", "majority", "pass@N"):
            table.add_column(header, justify="left" if header == "input" else "right")
        for name in names:
            cells = []
            for data in (diagnostics.step_calibration, diagnostics.solution_calibration):
                rel = data.get(name)
                cells.append("" if rel is None or rel.ece is None else f"{rel.ece:.3f} (n={rel.n})")
            points = diagnostics.best_of_n.get(name) or []
            last = points[-1] if points else None
            cells += (
                [str(last.n), _pct(last.best_of_n), _pct(last.majority), _pct(last.pass_at_n)]
                if last
                else ["", "", "", ""]
            )
            table.add_row(name, *cells)
        tables.append(table)
    if diagnostics.compute:
        table = Table(title="accuracy against mean generated tokens per problem")
        for header in ("input", "method", "problems", "accuracy", "tokens"):
            table.add_column(header, justify="left" if header in ("input", "method") else "right")
        for point in diagnostics.compute:
            table.add_row(
                point.name,
                point.method,
                str(point.n_problems),
                _pct(point.accuracy),
                f"{point.mean_tokens:.1f}",
            )
        tables.append(table)
    return tables


@command(
    "eval",
    help=(
        "Accuracy (mean over samples, ± standard error), maj@k, unbiased pass@k and generated "
        "tokens per problem, for each input file of solutions or search results; per subject "
        "and level when the problems carry them. Uses `outcome` labels when present and grades "
        "the rest.\n\n"
        "--processbench: for scored, step-labeled solutions (mathverify score on the output of "
        "`data processbench` or `label --method exact`), predict the first wrong step as the "
        "first step scored below a threshold (--threshold, or the F1-best one on a held-out "
        "file with --threshold-from) and report ProcessBench's accuracy on erroneous and on "
        "correct samples and their F1, per split (meta.split, else the input's name).\n\n"
        "--plot DIR: reliability diagrams and ECE of step and solution scores, best-of-N "
        "against majority vote for scored solutions, and accuracy against mean generated "
        "tokens for search results, as PNGs and DIR/diagnostics.json.\n\n"
        "With --processbench or --plot, --problems/--qaf is optional: give it to print the "
        "accuracy table too and to grade rows without an outcome label."
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
    processbench_flag: Annotated[
        bool,
        typer.Option(
            "--processbench",
            help="Report ProcessBench's first-wrong-step accuracies and F1 per split.",
        ),
    ] = False,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help="With --processbench: a step scored below this is the predicted first wrong step.",
        ),
    ] = None,
    threshold_from: Annotated[
        str | None,
        typer.Option(
            "--threshold-from",
            help=(
                "With --processbench: choose the threshold that maximises F1 (pooled over its "
                "solutions) on this held-out file of scored, labeled solutions, e.g. the "
                "gsm8k split; never an evaluated input."
            ),
        ),
    ] = None,
    plot: Annotated[
        str | None,
        typer.Option(
            "--plot",
            help="Write reliability, best-of-N and accuracy-vs-tokens PNGs and their numbers "
            "(diagnostics.json) into this folder.",
        ),
    ] = None,
    bins: Annotated[
        int, typer.Option("--bins", help="With --plot: equal-width bins for calibration.")
    ] = 10,
    subsets: Annotated[
        int,
        typer.Option(
            "--subsets",
            help="With --plot: best-of-N averages over at most this many random N-subsets "
            "per problem (all of them when there are fewer).",
        ),
    ] = 100,
    seed: SeedOpt = 0,
    graders: GradersOpt = "math-verify",
    audit: AuditOpt = None,
    grade_timeout: GradeTimeoutOpt = 5.0,
    grade_workers: GradeWorkersOpt = 2,
    grading_mode: GradingModeOpt = "strict",
    no_rule: NoRuleOpt = None,
    compare_labels: Annotated[
        str | None,
        typer.Option(
            "--compare-labels",
            metavar="GOLD",
            help="Instead of accuracy: compare each input's step labels with those of GOLD "
            "(the same solutions, e.g. exact labels): precision/recall/F1 of correct and of "
            "wrong steps (the correct-step F1 with a 95% bootstrap interval over problems, "
            "resampled from --seed), AUROC of the raw labels, first-wrong-step agreement, ProcessBench "
            "F1 and label tokens spent (meta.rollout_tokens). Prints a Markdown table.",
        ),
    ] = None,
    label_threshold: Annotated[
        float | None,
        typer.Option(
            "--label-threshold",
            help="With --compare-labels: a soft label at least this is a correct step "
            "(default: above 0, as Math-Shepherd's hard labels: any rollout reached the answer).",
        ),
    ] = None,
    until_first_wrong: Annotated[
        bool,
        typer.Option(
            "--until-first-wrong",
            help="With --compare-labels: count only steps up to each input's first wrong step "
            "(the steps a first-error-cut labeler labels).",
        ),
    ] = False,
) -> None:
    if compare_labels is not None:
        if problems or qaf or processbench_flag or plot:
            raise MathverifyError(
                "--compare-labels takes no --problems, --qaf, --processbench or --plot"
            )
        _compare_labels(
            compare_labels, inputs, names, json_path, label_threshold, until_first_wrong, seed
        )
        return
    if label_threshold is not None or until_first_wrong:
        raise MathverifyError("--label-threshold and --until-first-wrong go with --compare-labels")
    diagnostics_mode = processbench_flag or plot is not None
    if not processbench_flag and (threshold is not None or threshold_from is not None):
        raise MathverifyError("--threshold and --threshold-from go with --processbench")
    if bins < 1:
        raise MathverifyError(f"--bins must be at least 1, got {bins}")
    if subsets < 1:
        raise MathverifyError(f"--subsets must be at least 1, got {subsets}")
    has_gold = problems is not None or qaf is not None
    gold = _load_problems(problems, qaf) if has_gold or not diagnostics_mode else {}
    try:
        ks = [int(x) for x in k.split(",")] if k else None
    except ValueError:
        raise MathverifyError(f"--k {k!r}: expected comma-separated integers") from None
    row_names = _row_names(inputs, names)

    loaded = [_load_rows(path) for path in inputs]
    grading = {
        "graders": graders,
        "audit": audit,
        "timeout": grade_timeout,
        "workers": grade_workers,
        "grading": grading_mode,
        "no_rule": no_rule,
    }
    judge = _judge(loaded, gold, grading)
    reports = _reports(loaded, row_names, gold, judge, ks) if has_gold else []
    pb_numbers = (
        _processbench(loaded, row_names, inputs, threshold, threshold_from)
        if processbench_flag
        else None
    )
    diagnostics = None
    if plot is not None:
        from mathverify.eval.plots import write_diagnostics

        diagnostics = _diagnostics(loaded, row_names, judge, bins=bins, subsets=subsets, seed=seed)
        written = write_diagnostics(plot, diagnostics)
        console.print(f"eval: wrote {', '.join(str(p) for p in written)}", soft_wrap=True)

    to_stdout_json = json_path == STDIO
    out = Console(file=sys.stderr if to_stdout_json else sys.stdout)
    if reports:
        out.print(_table(reports, "mathverify eval", ks))
    for report in reports:
        if report.step_labels:
            out.print(_step_table(report))
        for facet, groups in report.groups.items():
            if len(groups) > 1:
                out.print(_table(list(groups.values()), f"{report.name} by {facet}", ks))
    if pb_numbers is not None:
        out.print(_processbench_table(pb_numbers))
    if diagnostics is not None:
        for table in _diagnostics_tables(diagnostics):
            out.print(table)
    if json_path:
        payload: dict[str, Any] = {"reports": [r.to_dict() for r in reports]}
        if pb_numbers is not None:
            payload["processbench"] = pb_numbers
        if diagnostics is not None:
            payload["diagnostics"] = diagnostics.to_dict()
        text = json.dumps(payload, indent=2) + "\n"
        if to_stdout_json:
            sys.stdout.write(text)
        else:
            Path(json_path).write_text(text, encoding="utf-8")


def _compare_labels(
    gold: str,
    inputs: list[str],
    names: str | None,
    json_path: str | None,
    threshold: float | None,
    until_first_wrong: bool,
    seed: int,
) -> None:
    """``eval --compare-labels``: each input's step labels against GOLD's."""
    from mathverify.eval.labels import compare_label_files, markdown_table

    comparisons = compare_label_files(
        gold,
        inputs,
        _row_names(inputs, names),
        soft_threshold=threshold,
        until_first_wrong=until_first_wrong,
        seed=seed,
    )
    to_stdout_json = json_path == STDIO
    (sys.stderr if to_stdout_json else sys.stdout).write(markdown_table(comparisons))
    if json_path:
        payload = {
            "gold": gold,
            "label_threshold": threshold,
            "until_first_wrong": until_first_wrong,
            "comparisons": [c.to_dict() for c in comparisons],
        }
        text = json.dumps(payload, indent=2) + "\n"
        if to_stdout_json:
            sys.stdout.write(text)
        else:
            Path(json_path).write_text(text, encoding="utf-8")
