"""Pieces every search method shares: timed backend and scorer calls, whole-solution sampling,
answer clustering and voting, result records, and grading results against gold answers.

Not a search method itself: those live one per module beside this one.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from mathverify.backends.base import Completion, Policy, StepCompletion, next_steps
from mathverify.errors import MathverifyError
from mathverify.eval.metrics import normalize_answer
from mathverify.grading import GradingPool
from mathverify.records import Problem, SearchResult
from mathverify.search.config import SearchConfig
from mathverify.step_scores import Scorer, StepScores, aggregate_or_none, checked_scores
from mathverify.steps import extract_answer, split_steps


def call_seed(seed: int, first_problem_id: str, call: int) -> int:
    """A seed for one backend call, fixed by the run seed, the batch and the call's place in it.

    A batch is named by its first problem, so the same batch draws the same samples however
    many batches came before it (``--resume``, ``--shard``).
    """
    return random.Random(f"{seed}/{first_problem_id}/{call}").getrandbits(63)


@dataclass
class Stats:
    """Backend and scorer calls of one batch, with the seconds spent inside them."""

    backend_calls: int = 0
    backend_seconds: float = 0.0
    scorer_calls: int = 0
    scorer_seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    def complete(
        self, policy: Policy, prompts: list[str], **options: Any
    ) -> list[list[Completion]]:
        start = time.perf_counter()
        out = policy.complete(prompts, **options)
        self.backend_seconds += time.perf_counter() - start
        self.backend_calls += 1
        if len(out) != len(prompts):
            raise MathverifyError(
                f"policy {policy.name}: returned {len(out)} results for {len(prompts)} prompts"
            )
        return out

    def next_steps(
        self, policy: Policy, prefixes: list[str], **options: Any
    ) -> list[list[StepCompletion]]:
        start = time.perf_counter()
        out = next_steps(policy, prefixes, **options)
        self.backend_seconds += time.perf_counter() - start
        self.backend_calls += 1
        if len(out) != len(prefixes):
            raise MathverifyError(
                f"policy {policy.name}: returned {len(out)} results for {len(prefixes)} prompts"
            )
        return out

    def score(
        self, scorer: Scorer, problems: list[str], steps: list[list[str]]
    ) -> list[StepScores]:
        start = time.perf_counter()
        out = scorer.score(problems, steps)
        self.scorer_seconds += time.perf_counter() - start
        self.scorer_calls += 1
        return list(checked_scores(scorer, steps, out))

    def timing(self, n_problems: int) -> dict[str, Any]:
        total = time.perf_counter() - self.started
        return {
            "batch_problems": n_problems,
            "batch_seconds": total,
            "backend_seconds": self.backend_seconds,
            "scorer_seconds": self.scorer_seconds,
            "backend_calls": self.backend_calls,
            "scorer_calls": self.scorer_calls,
        }


# --------------------------------------------------------------------------------------
# Whole solutions (greedy, majority, best-of-n, weighted vote)


@dataclass
class Sampled:
    """One whole sampled solution of one problem."""

    sample: int
    text: str
    steps: list[str]
    answer: str | None
    n_tokens: int
    finish_reason: str
    step_scores: StepScores | None = None
    score: float | None = None
    cluster: int | None = None

    def to_candidate(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "sample": self.sample,
            "answer": self.answer,
            "steps": self.steps,
            "n_tokens": self.n_tokens,
            "finish_reason": self.finish_reason,
        }
        if self.step_scores is not None:
            out["step_scores"] = self.step_scores
            out["score"] = self.score
        if self.cluster is not None:
            out["cluster"] = self.cluster
        return out


def sample_solutions(
    problems: list[Problem],
    policy: Policy,
    config: SearchConfig,
    stats: Stats,
    *,
    n: int,
    temperature: float,
) -> list[list[Sampled]]:
    """``n`` whole solutions per problem, all problems in one backend call.

    At temperature 0 the backend decodes greedily and draws nothing, so neither
    ``config.top_p`` nor ``config.seed`` is read (greedy's config records neither).
    """
    sampling = temperature > 0
    outputs = stats.complete(
        policy,
        [config.prompt.prompt(problem.problem) for problem in problems],
        n=n,
        temperature=temperature,
        top_p=config.top_p if sampling else 1.0,
        max_tokens=config.max_solution_tokens,
        stop=None,
        seed=call_seed(config.seed, problems[0].id, 0) if sampling else 0,
    )
    sampled: list[list[Sampled]] = []
    for completions in outputs:
        if len(completions) != n:
            raise MathverifyError(
                f"policy {policy.name}: returned {len(completions)} samples, expected {n}"
            )
        sampled.append(
            [
                Sampled(
                    sample=i,
                    text=c.text,
                    steps=split_steps(c.text, config.prompt.separator),
                    answer=extract_answer(c.text),
                    n_tokens=c.n_tokens,
                    finish_reason=c.finish_reason,
                )
                for i, c in enumerate(completions)
            ]
        )
    return sampled


def score_solutions(
    problems: list[Problem],
    sampled: list[list[Sampled]],
    scorer: Scorer,
    stats: Stats,
    how: str,
) -> None:
    """Score every sampled solution that has steps, in one scorer call; fills score fields.

    A solution with no steps is not scored: its candidate has no ``step_scores`` and no
    ``score`` (``mathverify score`` writes ``[]`` and ``null`` for one, :mod:`mathverify.scoring.solutions`).
    """
    texts: list[str] = []
    steps: list[list[str]] = []
    owners: list[Sampled] = []
    for problem, solutions in zip(problems, sampled, strict=True):
        for solution in solutions:
            if solution.steps:
                texts.append(problem.problem)
                steps.append(solution.steps)
                owners.append(solution)
    if not owners:
        return
    for solution, scores in zip(owners, stats.score(scorer, texts, steps), strict=True):
        solution.step_scores = list(scores)
        solution.score = aggregate_or_none(scores, how)


def rank_key(value: float | None) -> float:
    """Sort key for descending order where None ranks last."""
    return float("inf") if value is None else -value


# --------------------------------------------------------------------------------------
# Clustering answers and voting


def cluster_answers(
    answers: list[list[str | None]],
    *,
    group_by: str,
    pool: GradingPool | None,
) -> list[list[int | None]]:
    """A cluster index per answer (None for no answer), per problem; clusters in first-seen order.

    ``string`` groups by normalised text. ``grader`` also merges answers the grading pool
    finds equivalent (``1/2`` and ``0.5``): each new answer joins the first cluster whose
    representative (its first answer) it equals. All problems are graded together, one
    pool call per round of representatives.
    """
    # Exact text (after light normalisation) is always the same answer: no grader needed.
    normals = [[normalize_answer(a) for a in row] for row in answers]
    distinct: list[list[str]] = [
        list(dict.fromkeys(n for n in row if n is not None)) for row in normals
    ]
    raw_of: list[dict[str, str]] = []
    for row, norm_row in zip(answers, normals, strict=True):
        mapping: dict[str, str] = {}
        for raw, norm in zip(row, norm_row, strict=True):
            if norm is not None and raw is not None:
                mapping.setdefault(norm, raw)
        raw_of.append(mapping)
    cluster_of: list[dict[str, int]] = [{} for _ in answers]
    if group_by == "string" or pool is None:
        if group_by == "grader":
            raise MathverifyError("grouping answers by grader needs a grading pool")
        for p, keys in enumerate(distinct):
            for key in keys:
                cluster_of[p][key] = len(cluster_of[p])
    else:
        unassigned = [list(keys) for keys in distinct]
        n_clusters = [0] * len(answers)
        while any(unassigned):
            pairs: list[tuple[str, str]] = []
            owners: list[tuple[int, str]] = []
            representatives: list[str | None] = []
            for p, keys in enumerate(unassigned):
                if not keys:
                    representatives.append(None)
                    continue
                rep = keys[0]
                representatives.append(rep)
                cluster_of[p][rep] = n_clusters[p]
                for key in keys[1:]:
                    pairs.append((raw_of[p][key], raw_of[p][rep]))
                    owners.append((p, key))
            verdicts = pool.grade_many(pairs) if pairs else []
            joined: set[tuple[int, str]] = set()
            for (p, key), verdict in zip(owners, verdicts, strict=True):
                if verdict.equal:
                    cluster_of[p][key] = n_clusters[p]
                    joined.add((p, key))
            for p, rep in enumerate(representatives):
                if rep is None:
                    continue
                n_clusters[p] += 1
                unassigned[p] = [k for k in unassigned[p][1:] if (p, k) not in joined]
    return [[None if n is None else cluster_of[p][n] for n in row] for p, row in enumerate(normals)]


def vote(
    clusters: list[int | None],
    weights: list[float],
    tiebreak: list[float] | None = None,
) -> int | None:
    """The winning cluster: largest total weight, then largest tiebreak, then first seen."""
    total: dict[int, float] = {}
    best_tie: dict[int, float] = {}
    for i, cluster in enumerate(clusters):
        if cluster is None:
            continue
        total[cluster] = total.get(cluster, 0.0) + weights[i]
        tie = tiebreak[i] if tiebreak is not None else 0.0
        best_tie[cluster] = max(best_tie.get(cluster, float("-inf")), tie)
    if not total:
        return None
    # Cluster ids are in first-seen order, so -id prefers the earlier one.
    return max(total, key=lambda c: (total[c], best_tie[c], -c))


def grading_context(
    config: SearchConfig, pool: GradingPool | None, needed: bool
) -> AbstractContextManager[GradingPool | None]:
    """The pool to cluster with: the caller's, a fresh one when grouping by grader, or none."""
    if pool is not None or not needed or config.group_by != "grader":
        return nullcontext(pool)
    return GradingPool()


# --------------------------------------------------------------------------------------
# Results


def make_result(
    problem: Problem,
    method: str,
    config: SearchConfig,
    *,
    answer: str | None,
    steps: list[str],
    candidates: list[dict[str, Any]],
    n_generated_tokens: int,
    seconds: float,
    meta: dict[str, Any],
    tree_id: str | None = None,
) -> SearchResult:
    return SearchResult(
        problem_id=problem.id,
        method=method,
        answer=answer,
        steps=steps,
        config=config.to_dict(method),
        candidates=candidates,
        n_generated_tokens=n_generated_tokens,
        seconds=seconds,
        tree_id=tree_id,
        run=0,
        meta=meta,
    )


def grade_results(
    results: list[SearchResult],
    problems: dict[str, Problem],
    pool: GradingPool,
) -> None:
    """Set ``meta["outcome"]`` (and the grader's reason) on results whose problem has a gold answer."""
    todo = [
        r
        for r in results
        if problems.get(r.problem_id) is not None and problems[r.problem_id].answer
    ]
    if not todo:
        return
    verdicts = pool.grade_many([(r.answer, problems[r.problem_id].answer) for r in todo])
    for result, verdict in zip(todo, verdicts, strict=True):
        result.meta["outcome"] = verdict.equal
        result.meta["grade_reason"] = verdict.reason
        result.meta["grader"] = verdict.grader
        if verdict.rule:  # a lenient verdict that a rule decided
            result.meta["grade_rule"] = verdict.rule


SearchFn = Callable[..., list[SearchResult]]
