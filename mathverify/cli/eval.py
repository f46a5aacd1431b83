"""``mathverify eval``: accuracy, maj@k, pass@k and tokens for solutions or search results;
with ``--processbench``, ProcessBench's first-wrong-step F1 of a scorer; with ``--plot``,
calibration, best-of-N and accuracy-vs-tokens PNGs plus their numbers as JSON; with
``--compare-labels``, step labels against gold ones.

No silent wrong number (DESIGN.md): an input that cannot give a number asked for is an
error (ids that match no problem, an option the chosen mode does not read, a k beyond the
samples, nothing gradable); an input that gives it on part of the data is a warning on
stderr with the count, and the count is in the JSON. Every JSON report carries a
``provenance``: eval's own settings and the distinct provenances of the input records.
"""

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

from mathverify.cli.app import (
    INPUT_HELP,
    IO,
    METRICS,
    ProblemsOpt,
    SeedOpt,
    command,
    given_options,
)
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
from mathverify.eval.metrics import DEFINITIONS, Report, Sample, evaluate, step_label_stats
from mathverify.grading import Verdict, parse_graders
from mathverify.grading.graders import STRICT, check_mode
from mathverify.grading.lenient import parse_rules
from mathverify.grading.verdict import ERROR, GOLD_NOT_PARSED, NO_GOLD, TIMEOUT
from mathverify.labeling.outcome import gold_answer
from mathverify.provenance import Provenance, collect
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
# Verdicts that are no judgement of the answer: counted wrong, and reported with a count.
UNDECIDED = (TIMEOUT, ERROR, GOLD_NOT_PARSED, NO_GOLD)


def _warn(message: str) -> None:
    """A number computed on part of the data: say so on stderr, with the count."""
    typer.echo(f"warning: eval: {message}", err=True)


# --------------------------------------------------------------------------------------
# Which options apply


@dataclass(frozen=True)
class Mode:
    """What this run computes: the accuracy table (gold answers given), ProcessBench, plots,
    or a comparison of step labels."""

    accuracy: bool
    processbench: bool
    plot: bool
    compare: bool


_GRADING = "{flag} goes with grading against --problems or --qaf"
# Where each option applies outside --compare-labels, and the error when given elsewhere:
# an ignored option is a setting the user believes shaped the numbers and did not.
APPLIES: dict[str, tuple[Callable[[Mode], bool], str]] = {
    "k": (lambda m: m.accuracy, "{flag} goes with the accuracy table: give --problems or --qaf"),
    "graders": (lambda m: m.accuracy, _GRADING),
    "audit": (lambda m: m.accuracy, _GRADING),
    "grade_timeout": (lambda m: m.accuracy, _GRADING),
    "grade_workers": (lambda m: m.accuracy, _GRADING),
    "grading_mode": (lambda m: m.accuracy, _GRADING),
    "no_rule": (lambda m: m.accuracy, _GRADING),
    "threshold": (
        lambda m: m.processbench,
        "--threshold and --threshold-from go with --processbench",
    ),
    "threshold_from": (
        lambda m: m.processbench,
        "--threshold and --threshold-from go with --processbench",
    ),
    "bins": (lambda m: m.plot, "{flag} goes with --plot"),
    "subsets": (
        lambda m: False,
        "{flag} is gone: best-of-N and maj@k are exact expectations over all N-subsets, "
        "none are drawn",
    ),
    "seed": (
        lambda m: False,
        "{flag} goes with --compare-labels (its bootstrap interval); maj@k and best-of-N are "
        "exact, nothing else is random",
    ),
    "label_threshold": (
        lambda m: False,
        "--label-threshold and --until-first-wrong go with --compare-labels",
    ),
    "until_first_wrong": (
        lambda m: False,
        "--label-threshold and --until-first-wrong go with --compare-labels",
    ),
}
# The options --compare-labels reads; it refuses the others.
COMPARE_READS = {
    "inputs",
    "input_paths",
    "names",
    "json_path",
    "compare_labels",
    "label_threshold",
    "until_first_wrong",
    "seed",
}


def _check_options(ctx: typer.Context, mode: Mode) -> None:
    """Refuse an option the user gave that this mode does not read, naming it."""
    given = set(given_options(ctx))
    for param in ctx.command.params:
        name = param.name or ""
        if name not in given:
            continue
        flag = max(param.opts, key=len)
        if mode.compare:
            if name not in COMPARE_READS:
                raise MathverifyError(f"--compare-labels takes no {flag}")
        elif name in APPLIES and not APPLIES[name][0](mode):
            raise MathverifyError(APPLIES[name][1].format(flag=flag))


def _check_grading(graders: str, grading_mode: str, no_rule: str | None) -> None:
    """Grading options checked up front, even when every row carries an outcome label."""
    parse_graders(graders)
    check_mode(grading_mode)
    if no_rule and grading_mode == STRICT:
        raise MathverifyError("--no-rule goes with --grading lenient")
    parse_rules(no_rule)


# --------------------------------------------------------------------------------------
# Reading inputs


Row = tuple[str, int, str | None, bool | None, int]


@dataclass
class Loaded:
    """One input file: its solutions and search results, with their line numbers."""

    path: str  # as messages name it
    solutions: list[tuple[int, Solution]] = field(default_factory=list)
    results: list[tuple[int, SearchResult]] = field(default_factory=list)
    rows_without_problem: int = 0  # left out: their problem is not in the problems file

    def __len__(self) -> int:
        return len(self.solutions) + len(self.results)

    @property
    def noun(self) -> str:
        return "search results" if self.results and not self.solutions else "solutions"

    def rows(self) -> list[Row]:
        """``(problem_id, order, answer, known outcome, n_tokens)`` per record."""
        rows = [
            (s.problem_id, s.sample_id, s.answer, s.outcome, s.n_tokens) for _, s in self.solutions
        ]
        rows += [
            (r.problem_id, r.run, r.answer, r.meta.get("outcome"), r.n_generated_tokens)
            for _, r in self.results
        ]
        return rows

    def step_rows(self) -> list[tuple[bool, int | None]]:
        """``(outcome, first_wrong_step)`` of each solution with step labels and an outcome."""
        return [
            (s.outcome, s.first_wrong_step)
            for _, s in self.solutions
            if s.step_labels is not None and s.outcome is not None
        ]

    def metas(self) -> list[dict[str, Any]]:
        return [s.meta for _, s in self.solutions] + [r.meta for _, r in self.results]

    def methods(self) -> list[str]:
        return sorted({r.method for _, r in self.results})

    def only(self, problems: dict[str, Problem]) -> Loaded:
        """The records whose problem is in ``problems``; the rest counted as left out."""
        kept = Loaded(
            self.path,
            [(n, s) for n, s in self.solutions if s.problem_id in problems],
            [(n, r) for n, r in self.results if r.problem_id in problems],
        )
        kept.rows_without_problem = len(self) - len(kept)
        return kept


def _load(path: str) -> Loaded:
    """Every record of ``path``; a record that appears twice is an error (it would count
    twice in every number)."""
    name = display_name(path)
    loaded = Loaded(name)
    first_line: dict[str, int] = {}
    for number, obj in iter_json_lines(path):
        if isinstance(obj, dict) and "method" in obj:
            result = SearchResult.from_dict(obj, path=name, line=number)
            key = f"{result.method} result {result.key()}"
            loaded.results.append((number, result))
        else:
            solution = Solution.from_dict(obj, path=name, line=number)
            key = f"solution {solution.key()}"
            loaded.solutions.append((number, solution))
        if key in first_line:
            raise RecordError(
                name,
                number,
                f"{key} appears twice (also line {first_line[key]}): it would count twice",
            )
        first_line[key] = number
    if not loaded:
        raise MathverifyError(f"{name}: no solutions or search results to evaluate")
    return loaded


def _load_problems(problems: str | None, qaf: str | None) -> dict[str, Problem]:
    if (problems is None) == (qaf is None):
        raise MathverifyError("give exactly one of --problems or --qaf")
    if problems is not None:
        gold = read_problems_by_id(problems)
    else:
        from mathverify.data.loaders import load_mario

        gold = {p.id: p for p in load_mario(Path(qaf))}  # type: ignore[arg-type]
    if not gold:
        # With no gold, every row would be judged by its own label or counted wrong.
        raise MathverifyError(f"eval: {display_name(problems or qaf or '')} has no problems")
    return gold


def _match_problems(one: Loaded, gold: dict[str, Problem], gold_name: str) -> Loaded:
    """``one`` without the records whose problem is not in the problems file.

    None matching is an error: the wrong problems file (or input) gives numbers about
    nothing, even when outcome labels would let them print. Some not matching is a warning
    with the count; they are left out of every number.
    """
    kept = one.only(gold)
    left_out = kept.rows_without_problem
    if not kept:
        raise MathverifyError(
            f"eval: {one.path}: {left_out} of {left_out} {one.noun} have no problem in {gold_name}"
        )
    if left_out:
        _warn(
            f"{one.path}: {left_out} of {len(one)} {one.noun} have no problem in {gold_name}; "
            "left out of the numbers"
        )
    return kept


def _row_names(inputs: list[str], names: str | None) -> list[str]:
    """One row name per input; two alike would overwrite each other in the JSON."""
    row_names = (
        names.split(",") if names else [Path(p).stem if p != STDIO else "stdin" for p in inputs]
    )
    if len(row_names) != len(inputs):
        raise MathverifyError(f"--names has {len(row_names)} names for {len(inputs)} inputs")
    repeated = sorted({name for name in row_names if row_names.count(name) > 1})
    if repeated:
        raise MathverifyError(
            f"row name {repeated[0]!r} is used for two inputs; give distinct --names"
        )
    return row_names


# --------------------------------------------------------------------------------------
# Grading


@dataclass
class Judge:
    """Outcome labels where present, else the grading pool's verdicts against gold answers."""

    gold: dict[str, Problem]
    verdicts: dict[tuple[str | None, str], Verdict] = field(default_factory=dict)

    def verdict(self, problem_id: str, answer: str | None) -> Verdict:
        return self.verdicts[(answer, gold_answer(self.gold, problem_id))]

    def correct(self, problem_id: str, answer: str | None, outcome: bool | None) -> bool | None:
        """The label, else the verdict, else None (no gold answers to grade with)."""
        if outcome is not None:
            return outcome
        if not self.gold:
            return None
        return self.verdict(problem_id, answer).equal

    def undecided(self, problem_id: str, answer: str | None, outcome: bool | None) -> str | None:
        """Why the grader could not judge this row (it counts wrong), or None."""
        if outcome is not None or not self.gold:
            return None
        reason = self.verdict(problem_id, answer).reason
        return reason if reason in UNDECIDED else None


def _grade(loaded: list[Loaded], gold: dict[str, Problem], grading: dict[str, Any]) -> Judge:
    """Grade every row without an outcome label (when gold answers are given)."""
    judge = Judge(gold)
    if not gold:
        return judge
    to_grade = sorted(
        {(r[2], gold_answer(gold, r[0])) for one in loaded for r in one.rows() if r[3] is None},
        key=repr,
    )
    if to_grade:
        with open_pool(**grading) as pool:
            judge.verdicts = dict(zip(to_grade, pool.grade_many(to_grade), strict=True))
    return judge


def _undecided_counts(one: Loaded, judge: Judge) -> dict[str, int]:
    """Rows of ``one`` the grader could not judge, by reason; all of them is an error (every
    number would be 0 by default), some a warning with the count."""
    counts: dict[str, int] = defaultdict(int)
    rows = one.rows()
    for pid, _, answer, outcome, _ in rows:
        reason = judge.undecided(pid, answer, outcome)
        if reason is not None:
            counts[reason] += 1
    if counts:
        detail = ", ".join(f"{reason}: {count}" for reason, count in sorted(counts.items()))
        if sum(counts.values()) == len(rows):
            raise MathverifyError(
                f"eval: {one.path}: none of its {len(rows)} answers could be graded ({detail}); "
                "check the gold answers and --grade-timeout"
            )
        _warn(
            f"{one.path}: {sum(counts.values())} of {len(rows)} answers could not be graded "
            f"({detail}); counted wrong"
        )
    return dict(counts)


# --------------------------------------------------------------------------------------
# The accuracy table


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
            "n/a" if r.mean_tokens_per_problem is None else f"{r.mean_tokens_per_problem:.1f}",
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


def _samples(one: Loaded, judge: Judge) -> dict[str, list[Sample]]:
    """Each problem's graded samples in sample (or run) order."""
    by_problem: dict[str, list[tuple[int, Sample]]] = defaultdict(list)
    for pid, order, answer, outcome, n_tokens in one.rows():
        correct = judge.correct(pid, answer, outcome)
        by_problem[pid].append((order, Sample(answer, bool(correct), n_tokens)))
    return {
        pid: [s for _, s in sorted(items, key=lambda x: x[0])] for pid, items in by_problem.items()
    }


def _report(
    name: str,
    one: Loaded,
    gold: dict[str, Problem],
    gold_name: str,
    judge: Judge,
    ks: list[int] | None,
) -> Report:
    """One input's report, with the counts of what it leaves out."""
    if one.solutions and one.results:
        # Per problem, maj@k would vote over sampled solutions and search answers together.
        raise RecordError(
            one.path,
            one.results[0][0],
            f"a search result among solutions ({len(one.solutions)} solutions, "
            f"{len(one.results)} search results): the table needs one file each",
        )
    methods = one.methods()
    if len(methods) > 1:
        raise MathverifyError(
            f"{one.path}: holds results of {len(methods)} methods ({', '.join(methods)}); maj@k "
            "over a mix of methods is no method's: give one file per method"
        )
    facets = {
        facet: {pid: str(p.meta[facet]) for pid, p in gold.items() if facet in p.meta}
        for facet in FACETS
    }
    samples = _samples(one, judge)
    try:
        report = evaluate(name, samples, ks=ks, groups={f: v for f, v in facets.items() if v})
    except MathverifyError as exc:
        raise MathverifyError(f"{one.path}: {exc}" + (" (--k)" if ks else "")) from None
    report.rows_without_problem = one.rows_without_problem
    report.ungraded = _undecided_counts(one, judge)
    report.missing_problems = len(set(gold) - set(samples))
    if report.missing_problems:
        _warn(
            f"{one.path}: {report.missing_problems} of {len(gold)} problems in {gold_name} "
            f"have no {one.noun}; the numbers cover the other {report.n_problems}"
        )
    if report.samples_per_problem != report.samples_per_problem_max:
        _warn(
            f"{one.path}: problems have {report.samples_per_problem} to "
            f"{report.samples_per_problem_max} samples; maj@k and pass@k go up to k = "
            f"{report.samples_per_problem}"
        )
    if report.samples_without_tokens:
        _warn(
            f"{one.path}: {report.samples_without_tokens} of {len(one)} {one.noun} have no token "
            "count (n_tokens 0); the token columns are n/a"
        )
    step_rows = one.step_rows()
    report.step_labels = step_label_stats(step_rows) if step_rows else None
    return report


# --------------------------------------------------------------------------------------
# --processbench


def _pb_samples(one: Loaded, default_split: str) -> list[processbench.PBSample]:
    """Samples of one file; the split is ``meta.split`` (as the converter writes it), else
    ``default_split``."""
    if one.results:
        number = one.results[0][0]
        raise RecordError(
            one.path, number, "--processbench reads scored solutions, not search results"
        )
    samples = []
    for number, solution in one.solutions:
        split = solution.meta.get("split")
        split = split if isinstance(split, str) and split else default_split
        try:
            samples.append(processbench.sample_from_solution(solution, split))
        except MathverifyError as exc:
            raise RecordError(one.path, number, str(exc)) from None
    if not samples:
        raise MathverifyError(f"{one.path}: no solutions to evaluate")
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
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]] | None]:
    """ProcessBench's per-split numbers for every input, with the threshold used; and the
    provenances of the held-out file's records (None without --threshold-from)."""
    if (threshold is None) == (threshold_from is None):
        raise MathverifyError("--processbench needs exactly one of --threshold or --threshold-from")
    samples = [_pb_samples(one, name) for one, name in zip(loaded, row_names, strict=True)]
    held_out_f1 = None
    held_out_n = None
    held_out_provenance = None
    if threshold_from is not None:
        _check_held_out(threshold_from, inputs)
        held_out = _load(threshold_from)
        held_out_provenance = collect(held_out.metas())
        held_out_samples = _pb_samples(held_out, Path(threshold_from).stem)
        try:
            threshold, held_out_f1 = processbench.choose_threshold(held_out_samples)
        except ValueError as exc:
            raise MathverifyError(f"--threshold-from {threshold_from}: {exc}") from None
        held_out_n = len(held_out_samples)
        evaluated = set().union(*(_scorers(one.solutions) for one in loaded))
        if _scorers(held_out.solutions) != evaluated:
            _warn(
                f"--threshold-from {threshold_from} was scored by "
                f"{sorted(_scorers(held_out.solutions))}, the inputs by {sorted(evaluated)}"
            )
    assert threshold is not None
    results = []
    for name, one, input_samples in zip(row_names, loaded, samples, strict=True):
        splits = processbench.evaluate_processbench(input_samples, threshold)
        f1s = [s.f1 for s in splits if s.f1 is not None]
        results.append(
            {
                "name": name,
                "splits": [s.to_dict() for s in splits],
                # ProcessBench's "Avg. F1": the mean over splits.
                "average_f1": sum(f1s) / len(f1s) if f1s else None,
                "solutions_with_unscored_steps": _unscored_steps(one.path, input_samples),
            }
        )
    numbers = {
        "threshold": threshold,
        "threshold_from": threshold_from,
        "held_out_samples": held_out_n,
        "held_out_f1": held_out_f1,
        "inputs": results,
    }
    return numbers, held_out_provenance


def _unscored_steps(name: str, samples: list[processbench.PBSample]) -> int:
    """Solutions with a step the scorer left unscored (never flagged: ProcessBench reads
    them as right). None scored at all is an error (every prediction would be "no wrong
    step"); some is a warning with the count."""
    unscored = sum(any(score is None for score in s.step_scores) for s in samples)
    if all(score is None for s in samples for score in s.step_scores):
        raise MathverifyError(
            f"--processbench: {name}: none of its {len(samples)} solutions has a step score"
        )
    if unscored:
        _warn(
            f"{name}: {unscored} of {len(samples)} solutions have steps without a score "
            "(never flagged as the first wrong step)"
        )
    return unscored


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


def _check_scores(name: str, solutions: list[Solution]) -> dict[str, int]:
    """Counts of solutions a plot uses in part; a warning for each part left out."""
    unscored = sum(calibration.solution_score(s) is None for s in solutions)
    step_scored = [s for s in solutions if s.step_scores is not None]
    unlabeled = sum(s.step_labels is None for s in step_scored)
    scored = len(solutions) - unscored
    by_min_step = sum(_scored_by_min_step(s) for s in solutions)
    if 0 < by_min_step < scored:
        # Two aggregations in one ranking: meta.score may be a product, the fallback a min.
        _warn(
            f"{name}: {by_min_step} of {scored} scored solutions have no meta.score; their "
            "score is their minimum step score"
        )
    if 0 < unscored < len(solutions):
        _warn(
            f"{name}: {unscored} of {len(solutions)} solutions have no score; they rank last "
            "in best-of-N and are left out of solution calibration"
        )
    if 0 < unlabeled < len(step_scored):
        _warn(
            f"{name}: {unlabeled} of {len(step_scored)} solutions with step scores have no step "
            "labels; step calibration leaves them out"
        )
    return {
        "solutions": len(solutions),
        "unscored_solutions": unscored,
        "scored_by_min_step": by_min_step,
        "step_scored_without_step_labels": unlabeled,
    }


def _scored_by_min_step(solution: Solution) -> bool:
    """Whether :func:`calibration.solution_score` fell back to the minimum step score."""
    return calibration.solution_score(solution) is not None and not _has_meta_score(solution)


def _has_meta_score(solution: Solution) -> bool:
    value = solution.meta.get("score")
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_tokens(one: Loaded, counts: dict[str, int]) -> None:
    """Search results without a token count sit at 0 tokens in accuracy-vs-tokens (and pull
    their method's mean down): the count goes in the JSON, with a warning."""
    without = sum(r.n_generated_tokens <= 0 for _, r in one.results)
    counts["search_results"] = len(one.results)
    counts["search_results_without_tokens"] = without
    if without:
        _warn(
            f"{one.path}: {without} of {len(one.results)} search results have no "
            "n_generated_tokens; accuracy-vs-tokens counts them as 0 tokens"
        )


def _check_even(name: str, candidates: dict[str, list[curves.Candidate]]) -> None:
    """The curve stops at the fewest samples a problem has: say so when problems differ."""
    sizes = [len(c) for c in candidates.values()]
    if min(sizes) != max(sizes):
        uneven = sum(size != min(sizes) for size in sizes)
        _warn(
            f"{name}: problems have {min(sizes)} to {max(sizes)} scored samples ({uneven} of "
            f"{len(sizes)} more than {min(sizes)}); the best-of-N curve stops at N = {min(sizes)}"
        )


def _diagnostics(
    loaded: list[Loaded], row_names: list[str], judge: Judge, *, bins: int
) -> Diagnostics:
    # matplotlib loads only when plotting.
    from mathverify.eval.plots import Diagnostics

    diagnostics = Diagnostics(
        settings={
            "bins": bins,
            "best_of_n": curves.BEST_OF_N_DEFINITION,
            "majority": DEFINITIONS["maj@k"],
            "pass_at_n": DEFINITIONS["pass@k"],
        }
    )

    def correct(name: str, problem_id: str, answer: str | None, outcome: bool | None) -> bool:
        verdict = judge.correct(problem_id, answer, outcome)
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
                diagnostics.counts[name] = _check_scores(one.path, solutions)
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
                _check_even(one.path, candidates)
                diagnostics.best_of_n[name] = curves.best_of_n_curve(candidates)
        except MathverifyError as exc:
            raise MathverifyError(f"{name}: {exc}") from None
        for _, r in one.results:
            ok = correct(name, r.problem_id, r.answer, r.meta.get("outcome"))
            compute_rows.append((name, r.method, r.problem_id, ok, r.n_generated_tokens))
        if one.results:
            _check_tokens(one, diagnostics.counts.setdefault(name, {}))
    diagnostics.compute = curves.compute_points(compute_rows)
    plotted = {
        *diagnostics.step_calibration,
        *diagnostics.solution_calibration,
        *(p.name for p in diagnostics.compute),
    }
    if not plotted:
        raise MathverifyError(
            "--plot: nothing to plot (no scored solutions and no search results in the inputs)"
        )
    for name, one in zip(row_names, loaded, strict=True):
        if name not in plotted:
            _warn(
                f"{one.path}: nothing to plot (no scores and no search results); not in the plots"
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


# --------------------------------------------------------------------------------------
# Provenance: what made each number

# Settings of an input's records the one-line summary shows, when a stage stamped them.
MADE_BY_KEYS = ("policy", "scorer", "scorer_format", "method", "temperature", "seed", "grading")


def _input_provenance(one: Loaded, name: str) -> dict[str, list[dict[str, Any]]]:
    """The distinct provenances of ``one``'s records; a stage whose records differ is a
    warning (the input mixes runs, and every number mixes them)."""
    stages = collect(one.metas())
    for stage, settings in stages.items():
        if len(settings) > 1:
            differ = sorted(
                {
                    key
                    for s in settings
                    for key in s
                    if any(s.get(key) != t.get(key) for t in settings)
                }
            )
            _warn(
                f"{one.path}: its records were made by {len(settings)} different {stage} "
                f"settings (differing in {', '.join(differ)}); its numbers mix them"
            )
    return stages


def _made_by(inputs: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    """One line: the stages (and their key settings) that made each input."""
    parts = []
    for name, stages in inputs.items():
        if not stages:
            parts.append(f"{name}: no provenance in its records")
            continue
        described = []
        for stage, settings in stages.items():
            if len(settings) > 1:
                described.append(f"{stage} ({len(settings)} different settings)")
                continue
            shown = [
                f"{k}={settings[0][k]}" for k in MADE_BY_KEYS if settings[0].get(k) is not None
            ]
            described.append(f"{stage}({', '.join(shown)})" if shown else stage)
        parts.append(f"{name}: {' '.join(described)}")
    return "eval: made by " + "; ".join(parts)


def _report_provenance(
    settings: dict[str, Any], inputs: dict[str, dict[str, list[dict[str, Any]]]], **more: Any
) -> dict[str, Any]:
    """``{"eval": eval's settings and version, "inputs": each input's provenances, ...}``."""
    return {"eval": Provenance("eval", settings).to_dict(), "inputs": inputs, **more}


def _eval_settings(mode: Mode, options: dict[str, Any]) -> dict[str, Any]:
    """The settings that shaped this run's numbers: only those of the chosen mode (paths of
    outputs and worker counts shape nothing)."""
    settings: dict[str, Any] = {}
    if mode.accuracy:
        source = "problems" if options["problems"] is not None else "qaf"
        settings[source] = options[source]
        settings["outcomes"] = "outcome labels where present, else graded against the gold answer"
        settings["graders"] = options["graders"]
        settings["grading"] = options["grading_mode"]
        if options["no_rule"]:
            settings["no_rule"] = options["no_rule"]
        settings["grade_timeout"] = options["grade_timeout"]
        settings["ks"] = options["ks"] if options["ks"] else "1, 2, 4, ..., fewest samples"
        settings["definitions"] = dict(DEFINITIONS)
    if mode.processbench:
        settings["threshold"] = options["threshold"]
        settings["threshold_from"] = options["threshold_from"]
    if mode.plot:
        settings["bins"] = options["bins"]
        settings["best_of_n"] = curves.BEST_OF_N_DEFINITION
        settings["solution_score"] = "meta.score, else the minimum step score"
    return settings


def _write_json(json_path: str, payload: dict[str, Any]) -> None:
    text = json.dumps(payload, indent=2) + "\n"
    if json_path == STDIO:
        sys.stdout.write(text)
    else:
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@command(
    "eval",
    help=(
        "Accuracy (mean over problems of the share of right samples, ± standard error), maj@k, "
        "pass@k and generated tokens per problem, for each input file of solutions or search "
        "results; per subject and level when the problems carry them. Uses `outcome` labels "
        "when present and grades the rest.\n\n"
        "maj@k, pass@k (and best-of-N with --plot) at k below the n samples of a problem are "
        "exact expectations over all k-subsets of its n samples (pass@k: the unbiased "
        "estimator of Chen et al. 2021), averaged over problems; a majority vote that ties the "
        "right answer with t-1 wrong ones counts 1/t. So maj@1 = pass@1 = accuracy. Samples "
        "without an answer do not vote.\n\n"
        "Solutions whose problem is not in --problems are an error when none has one, else "
        "left out with a warning; so are answers the grader cannot judge (counted wrong).\n\n"
        "--processbench: for scored, step-labeled solutions (mathverify score on the output of "
        "`data processbench` or `label --method exact`), predict the first wrong step as the "
        "first step scored below a threshold (--threshold, or the F1-best one on a held-out "
        "file with --threshold-from) and report ProcessBench's accuracy on erroneous and on "
        "correct samples and their F1, per split (meta.split, else the input's name).\n\n"
        "--plot DIR: reliability diagrams and ECE of step and solution scores, best-of-N "
        "against majority vote for scored solutions, and accuracy against mean generated "
        "tokens for search results, as PNGs and DIR/diagnostics.json.\n\n"
        "With --processbench or --plot, --problems/--qaf is optional: give it to print the "
        "accuracy table too and to grade rows without an outcome label. An option the chosen "
        "mode does not read is an error. Every JSON written has a `provenance`: eval's "
        "settings and the provenance stamped into the input records."
    ),
)
def eval_command(
    ctx: typer.Context,
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Solution or search-result JSONL files (- for stdin); or give them with -i.",
            show_default=False,
        ),
    ] = None,
    input_paths: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", help=INPUT_HELP, rich_help_panel=IO, show_default=False),
    ] = None,
    problems: ProblemsOpt = None,
    qaf: Annotated[
        str | None,
        typer.Option(
            "--qaf",
            help="MARIO_EVAL question/answer file instead of --problems.",
            rich_help_panel=IO,
        ),
    ] = None,
    json_path: Annotated[
        str | None,
        typer.Option(
            "--json",
            help="Write the numbers as JSON to this path (- for stdout).",
            rich_help_panel=IO,
        ),
    ] = None,
    names: Annotated[
        str | None,
        typer.Option(
            "--names", help="Row names, comma-separated, one per input.", rich_help_panel=IO
        ),
    ] = None,
    plot: Annotated[
        str | None,
        typer.Option(
            "--plot",
            help="Write calibration, best-of-N and tokens plots (and JSON) to this folder.",
            rich_help_panel=IO,
        ),
    ] = None,
    k: Annotated[
        str | None,
        typer.Option(
            "--k",
            help="k for maj@k and pass@k, comma-separated (default: 1, 2, 4, ..., n).",
            rich_help_panel=METRICS,
        ),
    ] = None,
    processbench_flag: Annotated[
        bool,
        typer.Option(
            "--processbench",
            help="ProcessBench's first-wrong-step accuracies and F1, per split.",
            rich_help_panel=METRICS,
        ),
    ] = False,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help="--processbench: a step scored below this (in [0, 1]) is wrong.",
            rich_help_panel=METRICS,
        ),
    ] = None,
    threshold_from: Annotated[
        str | None,
        typer.Option(
            "--threshold-from",
            help="--processbench: the F1-best threshold on this held-out file.",
            rich_help_panel=METRICS,
        ),
    ] = None,
    bins: Annotated[
        int,
        typer.Option(
            "--bins", help="--plot: equal-width calibration bins.", rich_help_panel=METRICS
        ),
    ] = 10,
    compare_labels: Annotated[
        str | None,
        typer.Option(
            "--compare-labels",
            metavar="GOLD",
            help="Compare each input's step labels with GOLD's (see docs/eval.md).",
            rich_help_panel=METRICS,
        ),
    ] = None,
    label_threshold: Annotated[
        float | None,
        typer.Option(
            "--label-threshold",
            help="--compare-labels: a soft label at least this is a correct step.",
            rich_help_panel=METRICS,
        ),
    ] = None,
    until_first_wrong: Annotated[
        bool,
        typer.Option(
            "--until-first-wrong",
            help="--compare-labels: count steps up to each input's first wrong one.",
            rich_help_panel=METRICS,
        ),
    ] = False,
    subsets: Annotated[
        int | None,
        typer.Option(
            "--subsets",
            hidden=True,
            help="Gone: best-of-N and maj@k are exact over all N-subsets.",
        ),
    ] = None,
    seed: SeedOpt = 0,
    graders: GradersOpt = "math-verify",
    audit: AuditOpt = None,
    grade_timeout: GradeTimeoutOpt = 5.0,
    grading_mode: GradingModeOpt = "strict",
    no_rule: NoRuleOpt = None,
    grade_workers: GradeWorkersOpt = 2,
) -> None:
    inputs = [*(inputs or []), *(input_paths or [])]
    if not inputs:
        raise MathverifyError("give the files to evaluate: -i FILE (repeatable) or as arguments")
    mode = Mode(
        accuracy=problems is not None or qaf is not None,
        processbench=processbench_flag,
        plot=plot is not None,
        compare=compare_labels is not None,
    )
    _check_options(ctx, mode)
    if compare_labels is not None:
        _compare_labels(
            compare_labels, inputs, names, json_path, label_threshold, until_first_wrong, seed
        )
        return
    if bins < 1:
        raise MathverifyError(f"--bins must be at least 1, got {bins}")
    gold = (
        _load_problems(problems, qaf)
        if mode.accuracy or not (mode.processbench or mode.plot)
        else {}
    )
    ks = _parse_ks(k)
    if mode.accuracy:
        _check_grading(graders, grading_mode, no_rule)
    row_names = _row_names(inputs, names)
    loaded = [_load(path) for path in inputs]
    provenance_inputs = {
        name: _input_provenance(one, name) for name, one in zip(row_names, loaded, strict=True)
    }
    gold_name = display_name(problems if problems is not None else qaf or "")
    graded = [_match_problems(one, gold, gold_name) for one in loaded] if gold else loaded
    grading = {
        "graders": graders,
        "audit": audit,
        "timeout": grade_timeout,
        "workers": grade_workers,
        "grading": grading_mode,
        "no_rule": no_rule,
    }
    judge = _grade(graded, gold, grading)
    reports = (
        [
            _report(name, one, gold, gold_name, judge, ks)
            for name, one in zip(row_names, graded, strict=True)
        ]
        if mode.accuracy
        else []
    )
    pb_numbers, held_out_provenance = (
        _processbench(loaded, row_names, inputs, threshold, threshold_from)
        if mode.processbench
        else (None, None)
    )
    settings = _eval_settings(
        mode,
        {
            "problems": problems,
            "qaf": qaf,
            "graders": graders,
            "grading_mode": grading_mode,
            "no_rule": no_rule,
            "grade_timeout": grade_timeout,
            "ks": ks,
            "threshold": pb_numbers["threshold"] if pb_numbers else threshold,
            "threshold_from": threshold_from,
            "bins": bins,
        },
    )
    more = {} if held_out_provenance is None else {"threshold_from": held_out_provenance}
    provenance = _report_provenance(settings, provenance_inputs, **more)
    diagnostics = None
    if plot is not None:
        from mathverify.eval.plots import write_diagnostics

        diagnostics = _diagnostics(graded, row_names, judge, bins=bins)
        diagnostics.provenance = provenance
        written = write_diagnostics(plot, diagnostics)
        typer.echo(f"eval: wrote {', '.join(str(p) for p in written)}", err=True)
    _print_tables(reports, ks, pb_numbers, diagnostics, to_stderr=json_path == STDIO)
    typer.echo(_made_by(provenance_inputs), err=True)
    if json_path:
        payload: dict[str, Any] = {
            "provenance": provenance,
            "reports": [r.to_dict() for r in reports],
        }
        if pb_numbers is not None:
            payload["processbench"] = pb_numbers
        if diagnostics is not None:
            payload["diagnostics"] = diagnostics.to_dict()
        _write_json(json_path, payload)


def _parse_ks(k: str | None) -> list[int] | None:
    if not k:
        return None
    try:
        ks = [int(x) for x in k.split(",")]
    except ValueError:
        raise MathverifyError(f"--k {k!r}: expected comma-separated integers") from None
    if min(ks) < 1:
        raise MathverifyError(f"--k {k!r}: every k must be at least 1")
    return ks


def _print_tables(
    reports: list[Report],
    ks: list[int] | None,
    pb_numbers: dict[str, Any] | None,
    diagnostics: Diagnostics | None,
    *,
    to_stderr: bool,
) -> None:
    """Every table, on stdout (stderr when stdout carries the JSON)."""
    out = Console(file=sys.stderr if to_stderr else sys.stdout)
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
    from mathverify.eval.labels import BOOTSTRAP_SAMPLES, compare_label_files, markdown_table

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
    inputs_provenance = {c.name: c.provenance for c in comparisons}
    typer.echo(_made_by(inputs_provenance), err=True)
    if json_path:
        settings = {
            "compare_labels": gold,
            "label_threshold": threshold,
            "until_first_wrong": until_first_wrong,
            "bootstrap_samples": BOOTSTRAP_SAMPLES,
            "seed": seed,
        }
        gold_provenance: dict[str, list[dict[str, Any]]] = {}
        for c in comparisons:
            for stage, settings_list in c.gold_provenance.items():
                seen = gold_provenance.setdefault(stage, [])
                seen += [s for s in settings_list if s not in seen]
        payload = {
            "provenance": _report_provenance(settings, inputs_provenance, gold=gold_provenance),
            "gold": gold,
            "label_threshold": threshold,
            "until_first_wrong": until_first_wrong,
            "comparisons": [c.to_dict() for c in comparisons],
        }
        _write_json(json_path, payload)
