"""Best-of-N: sample ``n`` whole solutions per problem, score them, keep the best.

The solution score aggregates the scorer's step scores (``min``, ``product``, ``last`` or
``mean``; "Let's Verify Step by Step" ranks PRM solutions by the product or minimum, an
ORM by its one score). Ties go to the earlier sample. All problems of a batch share one
backend call and one scorer call.
"""

from __future__ import annotations

from mathverify.backends.base import Policy
from mathverify.errors import MathverifyError
from mathverify.grading import GradingPool
from mathverify.iterutils import batched
from mathverify.records import Problem, SearchResult, Tree
from mathverify.search.common import (
    Stats,
    make_result,
    rank_key,
    sample_solutions,
    score_solutions,
)
from mathverify.search.config import SearchConfig
from mathverify.step_scores import Scorer

METHOD = "best-of-n"


def best_of_n(
    problems: list[Problem],
    policy: Policy,
    scorer: Scorer | None,
    config: SearchConfig,
    *,
    pool: GradingPool | None = None,
    tree_sink: list[Tree] | None = None,
) -> list[SearchResult]:
    """The highest-scoring of ``config.n`` samples per problem."""
    if scorer is None:
        raise MathverifyError(f"{METHOD} needs a scorer")
    how = config.aggregation(METHOD)
    results: list[SearchResult] = []
    for batch in batched(problems, config.batch_problems):
        stats = Stats()
        sampled = sample_solutions(
            batch, policy, config, stats, n=config.n, temperature=config.temperature
        )
        score_solutions(batch, sampled, scorer, stats, how)
        timing = stats.timing(len(batch))
        for problem, row in zip(batch, sampled, strict=True):
            chosen = min(row, key=lambda s: rank_key(s.score))  # first of the best
            results.append(
                make_result(
                    problem,
                    METHOD,
                    config,
                    answer=chosen.answer,
                    steps=chosen.steps,
                    candidates=[s.to_candidate() for s in row],
                    n_generated_tokens=sum(s.n_tokens for s in row),
                    seconds=timing["batch_seconds"] / len(batch),
                    meta={
                        "timing": timing,
                        "n_scored": sum(1 for s in row if s.step_scores is not None),
                        "chosen_sample": chosen.sample,
                        "score": chosen.score,
                    },
                )
            )
    return results
