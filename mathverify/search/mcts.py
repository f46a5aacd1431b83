"""Monte-Carlo tree search over solution steps (AlphaMath), batched across problems.

Each problem has a tree whose root is the empty solution and whose nodes are steps. One
*simulation* walks from the current root down by the PUCT rule

    Q(c) + c_puct * P(c) * sqrt(N(parent)) / (1 + N(c))

(Q of an unvisited child is 0; ties go to the earlier child), where the prior P is the
policy's length-normalised probability of the step (:func:`~mathverify.search.sbs.step_prior`),
to a leaf. A terminal leaf (the step ended the solution, or the depth limit was reached)
gives its reward. Any other leaf is *expanded*: the policy proposes B2 next steps
(identical texts merged), and the leaf gets a value: the scorer's score ``s`` of the leaf's
partial solution mapped to ``2s - 1`` (a value model, or any PRM/ORM), or without a scorer
the reward of one sampled rollout to the end (``rollout``), or 0; with a scorer and
``rollout_mix`` w > 0 (training problems, graded rollouts), ``(1 - w) * (2s - 1) + w * r``
for the reward ``r`` of one rollout, AlphaGo's mixed leaf evaluation. The value is backed up
along the path to the tree root: each node's visit count grows by one and its Q is the
mean of the values backed up through it.

Terminal rewards: with ``gold_reward`` a finished solution gets +1 when its answer grades
equal to the gold answer and -1 otherwise (training problems, AlphaMath's round data);
without it the scorer's value of the finished solution (test problems). A solution cut by
``max_depth`` gets -1. So the Q of a terminal node is exactly its reward.

Moves (AlphaMath's step-level inference): after ``simulations`` simulations the search
commits to the most visited child of the current root (ties: the earlier child) and goes
on from there, keeping the subtree; it ends when the committed node is terminal. The
answer is the committed path's. Because later simulations only add visits under the
committed node, offline re-selection (:mod:`mathverify.search.offline`) with ``rule
visits``, ``b1 1`` and this ``b2`` walks the same path and gives the same answer.

Batching: at each simulation step every problem's pending expansion goes to the backend in
one ``next_steps`` call, all values to the scorer in one call, all terminal answers to the
grading pool in one call (rollouts, when used, are one more backend call).
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from mathverify.backends.base import Policy, StepCompletion
from mathverify.errors import MathverifyError
from mathverify.grading import GradingPool
from mathverify.records import Problem, SearchResult, Tree
from mathverify.search.common import Stats, batches, call_seed, make_result
from mathverify.search.config import SearchConfig
from mathverify.search.sbs import step_prior
from mathverify.step_scores import Scorer
from mathverify.steps import extract_answer

METHOD = "mcts"


@dataclass
class MCTSNode:
    """One node: the root (empty solution) or one proposed step, with its search statistics."""

    id: int
    parent: int | None
    step: str
    depth: int
    path: list[str]
    prior: float | None = None
    terminal: bool = False
    finished: bool = False  # the step ended the solution (terminal also covers the depth cut)
    answer: str | None = None
    reward: float | None = None
    value: float | None = None  # the node's own evaluation (leaf value or reward)
    visits: int = 0
    value_sum: float = 0.0
    children: list[int] = field(default_factory=list)
    expanded: bool = False
    n_tokens: int = 0
    logprob: float | None = None
    finish_reason: str = ""

    @property
    def q(self) -> float | None:
        return self.value_sum / self.visits if self.visits else None

    @property
    def steps(self) -> list[str]:
        return [s for s in self.path if s]

    def to_tree_node(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent": self.parent,
            "text": self.step,
            "prior": self.prior,
            "visits": self.visits,
            "value": self.value,
            "q": self.q,
            "terminal": self.terminal,
            "finished": self.finished,
            "reward": self.reward,
            "depth": self.depth,
            "answer": self.answer,
            "n_tokens": self.n_tokens,
            "logprob": self.logprob,
            "finish_reason": self.finish_reason,
        }


def puct_score(child: MCTSNode, parent_visits: int, c_puct: float) -> float:
    """The PUCT score of ``child``; an unvisited child's Q counts as 0, a missing prior as 1."""
    q = child.q if child.q is not None else 0.0
    prior = child.prior if child.prior is not None else 1.0
    return q + c_puct * prior * math.sqrt(parent_visits) / (1 + child.visits)


def select_child(nodes: list[MCTSNode], parent: MCTSNode, c_puct: float) -> MCTSNode:
    """The child with the highest PUCT score; ties go to the earlier child."""
    best: MCTSNode | None = None
    best_score = -math.inf
    for child_id in parent.children:
        child = nodes[child_id]
        score = puct_score(child, parent.visits, c_puct)
        if score > best_score:
            best, best_score = child, score
    if best is None:
        raise MathverifyError(f"node {parent.id} has no children to select from")
    return best


def most_visited(nodes: list[MCTSNode], parent: MCTSNode) -> MCTSNode | None:
    """The child with the most visits (ties: the earlier one), or None without children."""
    best: MCTSNode | None = None
    for child_id in parent.children:
        child = nodes[child_id]
        if best is None or child.visits > best.visits:
            best = child
    return best


@dataclass
class _Instance:
    """The search on one problem."""

    problem: Problem
    separator: str
    max_depth: int
    nodes: list[MCTSNode] = field(default_factory=list)
    root: int = 0  # the committed node searches start from
    done: bool = False
    n_simulations: int = 0
    rollout_tokens: int = 0

    def __post_init__(self) -> None:
        self.nodes.append(MCTSNode(id=0, parent=None, step="", depth=0, path=[]))

    def add(self, parent: MCTSNode, completion: StepCompletion) -> MCTSNode | None:
        """A new child of ``parent``, or None when a sibling already has the same step."""
        for sibling in parent.children:
            other = self.nodes[sibling]
            if other.step == completion.step and other.finished == completion.finished:
                return None
        depth = parent.depth + 1
        node = MCTSNode(
            id=len(self.nodes),
            parent=parent.id,
            step=completion.step,
            depth=depth,
            path=[*parent.path, completion.step],
            prior=step_prior(completion),
            # A solution still open at the depth limit is over, without an answer.
            terminal=completion.finished or depth >= self.max_depth,
            finished=completion.finished,
            n_tokens=completion.n_tokens,
            logprob=completion.logprob,
            finish_reason=completion.finish_reason,
        )
        if completion.finished:
            node.answer = extract_answer(self.separator.join(node.steps))
        self.nodes.append(node)
        parent.children.append(node.id)
        return node

    def path_to(self, node: MCTSNode) -> list[MCTSNode]:
        """The nodes from the tree root (not the committed root) down to ``node``."""
        chain = [node]
        while chain[-1].parent is not None:
            chain.append(self.nodes[chain[-1].parent])
        return list(reversed(chain))

    def backup(self, leaf: MCTSNode, value: float) -> None:
        for node in self.path_to(leaf):
            node.visits += 1
            node.value_sum += value


def _select_leaf(inst: _Instance, c_puct: float) -> MCTSNode:
    node = inst.nodes[inst.root]
    while node.expanded and node.children and not node.terminal:
        node = select_child(inst.nodes, node, c_puct)
    return node


@dataclass
class _Evaluator:
    """Turns finished solutions and open leaves into values, in batched calls."""

    policy: Policy
    scorer: Scorer | None
    config: SearchConfig
    stats: Stats
    pool: GradingPool | None
    first_id: str
    calls: int = 0

    def seed(self) -> int:
        self.calls += 1
        return call_seed(self.config.seed, self.first_id, self.calls)

    def grade(self, items: list[tuple[_Instance, str | None]]) -> list[float]:
        """+1/-1 per (instance, answer) by grading against the problem's gold answer."""
        if not items:
            return []
        if self.pool is None:
            raise MathverifyError("mcts --gold-reward needs a grading pool")
        for inst, _ in items:
            if not inst.problem.answer:
                raise MathverifyError(
                    f"problem {inst.problem.id!r} has no gold answer; --gold-reward needs one"
                )
        verdicts = self.pool.grade_many([(a, inst.problem.answer) for inst, a in items])
        return [1.0 if v.equal else -1.0 for v in verdicts]

    def score(self, items: list[tuple[_Instance, MCTSNode]]) -> list[float]:
        """``2s - 1`` for the scorer's last-step score ``s`` of each partial solution."""
        assert self.scorer is not None
        owners = [(i, inst, node) for i, (inst, node) in enumerate(items) if node.steps]
        values = [0.0] * len(items)
        if not owners:
            return values
        scores = self.stats.score(
            self.scorer,
            [inst.problem.problem for _, inst, _ in owners],
            [node.steps for _, _, node in owners],
        )
        for (i, _, _), step_scores in zip(owners, scores, strict=True):
            last = next((s for s in reversed(step_scores) if s is not None), None)
            values[i] = 0.0 if last is None else 2.0 * float(last) - 1.0
        return values

    def rollouts(self, items: list[tuple[_Instance, MCTSNode]]) -> list[float]:
        """The graded reward of one sampled completion of each partial solution."""
        if not items:
            return []
        prompt = self.config.prompt
        outputs = self.stats.complete(
            self.policy,
            [prompt.prefix(inst.problem.problem, node.steps) for inst, node in items],
            n=1,
            temperature=self.config.temperature,
            top_p=self.config.top_p,
            max_tokens=self.config.max_solution_tokens,
            stop=None,
            seed=self.seed(),
        )
        answers: list[tuple[_Instance, str | None]] = []
        for (inst, node), completions in zip(items, outputs, strict=True):
            completion = completions[0]
            inst.rollout_tokens += completion.n_tokens
            text = prompt.separator.join([*node.steps, completion.text])
            answers.append((inst, extract_answer(text)))
        return self.grade(answers)

    def terminal_rewards(self, items: list[tuple[_Instance, MCTSNode]]) -> None:
        """Set ``reward`` (and ``value``) of new terminal nodes."""
        for _, node in items:
            if not node.finished:
                node.reward = -1.0  # cut by the depth limit: no answer
        todo = [(inst, n) for inst, n in items if n.finished]
        if self.config.gold_reward:
            rewards = self.grade([(inst, n.answer) for inst, n in todo])
        else:
            rewards = self.score(todo)
        for (_, node), reward in zip(todo, rewards, strict=True):
            node.reward = reward
        for _, node in items:
            node.value = node.reward

    def leaf_values(self, items: list[tuple[_Instance, MCTSNode]]) -> list[float]:
        if self.scorer is not None:
            values = self.score(items)
            weight = self.config.rollout_mix
            if weight > 0:
                rewards = self.rollouts(items)
                values = [
                    (1 - weight) * v + weight * r for v, r in zip(values, rewards, strict=True)
                ]
            return values
        if self.config.rollout:
            return self.rollouts(items)
        return [0.0] * len(items)


def _simulate(
    instances: list[_Instance],
    evaluator: _Evaluator,
    config: SearchConfig,
) -> None:
    """One simulation on every live instance: select, expand (one backend call), evaluate, back up."""
    leaves = [(inst, _select_leaf(inst, config.c_puct)) for inst in instances]
    to_expand = [(inst, leaf) for inst, leaf in leaves if not leaf.terminal]
    if to_expand:
        outputs = evaluator.stats.next_steps(
            evaluator.policy,
            [config.prompt.prefix(inst.problem.problem, leaf.steps) for inst, leaf in to_expand],
            separator=config.prompt.separator,
            n=config.b2,
            temperature=config.temperature,
            top_p=config.top_p,
            max_tokens=config.max_step_tokens,
            seed=evaluator.seed(),
        )
        new_terminals: list[tuple[_Instance, MCTSNode]] = []
        for (inst, leaf), completions in zip(to_expand, outputs, strict=True):
            if len(completions) != config.b2:
                raise MathverifyError(
                    f"policy {evaluator.policy.name}: returned {len(completions)} steps, "
                    f"expected {config.b2}"
                )
            for completion in completions:
                child = inst.add(leaf, completion)
                if child is not None and child.terminal:
                    new_terminals.append((inst, child))
            leaf.expanded = True
        evaluator.terminal_rewards(new_terminals)
        values = evaluator.leaf_values(to_expand)
        for (_, leaf), value in zip(to_expand, values, strict=True):
            leaf.value = value
    for inst, leaf in leaves:
        value = leaf.reward if leaf.terminal else leaf.value
        inst.backup(leaf, float(value if value is not None else 0.0))
        inst.n_simulations += 1


def run_mcts(
    problems: list[Problem],
    policy: Policy,
    scorer: Scorer | None,
    config: SearchConfig,
    stats: Stats,
    pool: GradingPool | None,
) -> list[_Instance]:
    """The search for one batch of problems, in lockstep: moves of ``simulations`` simulations."""
    if scorer is None and not config.gold_reward:
        raise MathverifyError("mcts needs a scorer or gold_reward (see SearchConfig)")
    evaluator = _Evaluator(policy, scorer, config, stats, pool, problems[0].id)
    instances = [
        _Instance(problem=p, separator=config.prompt.separator, max_depth=config.max_depth)
        for p in problems
    ]
    for _move in range(config.max_depth):
        live = [inst for inst in instances if not inst.done]
        if not live:
            break
        for _ in range(config.simulations):
            _simulate(live, evaluator, config)
        for inst in live:
            chosen = most_visited(inst.nodes, inst.nodes[inst.root])
            if chosen is None:
                inst.done = True
                continue
            inst.root = chosen.id
            inst.done = chosen.terminal
    return instances


def mcts(
    problems: list[Problem],
    policy: Policy,
    scorer: Scorer | None,
    config: SearchConfig,
    *,
    pool: GradingPool | None = None,
    tree_sink: list[Tree] | None = None,
) -> list[SearchResult]:
    """MCTS on each problem; the answer is the committed path's; trees go to ``tree_sink``."""
    results: list[SearchResult] = []
    own_pool = pool is None and config.gold_reward
    with GradingPool() if own_pool else nullcontext(pool) as grading_pool:
        for batch in batches(problems, config.batch_problems):
            stats = Stats()
            instances = run_mcts(batch, policy, scorer, config, stats, grading_pool)
            timing = stats.timing(len(batch))
            for inst in instances:
                if tree_sink is not None:
                    tree_sink.append(
                        Tree(
                            problem_id=inst.problem.id,
                            nodes=[n.to_tree_node() for n in inst.nodes],
                            method=METHOD,
                            config=config.to_dict(METHOD),
                            run=0,
                        )
                    )
                results.append(_result(inst, config, timing, tree_sink is not None))
    return results


def _result(
    inst: _Instance, config: SearchConfig, timing: dict[str, Any], saved_tree: bool
) -> SearchResult:
    final = inst.nodes[inst.root]
    chosen = final if final.terminal else None
    terminals = [n for n in inst.nodes if n.terminal]
    meta: dict[str, Any] = {
        "timing": timing,
        "n_nodes": len(inst.nodes) - 1,
        "n_simulations": inst.n_simulations,
        "n_terminal": len(terminals),
        "rollout_tokens": inst.rollout_tokens,
        "chosen_node": chosen.id if chosen else None,
        "score": chosen.reward if chosen else None,
        "path": [n.id for n in inst.path_to(final)][1:],
    }
    return make_result(
        inst.problem,
        METHOD,
        config,
        answer=chosen.answer if chosen else None,
        steps=final.steps if chosen else [],
        candidates=[
            {
                "node": n.id,
                "depth": n.depth,
                "answer": n.answer,
                "reward": n.reward,
                "q": n.q,
                "visits": n.visits,
            }
            for n in terminals
        ],
        n_generated_tokens=sum(n.n_tokens for n in inst.nodes) + inst.rollout_tokens,
        seconds=timing["batch_seconds"] / timing["batch_problems"],
        tree_id=inst.problem.id if saved_tree else None,
        meta=meta,
    )
