"""Reading the answer off a finished search tree, as AlphaMath's released offline inference does.

MCTS with the tree budget (:mod:`mathverify.search.mcts`) grows one tree per problem and
only then picks an answer; this module is that pick, and offline re-selection over saved
trees can call the same function. It follows Super_MARIO ``offline_inference.py``
``get_solution`` (lines 130-189) with the settings of ``configs/offline_inference.yaml``
(``prune: True`` line 5, ``mcts_infer_strategy: "q_value"`` line 6, B1 = 1 line 4, B2 = 5
line 3):

1. **Prune** (``prune_node``, lines 94-105): a leaf that is not a valid final answer is
   pruned, and so is every node all of whose children are pruned. A valid final answer is
   a childless terminal node with an answer (``is_valid_final_answer_node``, lines 87-91):
   a solution cut by the depth limit or finished without an extractable answer is not.
   If the root is pruned the tree has no answer (lines 150-154).
2. **Walk** (lines 157-173): from the root, the non-pruned children of the current nodes
   are ranked by ``rule`` (Q by default; ties keep child order, as Python's stable sort
   there does) and the best ``width`` (B1) are kept; a kept valid final answer moves to
   the finished list and narrows the beam by one, a kept childless node is dropped and
   narrows it too (with pruning that cannot happen: every non-pruned leaf is an answer).
3. **Answer** (lines 175-179): the finished node ranked first by ``rule``.

``max_children`` is the released ``rebuild_tree`` cap (lines 54-84, ``b1 * b2`` children
per node, the first ones in creation order); None keeps every child.

This module reads tree nodes as the dicts of a :class:`~mathverify.records.Tree`
(``id, parent, terminal, answer, q, visits, value, prior``); it is not a search itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["RULE_DEFAULTS", "is_answer_leaf", "pruned", "rank_value", "tree_answer", "walk"]

Node = Mapping[str, Any]

# What an unset field counts as when ranking. An unvisited node's Q is 0 (Super_MARIO
# mcts_math/nodes/mcts_node.py:23-26 ``q_value``), as is its visit count; an unset value or
# prior ranks last.
RULE_DEFAULTS: dict[str, float] = {
    "q": 0.0,
    "visits": 0.0,
    "value": float("-inf"),
    "prior": float("-inf"),
}


def rank_value(node: Node, rule: str) -> float:
    """The number ``rule`` ranks ``node`` by (larger is better)."""
    value = node.get(rule)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return RULE_DEFAULTS.get(rule, float("-inf"))
    return float(value)


def is_answer_leaf(node: Node, children: Sequence[Any]) -> bool:
    """A childless terminal node with a final answer (offline_inference.py:87-91)."""
    return not children and bool(node.get("terminal")) and node.get("answer") is not None


def _children(nodes: Sequence[Node], max_children: int | None) -> dict[Any, list[Any]]:
    """Each node's children ids, in creation order, at most ``max_children`` of them."""
    kids: dict[Any, list[Any]] = {node["id"]: [] for node in nodes}
    for node in nodes:
        parent = node["parent"]
        if parent is None:
            continue
        row = kids.setdefault(parent, [])
        if max_children is None or len(row) < max_children:
            row.append(node["id"])
    return kids


def _reachable(root: Any, kids: Mapping[Any, list[Any]]) -> list[Any]:
    """Ids below ``root`` (root included), parents before children."""
    order = [root]
    for key in order:
        order.extend(kids.get(key, []))
    return order


def pruned(nodes: Sequence[Node], max_children: int | None = None) -> set[Any]:
    """Ids of the pruned nodes (offline_inference.py:94-105): non-answer leaves and every
    node whose children are all pruned."""
    by_id = {node["id"]: node for node in nodes}
    kids = _children(nodes, max_children)
    roots = [node["id"] for node in nodes if node["parent"] is None]
    out: set[Any] = set()
    for root in roots:
        # Children before parents, so each node's verdict sees its children's.
        for key in reversed(_reachable(root, kids)):
            row = kids.get(key, [])
            if row:
                if all(child in out for child in row):
                    out.add(key)
            elif not is_answer_leaf(by_id[key], row):
                out.add(key)
    return out


def walk(
    nodes: Sequence[Node],
    *,
    rule: str = "q",
    width: int = 1,
    max_children: int | None = None,
    prune: bool = True,
    key: Callable[[Node], float] | None = None,
) -> list[Node]:
    """The valid final answers the beam walk of step 2 reaches, ranked best first by ``rule``.

    ``key`` overrides ``rule`` with any ranking function. Without ``prune`` the walk runs
    on the whole tree (``get_solution`` with ``prune=False``).
    """
    rank = key or (lambda node: rank_value(node, rule))
    by_id = {node["id"]: node for node in nodes}
    kids = _children(nodes, max_children)
    roots = [node["id"] for node in nodes if node["parent"] is None]
    if len(roots) != 1:
        raise ValueError(f"a tree has one root, found {len(roots)}")
    gone = pruned(nodes, max_children) if prune else set()
    if roots[0] in gone:
        return []
    finished: list[Node] = []
    current = [roots[0]]
    left = width
    while current and left > 0:
        candidates = [c for key_ in current for c in kids.get(key_, []) if c not in gone]
        # sorted() is stable: equal ranks keep candidate (creation) order.
        ranked = sorted(candidates, key=lambda c: -rank(by_id[c]))[:left]
        current = []
        for child in ranked:
            row = kids.get(child, [])
            if is_answer_leaf(by_id[child], row):
                finished.append(by_id[child])
                left -= 1
            elif not row:
                left -= 1  # a dead end: dropped, and the beam narrows
            else:
                current.append(child)
    return sorted(finished, key=lambda node: -rank(node))


def tree_answer(
    nodes: Sequence[Node],
    *,
    rule: str = "q",
    width: int = 1,
    max_children: int | None = None,
) -> Node | None:
    """The node whose answer the pruned tree gives (steps 1-3), or None when it has none."""
    finished = walk(nodes, rule=rule, width=width, max_children=max_children)
    return finished[0] if finished else None
