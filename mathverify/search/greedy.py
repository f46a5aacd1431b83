"""Greedy decoding: one whole solution per problem at temperature 0, all problems in one call.

The baseline every other method is measured against; it needs no scorer.
"""

from __future__ import annotations

from mathverify.backends.base import Policy
from mathverify.grading import GradingPool
from mathverify.iterutils import batched
from mathverify.records import Problem, SearchResult, Tree
from mathverify.search.common import Stats, make_result, sample_solutions
from mathverify.search.config import SearchConfig
from mathverify.step_scores import Scorer

METHOD = "greedy"


def greedy(
    problems: list[Problem],
    policy: Policy,
    scorer: Scorer | None,
    config: SearchConfig,
    *,
    pool: GradingPool | None = None,
    tree_sink: list[Tree] | None = None,
) -> list[SearchResult]:
    """The temperature-0 solution of each problem (``scorer``, ``pool`` and ``tree_sink`` unused)."""
    results: list[SearchResult] = []
    for batch in batched(problems, config.batch_problems):
        stats = Stats()
        sampled = sample_solutions(batch, policy, config, stats, n=1, temperature=0.0)
        timing = stats.timing(len(batch))
        for problem, (solution,) in zip(batch, sampled, strict=True):
            results.append(
                make_result(
                    problem,
                    METHOD,
                    config,
                    answer=solution.answer,
                    steps=solution.steps,
                    candidates=[solution.to_candidate()],
                    n_generated_tokens=solution.n_tokens,
                    seconds=timing["batch_seconds"] / len(batch),
                    meta={"timing": timing, "n_scored": 0},
                )
            )
    return results
