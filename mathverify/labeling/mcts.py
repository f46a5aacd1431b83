"""Q-value step labels from saved MCTS trees (AlphaMath's round data).

A tree saved by ``mathverify search --method mcts --save-tree`` holds every node's visit
count ``visits``, mean backed-up value ``q`` in [-1, 1], and for terminal nodes the
``reward`` (+1/-1 when the search graded against the gold answer). Each root-to-node path
becomes one labeled :class:`~mathverify.records.Solution` whose ``step_labels`` are the
nodes' Q mapped to [0, 1] by ``(q + 1) / 2`` (label source ``mcts``, the ``soft`` scheme):

- every terminal node gives a whole trajectory, correct (``outcome`` true, reward > 0) or
  incorrect, so the data has positive and negative examples; an unvisited terminal node's
  Q is its reward (a terminal node's Q always equals its reward);
- every visited non-terminal node with no terminal node below it gives a partial solution
  (``outcome`` None), so every visited node's Q appears in some example.

A node on several paths is labeled on each of them. ``outcome`` is set only for trees
searched with gold rewards (``config.gold_reward``); otherwise the reward is the scorer's
guess and ``outcome`` stays None (the reward is kept in ``meta``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from mathverify.errors import MathverifyError
from mathverify.prompting import PromptFormat
from mathverify.records import Problem, Solution, Tree

__all__ = ["LABEL_SOURCE", "label_mcts", "q_to_label"]

LABEL_SOURCE = "mcts"


def q_to_label(q: float) -> float:
    """A Q value in [-1, 1] as a soft step label in [0, 1]."""
    return min(1.0, max(0.0, (float(q) + 1.0) / 2.0))


def _node_target(node: dict[str, Any], problem_id: str) -> float:
    if node.get("q") is not None:
        return q_to_label(node["q"])
    if node.get("terminal") and node.get("reward") is not None:
        return q_to_label(node["reward"])
    raise MathverifyError(
        f"tree of problem {problem_id!r}: node {node['id']!r} on a labeled path has no q "
        "(not an MCTS tree?)"
    )


def _tree_solutions(tree: Tree) -> Iterator[Solution]:
    by_id = {node["id"]: node for node in tree.nodes}
    if len(by_id) != len(tree.nodes):
        raise MathverifyError(f"tree of problem {tree.problem_id!r}: duplicate node ids")
    children: dict[Any, list[Any]] = {}
    for node in tree.nodes:
        if node["parent"] is not None:
            if node["parent"] not in by_id:
                raise MathverifyError(
                    f"tree of problem {tree.problem_id!r}: node {node['id']!r} has an "
                    f"unknown parent {node['parent']!r}"
                )
            children.setdefault(node["parent"], []).append(node["id"])
    # Nodes with a terminal node somewhere below them, found bottom-up (children follow parents).
    above_terminal: set[Any] = set()
    for node in reversed(tree.nodes):
        if node["parent"] is not None and (node["terminal"] or node["id"] in above_terminal):
            above_terminal.add(node["parent"])
    separator = PromptFormat.from_dict(tree.config.get("prompt") or {}).separator
    graded = bool(tree.config.get("gold_reward"))
    sample_id = 0
    for node in tree.nodes:
        if node["parent"] is None:
            continue
        frontier = (
            not node["terminal"]
            and (node.get("visits") or 0) > 0
            and node["id"] not in above_terminal
        )
        if not node["terminal"] and not frontier:
            continue
        chain = [node]
        while chain[-1]["parent"] is not None and by_id[chain[-1]["parent"]]["parent"] is not None:
            chain.append(by_id[chain[-1]["parent"]])
        chain.reverse()
        kept = [n for n in chain if n["text"]]  # a model may emit a bare separator
        steps = [str(n["text"]) for n in kept]
        if not steps:
            continue
        reward = node.get("reward") if node["terminal"] else None
        yield Solution(
            problem_id=tree.problem_id,
            sample_id=sample_id,
            steps=steps,
            answer=node.get("answer") if node["terminal"] else None,
            text=separator.join(steps),
            n_tokens=sum(int(n.get("n_tokens") or 0) for n in chain),
            policy=str(tree.config.get("policy", "")),
            meta={
                "tree_run": tree.run,
                "node": node["id"],
                "terminal": bool(node["terminal"]),
                "reward": reward,
                "q": [n.get("q") for n in kept],
                "visits": [n.get("visits") for n in kept],
            },
            step_labels=[_node_target(n, tree.problem_id) for n in kept],
            outcome=(reward > 0) if graded and reward is not None else None,
            label_source=LABEL_SOURCE,
        )
        sample_id += 1


def label_mcts(trees: Iterable[Tree], problems: Mapping[str, Problem]) -> Iterator[Solution]:
    """Labeled solutions (trajectories and partial paths) from each MCTS tree, in tree order.

    Sample ids number a problem's solutions across its trees (runs) in order.
    """
    offsets: dict[str, int] = {}
    for tree in trees:
        if tree.problem_id not in problems:
            raise MathverifyError(f"problem id {tree.problem_id!r} is not in the problems file")
        start = offsets.get(tree.problem_id, 0)
        count = 0
        for solution in _tree_solutions(tree):
            solution.sample_id += start
            count += 1
            yield solution
        offsets[tree.problem_id] = start + count
