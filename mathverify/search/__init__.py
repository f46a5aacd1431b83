"""Search methods, one function per method with one signature, gathered in :data:`SEARCHES`.

Every method is called as ``fn(problems, policy, scorer, config, *, pool=None,
tree_sink=None) -> list[SearchResult]``: ``pool`` is a grading pool for grouping answers by
equivalence (a method opens its own when it needs one and none is given), ``tree_sink`` a
list that receives the search trees (SBS). Methods work on batches of problems: all of a
batch's prompts go to the backend, and all its candidates to the scorer, in one call.

Adding a method means adding a module, a line in :data:`SEARCHES`, and a row in
:data:`~mathverify.search.config.METHOD_FIELDS` naming the config fields it reads.
:func:`run_search` runs one method and records in each result and tree exactly the fields
it read.
"""

from __future__ import annotations

from mathverify.backends.base import Policy
from mathverify.grading import GradingPool
from mathverify.records import Problem, SearchResult, Tree
from mathverify.search.best_of_n import best_of_n
from mathverify.search.common import SearchFn, cluster_answers, grade_results
from mathverify.search.config import (
    METHOD_FIELDS,
    SCORER_METHODS,
    SearchConfig,
    check_options,
    config_from_options,
    field_help,
)
from mathverify.search.greedy import greedy
from mathverify.search.majority import majority
from mathverify.search.mcts import mcts
from mathverify.search.offline import offline, reselect
from mathverify.search.sbs import sbs
from mathverify.search.weighted_vote import weighted_vote
from mathverify.step_scores import Scorer

SEARCHES: dict[str, SearchFn] = {
    "greedy": greedy,
    "majority": majority,
    "best-of-n": best_of_n,
    "weighted-vote": weighted_vote,
    "sbs": sbs,
    "offline": offline,
    "mcts": mcts,
}


def run_search(
    method: str,
    problems: list[Problem],
    policy: Policy | None,
    scorer: Scorer | None,
    config: SearchConfig,
    *,
    pool: GradingPool | None = None,
    tree_sink: list[Tree] | None = None,
) -> list[SearchResult]:
    """``SEARCHES[method]`` on ``problems``, its results and trees recording what it read.

    A method records ``config.to_dict(method)``, which cannot know whether a scorer ranked
    (sbs without one ranks by the policy's prior and reads no aggregation; mcts with one
    values leaves by the scorer, not by rollouts). Here the scorer is known, so each record
    gets only the fields the method read.
    """
    first_tree = len(tree_sink) if tree_sink is not None else 0
    results = SEARCHES[method](problems, policy, scorer, config, pool=pool, tree_sink=tree_sink)
    trees = tree_sink[first_tree:] if tree_sink is not None else []
    recorded = config.to_dict(method, has_scorer=scorer is not None)
    for record in [*results, *trees]:
        record.config = dict(recorded)
    return results


__all__ = [
    "METHOD_FIELDS",
    "SCORER_METHODS",
    "SEARCHES",
    "SearchConfig",
    "SearchFn",
    "best_of_n",
    "check_options",
    "cluster_answers",
    "config_from_options",
    "field_help",
    "grade_results",
    "greedy",
    "majority",
    "mcts",
    "offline",
    "reselect",
    "run_search",
    "sbs",
    "weighted_vote",
]
