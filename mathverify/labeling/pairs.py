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

Identical siblings (the same text, both finished or both not: MCTS as AlphaMath released
it keeps copies, ``--mcts-budget tree`` without ``--distinct``) are one step here, never a
pair with each other: their Q is the visit-weighted mean of the copies' Q values (what the
tree's backups through the step average to; the plain mean when no copy was visited), their
visits the sum, their node id the first copy's (``meta`` lists every copy's id). Two copies
with Q +1 and -1 from one rollout each would otherwise make a step its own rejected twin.

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
from dataclasses import dataclass, field
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


@dataclass
class _Step:
    """A distinct child step: its first copy, merged Q and visits, and every copy's id."""

    node: dict[str, Any]
    finished: bool
    q: float
    visits: int | None
    ids: list[Any] = field(default_factory=list)


def _distinct_steps(kids: list[dict[str, Any]]) -> list[_Step]:
    """The children with a step and a Q, identical ones merged, in first-copy order."""
    groups: dict[tuple[str, bool], list[tuple[dict[str, Any], float]]] = {}
    for kid in kids:
        q = node_q(kid)
        if str(kid["text"]).strip() and q is not None:
            finished = bool(kid.get("finished", kid.get("terminal")))
            groups.setdefault((str(kid["text"]), finished), []).append((kid, q))
    steps = []
    for (_text, finished), copies in groups.items():
        first = copies[0][0]
        if len(copies) == 1:
            steps.append(_Step(first, finished, copies[0][1], first.get("visits"), [first["id"]]))
            continue
        visits = [int(kid.get("visits") or 0) for kid, _ in copies]
        total = sum(visits)
        q = (
            sum(q * v for (_, q), v in zip(copies, visits, strict=True)) / total
            if total
            else sum(q for _, q in copies) / len(copies)
        )
        steps.append(_Step(first, finished, q, total, [kid["id"] for kid, _ in copies]))
    return steps


def _keeps(a: _Step, b: _Step, *, min_q_gap: float, min_visits: int, opposite_signs: bool) -> bool:
    """Whether step ``a`` chosen over step ``b`` passes the filters."""
    if not (a.q > b.q and a.q - b.q >= min_q_gap):
        return False
    if min(a.visits or 0, b.visits or 0) < min_visits:
        return False
    return not opposite_signs or a.q > 0 > b.q


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
        kids = _distinct_steps(children.get(node["id"], []))
        candidates = []
        for i, a in enumerate(kids):
            for j, b in enumerate(kids):
                if _keeps(
                    a,
                    b,
                    min_q_gap=min_q_gap,
                    min_visits=min_visits,
                    opposite_signs=opposite_signs,
                ):
                    candidates.append((a.q - b.q, i, j, a, b))
        if not candidates:
            continue
        # Largest gap first; the sort is stable on (i, j), i.e. creation order.
        candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
        if max_pairs_per_node is not None:
            candidates = candidates[:max_pairs_per_node]
        prefix = _prefix(node, by_id)
        for _gap, _i, _j, a, b in candidates:
            meta: dict[str, Any] = {"chosen_visits": a.visits, "rejected_visits": b.visits}
            if len(a.ids) > 1:
                meta["chosen_copies"] = a.ids
            if len(b.ids) > 1:
                meta["rejected_copies"] = b.ids
            yield StepPair(
                problem_id=tree.problem_id,
                run=tree.run,
                node=node["id"],
                prefix=prefix,
                chosen=str(a.node["text"]),
                rejected=str(b.node["text"]),
                chosen_q=a.q,
                rejected_q=b.q,
                chosen_node=a.node["id"],
                rejected_node=b.node["id"],
                chosen_finished=a.finished,
                rejected_finished=b.finished,
                meta=meta,
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
