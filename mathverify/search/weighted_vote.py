"""Weighted vote: sample ``n`` solutions, score them, and sum the scores per distinct answer.

Answers are grouped by the grading pool's equivalence (``1/2`` and ``0.5`` are one answer),
not by string. The winning answer is the group with the largest score sum; its
best-scoring solution gives the steps. Solutions without an answer or a score do not vote.
"""

from __future__ import annotations

from mathverify.backends.base import Policy
from mathverify.errors import MathverifyError
from mathverify.grading import GradingPool
from mathverify.iterutils import batched
from mathverify.records import Problem, SearchResult, Tree
from mathverify.search.common import (
    Stats,
    cluster_answers,
    grading_context,
    make_result,
    rank_key,
    sample_solutions,
    score_solutions,
    vote,
)
from mathverify.search.config import SearchConfig
from mathverify.step_scores import Scorer

METHOD = "weighted-vote"


def weighted_vote(
    problems: list[Problem],
    policy: Policy,
    scorer: Scorer | None,
    config: SearchConfig,
    *,
    pool: GradingPool | None = None,
    tree_sink: list[Tree] | None = None,
) -> list[SearchResult]:
    """The answer whose solutions have the largest total score, per problem."""
    if scorer is None:
        raise MathverifyError(f"{METHOD} needs a scorer")
    how = config.aggregation(METHOD)
    results: list[SearchResult] = []
    with grading_context(config, pool, needed=True) as grading_pool:
        for batch in batched(problems, config.batch_problems):
            stats = Stats()
            sampled = sample_solutions(
                batch, policy, config, stats, n=config.n, temperature=config.temperature
            )
            score_solutions(batch, sampled, scorer, stats, how)
            clusters = cluster_answers(
                [[s.answer if s.score is not None else None for s in row] for row in sampled],
                group_by=config.group_by,
                pool=grading_pool,
            )
            timing = stats.timing(len(batch))
            for problem, row, row_clusters in zip(batch, sampled, clusters, strict=True):
                for solution, cluster in zip(row, row_clusters, strict=True):
                    solution.cluster = cluster
                winner = vote(row_clusters, [s.score or 0.0 for s in row])
                members = [s for s in row if winner is not None and s.cluster == winner]
                chosen = min(members, key=lambda s: rank_key(s.score)) if members else None
                results.append(
                    make_result(
                        problem,
                        METHOD,
                        config,
                        answer=chosen.answer if chosen else None,
                        steps=chosen.steps if chosen else [],
                        candidates=[s.to_candidate() for s in row],
                        n_generated_tokens=sum(s.n_tokens for s in row),
                        seconds=timing["batch_seconds"] / len(batch),
                        meta={
                            "timing": timing,
                            "n_scored": sum(1 for s in row if s.step_scores is not None),
                            "weight": sum(s.score or 0.0 for s in members),
                        },
                    )
                )
    return results
