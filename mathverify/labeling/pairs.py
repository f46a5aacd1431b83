"""Step-level preference pairs from saved MCTS trees (SVPO, Chen et al. 2024).

"Step-level Value Preference Optimization for Mathematical Reasoning"
(https://arxiv.org/abs/2406.10858) reads preferences off the MCTS trees AlphaMath already
builds: at a node, the children are alternative next steps after the same partial
solution, and their Q values say which is better. Each pair of siblings whose Q values
differ by at least ``min_q_gap`` gives one :class:`~mathverify.records.StepPair`: the shared
prefix (the parent's steps), the step with the higher Q chosen, the other rejected.

A child's Q is its ``q`` (the mean value backed up through it); an unvisited terminal child
has its ``reward`` as Q (a terminal node's Q always equals its reward, as in
:mod:`mathverify.labeling.mcts`); an unvisited open child has no Q and gives no pair.
Children with an empty step (a bare separator) give none either. Equal Q values (ties)
never give a pair, whatever ``min_q_gap``. With ``max_pairs_per_node`` a node keeps its
pairs with the largest Q gaps (ties: siblings in creation order), so one wide node does not
dominate the data.

Two more filters (ours, for the SVPO ablation of examples/alphamath; the paper's pair rule
is the Q order of siblings alone) drop pairs whose Q is a thin estimate, before the cap:

- ``min_visits``: both steps visited at least this often (a child's ``visits``; an
  unvisited terminal child, whose Q is its reward, has 0), so a Q from a single rollout or
  a single backup does not decide a pair;
- ``opposite_signs``: chosen Q > 0 > rejected Q, so the chosen step more often led to a
  right answer than not and the rejected one the reverse (Q in [-1, 1] is the mean of +1 /
  -1 outcomes).

Not here: the training loss (:mod:`mathverify.training.svpo`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from mathverify.errors import MathverifyError
from mathverify.records import Problem, StepPair, Tree

__all__ = ["check_pair_options", "node_q", "step_pairs", "tree_pairs"]


def check_pair_options(
    min_q_gap: float, max_pairs_per_node: int | None, min_visits: int = 0
) -> None:
    """Refuse a negative gap or visit count, or a cap below one pair (before any tree is
    read)."""
    if min_q_gap < 0:
        raise MathverifyError(f"--min-q-gap must be >= 0, got {min_q_gap}")
    if max_pairs_per_node is not None and max_pairs_per_node < 1:
        raise MathverifyError(f"--max-pairs-per-node must be >= 1, got {max_pairs_per_node}")
    if min_visits < 0:
        raise MathverifyError(f"--min-visits must be >= 0, got {min_visits}")


def node_q(node: dict[str, Any]) -> float | None:
    """A node's Q: its ``q``, or its reward when it is terminal and unvisited; else None."""
    if node.get("q") is not None:
        return float(node["q"])
    if node.get("terminal") and node.get("reward") is not None:
        return float(node["reward"])
    return None


def _keeps(
    a: dict[str, Any],
    qa: float,
    b: dict[str, Any],
    qb: float,
    *,
    min_q_gap: float,
    min_visits: int,
    opposite_signs: bool,
) -> bool:
    """Whether step ``a`` (Q ``qa``) chosen over step ``b`` (Q ``qb``) passes the filters."""
    if not (qa > qb and qa - qb >= min_q_gap):
        return False
    if min(int(a.get("visits") or 0), int(b.get("visits") or 0)) < min_visits:
        return False
    return not opposite_signs or qa > 0 > qb


def tree_pairs(
    tree: Tree,
    *,
    min_q_gap: float = 0.0,
    max_pairs_per_node: int | None = None,
    min_visits: int = 0,
    opposite_signs: bool = False,
) -> Iterator[StepPair]:
    """The step pairs of one tree, node by node in creation order."""
    check_pair_options(min_q_gap, max_pairs_per_node, min_visits)
    by_id = {node["id"]: node for node in tree.nodes}
    if len(by_id) != len(tree.nodes):
        raise MathverifyError(f"tree of problem {tree.problem_id!r}: duplicate node ids")
    children: dict[Any, list[dict[str, Any]]] = {}
    for node in tree.nodes:
        parent = node["parent"]
        if parent is None:
            continue
        if parent not in by_id:
            raise MathverifyError(
                f"tree of problem {tree.problem_id!r}: node {node['id']!r} has an unknown "
                f"parent {parent!r}"
            )
        children.setdefault(parent, []).append(node)
    for node in tree.nodes:
        kids = [
            (kid, q)
            for kid in children.get(node["id"], [])
            if str(kid["text"]).strip() and (q := node_q(kid)) is not None
        ]
        candidates = []
        for i, (a, qa) in enumerate(kids):
            for j, (b, qb) in enumerate(kids):
                if _keeps(
                    a,
                    qa,
                    b,
                    qb,
                    min_q_gap=min_q_gap,
                    min_visits=min_visits,
                    opposite_signs=opposite_signs,
                ):
                    candidates.append((qa - qb, i, j, a, b))
        if not candidates:
            continue
        # Largest gap first; the sort is stable on (i, j), i.e. creation order.
        candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
        if max_pairs_per_node is not None:
            candidates = candidates[:max_pairs_per_node]
        prefix = _prefix(node, by_id)
        for _gap, _i, _j, a, b in candidates:
            yield StepPair(
                problem_id=tree.problem_id,
                run=tree.run,
                node=node["id"],
                prefix=prefix,
                chosen=str(a["text"]),
                rejected=str(b["text"]),
                chosen_q=node_q(a),  # type: ignore[arg-type]
                rejected_q=node_q(b),  # type: ignore[arg-type]
                chosen_node=a["id"],
                rejected_node=b["id"],
                chosen_finished=bool(a.get("finished", a.get("terminal"))),
                rejected_finished=bool(b.get("finished", b.get("terminal"))),
                meta={"chosen_visits": a.get("visits"), "rejected_visits": b.get("visits")},
            )


def _prefix(node: dict[str, Any], by_id: Mapping[Any, dict[str, Any]]) -> list[str]:
    """The steps from the tree root down to ``node`` (empty texts left out)."""
    steps = []
    while node["parent"] is not None:
        steps.append(str(node["text"]))
        node = by_id[node["parent"]]
    return [s for s in reversed(steps) if s]


def step_pairs(
    trees: Iterable[Tree],
    problems: Mapping[str, Problem],
    *,
    min_q_gap: float = 0.0,
    max_pairs_per_node: int | None = None,
    min_visits: int = 0,
    opposite_signs: bool = False,
) -> Iterator[StepPair]:
    """The step pairs of every tree, in tree order; a tree's problem must be known."""
    for tree in trees:
        if tree.problem_id not in problems:
            raise MathverifyError(f"problem id {tree.problem_id!r} is not in the problems file")
        yield from tree_pairs(
            tree,
            min_q_gap=min_q_gap,
            max_pairs_per_node=max_pairs_per_node,
            min_visits=min_visits,
            opposite_signs=opposite_signs,
        )
