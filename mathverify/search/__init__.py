"""Search methods, one function per method with one signature, gathered in :data:`SEARCHES`.

Every method is called as ``fn(problems, policy, scorer, config, *, pool=None,
tree_sink=None) -> list[SearchResult]``: ``pool`` is a grading pool for grouping answers by
equivalence (a method opens its own when it needs one and none is given), ``tree_sink`` a
list that receives the search trees (SBS). Methods work on batches of problems: all of a
batch's prompts go to the backend, and all its candidates to the scorer, in one call.

Adding a method means adding a module and a line in :data:`SEARCHES`.
"""

from __future__ import annotations

from mathverify.search.best_of_n import best_of_n
from mathverify.search.common import SearchFn, cluster_answers, grade_results
from mathverify.search.config import SearchConfig, field_help
from mathverify.search.greedy import greedy
from mathverify.search.majority import majority
from mathverify.search.mcts import mcts
from mathverify.search.offline import offline, reselect
from mathverify.search.sbs import sbs
from mathverify.search.weighted_vote import weighted_vote

SEARCHES: dict[str, SearchFn] = {
    "greedy": greedy,
    "majority": majority,
    "best-of-n": best_of_n,
    "weighted-vote": weighted_vote,
    "sbs": sbs,
    "offline": offline,
    "mcts": mcts,
}

# Methods that rank solutions with a scorer: always, or (sbs) when the beam is wider than one.
USES_SCORER = ("best-of-n", "weighted-vote", "sbs")

__all__ = [
    "SEARCHES",
    "USES_SCORER",
    "SearchConfig",
    "SearchFn",
    "best_of_n",
    "cluster_answers",
    "field_help",
    "grade_results",
    "greedy",
    "majority",
    "mcts",
    "offline",
    "reselect",
    "sbs",
    "weighted_vote",
]
