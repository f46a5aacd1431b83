"""Offline re-selection: step-level beam search over saved trees, without generating (AlphaMath).

A tree saved by ``mathverify search --save-tree`` holds every candidate step with its
scores. Re-selection walks it depth by depth exactly as the online search did: the
children of the live beams (at most the first B2 of each, B1 x B2 of the root) are ranked by the node field
named by ``rule`` (``value``, ``q``, ``visits`` or ``prior``), the B1 best survive,
terminal ones leave the beam and narrow it, and a chosen node that was never expanded is
a dead end that narrows it too. The final choice uses the same :func:`~mathverify.search.sbs.decide`
as the online search, so with the online settings and ``rule="value"`` (``"prior"`` for a
search run without a scorer) the answer is the online one. Trees from other searches
(MCTS) re-select the same way; their ``q`` and ``visits`` fields carry the search's
statistics.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from mathverify.backends.base import Policy
from mathverify.errors import MathverifyError
from mathverify.grading import GradingPool
from mathverify.records import Problem, SearchResult, Tree, read_records
from mathverify.search.common import Stats, grading_context, make_result
from mathverify.search.config import SearchConfig
from mathverify.search.sbs import Finished, decide, select_beam
from mathverify.search.tree_answer import walk
from mathverify.step_scores import Scorer
from mathverify.steps import extract_answer

METHOD = "offline"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def released(tree: Tree, config: SearchConfig, separator: str) -> list[Finished]:
    """The valid final answers Super_MARIO's ``get_solution`` reaches in ``tree`` (pruned
    first, then the walk keeping the ``b1`` best children by ``config.rule``; at most
    ``b1 x b2`` children of a node, its ``rebuild_tree``), best first: the online MCTS answer
    of :mod:`mathverify.search.tree_answer` with the online settings."""
    nodes = tree.nodes
    by_id = {node["id"]: node for node in nodes}
    finished = walk(nodes, rule=config.rule, width=config.b1, max_children=config.b1 * config.b2)

    def path(node: dict[str, Any]) -> list[str]:
        steps: list[str] = []
        while node["parent"] is not None:
            steps.append(str(node["text"]))
            node = by_id[node["parent"]]
        return [s for s in reversed(steps) if s]

    out = []
    for node in finished:
        steps = path(node)
        answer = node["answer"] if "answer" in node else extract_answer(separator.join(steps))
        out.append(Finished(answer, _number(node.get(config.rule)), steps, node["id"]))
    return out


def reselect(tree: Tree, config: SearchConfig, separator: str) -> list[Finished]:
    """The finished solutions SBS(b1, b2) reaches in ``tree``, ranked by ``config.rule``."""
    if config.prune:
        return released(tree, config, separator)
    by_id: dict[Any, dict[str, Any]] = {}
    children: dict[Any, list[Any]] = defaultdict(list)
    roots = []
    for node in tree.nodes:
        key = _hashable(node["id"])
        if key in by_id:
            raise MathverifyError(
                f"tree of problem {tree.problem_id}: duplicate node id {node['id']!r}"
            )
        by_id[key] = node
        if node["parent"] is None:
            roots.append(key)
        else:
            children[_hashable(node["parent"])].append(key)
    if len(roots) != 1:
        raise MathverifyError(
            f"tree of problem {tree.problem_id} (run {tree.run}): expected one root, found {len(roots)}"
        )
    parent_of = {child: parent for parent, kids in children.items() for child in kids}

    def path(key: Any) -> list[str]:
        steps: list[str] = []
        while key in parent_of:
            steps.append(str(by_id[key]["text"]))
            key = parent_of[key]
        return [s for s in reversed(steps) if s]

    def rank(key: Any) -> float | None:
        return _number(by_id[key].get(config.rule))

    # With --distinct, candidates that spell the same partial solution count once.
    identity = (lambda key: tuple(path(key))) if config.distinct else None
    width = config.b1
    beam = roots
    finished: list[Finished] = []
    for depth in range(config.max_depth):
        if not beam or width <= 0:
            break
        # The root stands for B1 beams, so it has B1 x B2 children (see sbs).
        cap = config.b1 * config.b2 if depth == 0 else config.b2
        candidates = [child for key in beam for child in children.get(key, [])[:cap]]
        beam = []
        for key in select_beam(candidates, width, rank, identity):
            node = by_id[key]
            if node["terminal"]:
                steps = path(key)
                answer = (
                    node["answer"] if "answer" in node else extract_answer(separator.join(steps))
                )
                finished.append(Finished(answer, rank(key), steps, node["id"]))
                width -= 1
            elif children.get(key):
                beam.append(key)
            else:
                width -= 1  # never expanded: a dead end
    return finished


def _hashable(value: Any) -> Any:
    return value if isinstance(value, (int, str, float)) else repr(value)


def _separator(tree: Tree, config: SearchConfig) -> str:
    """The step separator of the search that saved ``tree`` (its config's prompt), which
    joins a terminal node's steps to find an answer the node does not store.

    Offline loads no policy, so its own ``config.prompt`` is only a fallback for trees
    saved without a config.
    """
    prompt = tree.config.get("prompt") or {}
    return str(prompt.get("separator", config.prompt.separator))


def load_trees(path: str) -> dict[str, list[Tree]]:
    """Trees by problem id, each problem's runs in run order."""
    trees: dict[str, list[Tree]] = defaultdict(list)
    for tree in read_records(path, Tree):
        trees[tree.problem_id].append(tree)
    for runs in trees.values():
        runs.sort(key=lambda t: t.run)
    return dict(trees)


def offline(
    problems: list[Problem],
    policy: Policy | None,
    scorer: Scorer | None,
    config: SearchConfig,
    *,
    pool: GradingPool | None = None,
    tree_sink: list[Tree] | None = None,
) -> list[SearchResult]:
    """Re-select an answer for each problem from the trees in ``config.trees`` (no model used)."""
    if not config.trees:
        raise MathverifyError("offline needs trees: set SearchConfig.trees (--trees)")
    trees = load_trees(config.trees)
    missing = [p.id for p in problems if p.id not in trees]
    if missing:
        raise MathverifyError(
            f"{config.trees}: no tree for problem {missing[0]!r}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    stats = Stats()
    runs_per_problem = [
        [reselect(t, config, _separator(t, config)) for t in trees[p.id]] for p in problems
    ]
    results: list[SearchResult] = []
    needed = config.vote or any(len(trees[p.id]) > 1 for p in problems)
    with grading_context(config, pool, needed=needed) as grading_pool:
        decisions = decide(
            runs_per_problem,
            vote_within_run=config.vote,
            group_by=config.group_by,
            pool=grading_pool,
        )
    timing = stats.timing(len(problems))
    for problem, runs, decision in zip(problems, runs_per_problem, decisions, strict=True):
        chosen = decision.chosen
        meta: dict[str, Any] = {
            "timing": timing,
            "n_scored": 0,
            "tree_tokens": sum(
                int(n.get("n_tokens") or 0) for t in trees[problem.id] for n in t.nodes
            ),
            "n_finished": [len(run) for run in runs],
            "chosen_run": decision.run,
            "chosen_node": chosen.node if chosen else None,
            "score": chosen.value if chosen else None,
        }
        if len(runs) > 1:
            meta["run_answers"] = [f.answer if f else None for f in decision.run_choices]
        results.append(
            make_result(
                problem,
                METHOD,
                config,
                answer=chosen.answer if chosen else None,
                steps=chosen.steps if chosen else [],
                candidates=[
                    {"run": r, "node": f.node, "answer": f.answer, "score": f.value}
                    for r, run in enumerate(runs)
                    for f in run
                ],
                n_generated_tokens=0,
                seconds=timing["batch_seconds"] / max(1, len(problems)),
                tree_id=problem.id,
                meta=meta,
            )
        )
    return results
