"""Why step-level beam search wins or loses here: selection quality against the exact step labels.

Reads the search results the Makefile wrote (their ``candidates`` list every proposed step
with its parent, depth, score and whether the beam kept it) and judges every candidate with
the synthetic task's exact checker (:func:`mathverify.data.synthetic.check_steps`), so it
needs no saved trees and no model. For each SBS row it measures:

- per selection (one problem, one run, one depth: all candidates the beams proposed there),
  whether any candidate is still right (every step so far correct); when one is, how often
  the top-scored candidate is right, against the candidate the policy finds likeliest (what
  SBS ranks by without a scorer) and a candidate drawn at random (the mean share of right
  candidates); the scorer's AUROC among the candidates of one selection; and how many kept
  candidates are the same partial solution as another kept one (a collapsed beam), and how
  often the top-scored candidate is the policy's likeliest;
- per step, how often a step the search kept (or a sampled step) is right when the steps
  before it are;
- per problem, where the right answer is lost: a kept finished solution was right but the
  final choice took another (choice); the beam dropped its last right partial solution
  although a right candidate was proposed (pruning); or no right candidate was proposed from
  the beam's right partial solutions (generation). A problem with several runs counts under
  the first of these that some run shows.

For whole-solution rows (majority, best-of-n) it gives pass@N of the N samples beside the
accuracy, the same "generated vs chosen" split. Used by report.py; also runs on its own:

    python examples/sbs/diagnose.py runs/demo/data/test.jsonl runs/sbs/1.0/sbs-3-5.jsonl ...
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from mathverify.data.synthetic import check_steps
from mathverify.eval.labels import auroc
from mathverify.records import Problem, SearchResult, read_all, read_problems_by_id


@dataclass
class SelectionQuality:
    """How well the scorer picks among the candidates of one SBS selection, over all selections."""

    selections: int
    with_right_candidate: float  # share of selections where some candidate is still right
    top1_right: float | None  # P(top-scored candidate right | some candidate right)
    top_prior_right: float | None  # the same for the candidate the policy finds likeliest
    random_right: float | None  # mean share of right candidates, same selections
    kept_right: float | None  # share of kept candidates that are right (all selections)
    all_right: float | None  # share of all candidates that are right (all selections)
    kept_duplicates: float | None  # share of kept candidates equal to another kept one
    top_is_likeliest: float | None  # share of selections whose top-scored step is the likeliest
    within_auroc: float | None  # mean AUROC of score vs right over mixed selections


@dataclass
class Losses:
    """Per problem: where the right answer was lost (shares of problems; they sum to 1)."""

    problems: int
    chosen_right: float
    lost_choice: float  # a kept finished solution was right, the chosen one is not
    lost_pruning: float  # a right candidate was proposed, but the beam kept none
    never_generated: float  # the beam held right partial solutions, none proposed a right step
    finished_per_run: float | None = None  # SBS: kept finished solutions per run
    answers_per_run: float | None = None  # SBS: distinct answers among them


@dataclass
class Diagnosis:
    row: str
    selection: SelectionQuality | None
    losses: Losses
    # P(a step is right | the steps before it are): over the steps SBS kept, or the samples'.
    step_right: float | None = None


_CHECKED: dict[tuple[str, tuple[str, ...]], tuple[bool, bool]] = {}


def _check(problem: Problem, steps: tuple[str, ...]) -> tuple[bool, bool]:
    """(every step right so far, final answer right) of a (partial) solution."""
    if not steps:
        return True, False
    key = (problem.id, steps)
    if key not in _CHECKED:
        result = check_steps(problem, list(steps))
        _CHECKED[key] = (result.labels[-1] == 1, result.final_correct)
    return _CHECKED[key]


def _paths(candidates: list[dict[str, Any]]) -> dict[tuple[int, int], tuple[str, ...]]:
    """(run, node) -> the solution's non-empty steps up to that node (as SBS scores them)."""
    by_key = {(c["run"], c["node"]): c for c in candidates}
    paths: dict[tuple[int, int], tuple[str, ...]] = {}

    def path(key: tuple[int, int]) -> tuple[str, ...]:
        if key not in paths:
            c = by_key[key]
            parent = (key[0], c["parent"])
            before = path(parent) if parent in by_key else ()
            paths[key] = (*before, c["step"]) if c["step"] else before
        return paths[key]

    for key in by_key:
        path(key)
    return paths


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def outcome(result: SearchResult) -> bool:
    """The CLI's grade of the chosen answer against the gold one."""
    if "outcome" not in result.meta:
        raise SystemExit(f"result for {result.problem_id} has no graded outcome (meta.outcome)")
    return bool(result.meta["outcome"])


def _key(candidate: dict[str, Any]) -> tuple[int, int]:
    return candidate["run"], candidate["node"]


def _top(values: list[float | None]) -> int:
    """Index of the largest value, as SBS ranks: a missing value last, ties to the first."""
    return max(range(len(values)), key=lambda i: (values[i] is not None, values[i] or 0.0, -i))


def diagnose_sbs(results: list[SearchResult], problems: dict[str, Problem]) -> Diagnosis:
    selections = with_right = duplicates = n_kept = same_top = 0
    finished: list[float] = []
    answers: list[float] = []
    step_right: list[float] = []
    top1: list[float] = []
    top_prior: list[float] = []
    random: list[float] = []
    kept: list[float] = []
    every: list[float] = []
    aurocs: list[float] = []
    counts = {"chosen": 0, "choice": 0, "pruning": 0, "never": 0}
    for result in results:
        problem = problems[result.problem_id]
        paths = _paths(result.candidates)
        groups: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
        for c in result.candidates:
            groups[(c["run"], c["depth"])].append(c)
        finished_right = pruned_right = False
        lost_runs: set[int] = set()  # runs whose beam holds no right partial solution any more
        for (run, _depth), group in sorted(groups.items()):
            right = []
            for c in group:
                prefix_ok, answer_ok = _check(problem, paths[(c["run"], c["node"])])
                right.append(answer_ok if c["finished"] else prefix_ok)
            kept_right = [r for r, c in zip(right, group, strict=True) if c["selected"]]
            finished_right |= any(
                r and c["selected"] and c["finished"] for r, c in zip(right, group, strict=True)
            )
            if run not in lost_runs and not any(kept_right):
                # The beam lost its last right partial solution here: pruned if one was
                # proposed, never generated if none was.
                pruned_right |= any(right)
                lost_runs.add(run)
            selections += 1
            top_path = paths[_key(group[_top([c["score"] for c in group])])]
            same_top += top_path == paths[_key(group[_top([c["prior"] for c in group])])]
            kept_paths = [paths[(c["run"], c["node"])] for c in group if c["selected"]]
            n_kept += len(kept_paths)
            duplicates += len(kept_paths) - len(set(kept_paths))
            every.extend(float(r) for r in right)
            kept.extend(float(r) for r in kept_right)
            for c in group:
                parent = paths.get((c["run"], c["parent"]), ())
                if c["selected"] and _check(problem, parent)[0]:
                    step_right.append(float(_check(problem, paths[_key(c)])[0]))
            if any(right):
                with_right += 1
                top1.append(float(right[_top([c["score"] for c in group])]))
                top_prior.append(float(right[_top([c["prior"] for c in group])]))
                random.append(sum(right) / len(right))
                if not all(right):
                    scores = [c["score"] if c["score"] is not None else -1.0 for c in group]
                    value = auroc(scores, right)
                    if value is not None:
                        aurocs.append(value)
        for run in {c["run"] for c in result.candidates}:
            ends = [c for c in result.candidates if c["run"] == run and c["finished"]]
            ends = [c for c in ends if c["selected"]]
            finished.append(len(ends))
            answers.append(len({c["answer"] for c in ends}))
        if outcome(result):
            counts["chosen"] += 1
        elif finished_right:
            counts["choice"] += 1
        elif pruned_right:
            counts["pruning"] += 1
        else:
            counts["never"] += 1
    n = len(results)
    return Diagnosis(
        row="",
        selection=SelectionQuality(
            selections=selections,
            with_right_candidate=with_right / selections if selections else 0.0,
            top1_right=_mean(top1),
            top_prior_right=_mean(top_prior),
            random_right=_mean(random),
            kept_right=_mean(kept),
            all_right=_mean(every),
            kept_duplicates=duplicates / n_kept if n_kept else None,
            top_is_likeliest=same_top / selections if selections else None,
            within_auroc=_mean(aurocs),
        ),
        losses=Losses(
            problems=n,
            chosen_right=counts["chosen"] / n,
            lost_choice=counts["choice"] / n,
            lost_pruning=counts["pruning"] / n,
            never_generated=counts["never"] / n,
            finished_per_run=_mean(finished),
            answers_per_run=_mean(answers),
        ),
        step_right=_mean(step_right),
    )


def diagnose_samples(results: list[SearchResult], problems: dict[str, Problem]) -> Diagnosis:
    """Whole-solution rows: the chosen answer against pass@N of the samples (no pruning)."""
    counts = {"chosen": 0, "choice": 0, "never": 0}
    step_right: list[float] = []
    for result in results:
        problem = problems[result.problem_id]
        for c in result.candidates:
            steps = tuple(s for s in c["steps"] if s)
            for k in range(1, len(steps) + 1):
                right = _check(problem, steps[:k])[0]
                step_right.append(float(right))
                if not right:
                    break
        generated_right = any(
            _check(problem, tuple(s for s in c["steps"] if s))[1] for c in result.candidates
        )
        if outcome(result):
            counts["chosen"] += 1
        elif generated_right:
            counts["choice"] += 1
        else:
            counts["never"] += 1
    n = len(results)
    return Diagnosis(
        row="",
        selection=None,
        losses=Losses(
            problems=n,
            chosen_right=counts["chosen"] / n,
            lost_choice=counts["choice"] / n,
            lost_pruning=0.0,
            never_generated=counts["never"] / n,
        ),
        step_right=_mean(step_right),
    )


def diagnose(row: str, results: list[SearchResult], problems: dict[str, Problem]) -> Diagnosis:
    if not results:
        raise SystemExit(f"{row}: no search results")
    method = results[0].method
    if method == "sbs":
        found = diagnose_sbs(results, problems)
    elif method in ("greedy", "majority", "best-of-n", "weighted-vote"):
        found = diagnose_samples(results, problems)
    else:
        raise SystemExit(f"{row}: cannot diagnose method {method!r}")
    found.row = row
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("problems", help="problem records (the synthetic test set)")
    parser.add_argument("results", nargs="+", help="search result JSONL files")
    args = parser.parse_args()
    problems = read_problems_by_id(args.problems)
    for path in args.results:
        found = diagnose(path, read_all(path, SearchResult), problems)
        print(json.dumps(asdict(found)))


if __name__ == "__main__":
    main()
