"""Majority vote (maj@k): sample ``n`` whole solutions per problem and vote over their answers.

Answers are grouped by equivalence (the grading pool), not by string, unless
``group_by="string"``; ties go to the answer seen first. No scorer is used.
"""

from __future__ import annotations

from mathverify.backends.base import Policy
from mathverify.grading import GradingPool
from mathverify.iterutils import batched
from mathverify.records import Problem, SearchResult, Tree
from mathverify.search.common import (
    Stats,
    cluster_answers,
    grading_context,
    make_result,
    sample_solutions,
    vote,
)
from mathverify.search.config import SearchConfig
from mathverify.step_scores import Scorer

METHOD = "majority"


def majority(
    problems: list[Problem],
    policy: Policy,
    scorer: Scorer | None,
    config: SearchConfig,
    *,
    pool: GradingPool | None = None,
    tree_sink: list[Tree] | None = None,
) -> list[SearchResult]:
    """The most frequent answer among ``config.n`` samples per problem."""
    results: list[SearchResult] = []
    with grading_context(config, pool, needed=True) as grading_pool:
        for batch in batched(problems, config.batch_problems):
            stats = Stats()
            sampled = sample_solutions(
                batch, policy, config, stats, n=config.n, temperature=config.temperature
            )
            clusters = cluster_answers(
                [[s.answer for s in row] for row in sampled],
                group_by=config.group_by,
                pool=grading_pool,
            )
            timing = stats.timing(len(batch))
            for problem, row, row_clusters in zip(batch, sampled, clusters, strict=True):
                for solution, cluster in zip(row, row_clusters, strict=True):
                    solution.cluster = cluster
                winner = vote(row_clusters, [1.0] * len(row))
                chosen = (
                    next((s for s in row if s.cluster == winner), None)
                    if winner is not None
                    else None
                )
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
                            "n_scored": 0,
                            "votes": sum(
                                1 for s in row if winner is not None and s.cluster == winner
                            ),
                        },
                    )
                )
    return results
