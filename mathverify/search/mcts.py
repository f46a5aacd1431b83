"""Monte-Carlo tree search over solution steps (AlphaMath), batched across problems.

Each problem has a tree whose root is the empty solution and whose nodes are steps. The
references below are to the released code, github MARIO-Math-Reasoning/Super_MARIO
(``mcts_math/agents/mcts.py``, ``mcts_math/nodes/mcts_node.py``, ``mcts_math/solver.py``,
``mcts_math/config.py``, ``offline_inference.py``, ``configs/*.yaml``).

**The released search** (``mcts_budget="tree"``, the default). One tree per problem gets
``simulations`` iterations (the released ``iterations``: 40 in ``configs/mcts_sft.yaml:15``;
``solver.py:76-80`` runs that many steps with the beam width forced to 1). An iteration:

- *Select* (``mcts.py:67-96``): from the root, while the node has children, go to the
  child with the highest PUCT score among its **non-terminal** children,

      Q(c) + c_puct * P(c) * sqrt(N(parent)) / (1 + N(c))      (mcts_node.py:47-50)

  where Q is the mean backed-up value (0 when unvisited, ``mcts_node.py:23-26``) and the
  prior P is the policy's length-normalised probability of the step,
  ``exp(logprob / n_tokens)`` (``mcts.py:125``; :func:`~mathverify.search.sbs.step_prior`).
  Ties go to the earlier child, so a seed fixes the tree (the released code draws at
  random among ties, ``mcts.py:96``). If every child of a node is terminal the node is
  marked exhausted and selection finds nothing (``mcts.py:71-77``); in the released batch
  solver this leaves the tree with no node to expand (``mcts.py:221-223``,
  ``step_beam.py:66-72``), the solver stops generating for it (``solver.py:119-126``) and
  never selects in it again (only generating trees are re-selected, ``solver.py:231-240``),
  so **the tree stops growing** for the rest of its budget. This is followed as released
  and recorded in the result (``meta.stopped_at``, ``meta.dead_end``).
- *Expand and evaluate* (``mcts.py:225-255``, ``update_leaf_value`` off by default,
  ``config.py:156-158``): the policy proposes B2 next steps of the selected leaf (identical
  ones kept as separate children unless ``distinct``: ``remove_duplicate`` defaults to off,
  ``config.py:165-167``, and ``mcts.py:115-123`` keeps the first of a group when on). The
  leaf's value is the scorer's score ``s`` of its partial solution mapped to ``2s - 1`` (the
  released value head's estimate of the same prompt); it is backed up from the leaf to the
  root (``mcts_node.py:41-45``: one more visit, the value added, on every node of the path).
  New children start unvisited. The root has no partial solution for a step scorer to rate,
  so its value is 0 (backed up, so its visit counts); the released code backs up the value
  head's estimate of the bare question there.
- *Terminal children* are valued once, when created, and their reward backed up once from
  the child to the root (``mcts.py:147-156, 179-198, 209-220``): a solution cut by the depth
  limit or finished without an answer gets -1 (``negative_reward``, ``config.py:147-149``);
  with ``gold_reward`` (training problems, the released ``is_sampling`` mode with a ground
  truth) a finished solution gets +1 or -1 by grading its answer against the gold one;
  without it (test problems) the scorer's ``2s - 1`` of the finished solution. Terminal
  children are never selected, so the reward never enters a backup again, and a terminal
  node's Q is its reward.

After the budget the answer is read off the tree as the released offline inference does
(:func:`mathverify.search.tree_answer.tree_answer`: prune non-answer leaves, walk down by Q
with beam width 1, take the best finished answer; ``offline_inference.py:94-189`` with
``configs/offline_inference.yaml``).

Depth: ``max_depth`` counts steps, as in every method here (a node at depth ``max_depth``
is terminal). The released code cuts only nodes deeper than its ``max_depth``
(``mcts.py:179-182``), so its ``max_depth: 8`` (``configs/mcts_sft.yaml:12``) lets a
solution have 9 steps; MCTS's default here is therefore 9 (:meth:`SearchConfig.for_method`,
with the released temperature 0.6 of ``mcts_sft.yaml:4``, B2 5 of line 13 and ``c_puct``
1.25 of line 16).

**Per-step budget** (``mcts_budget="per-step"``, ours, AlphaGo-style moves): from the current
root, ``simulations`` simulations, then commit to the most visited child (ties: the earlier
child) and go on from there, keeping the subtree, until the committed node is terminal; the
answer is the committed path's. Here a terminal leaf stays selectable and gives its reward
at every visit (it is evaluated when created but backed up only when a simulation reaches
it), selection considers every child, and a finished solution without an answer is valued
like any other. This is the search as mathverify ran it before issue #35 (with
``distinct``, which it always applied), except that a committed path cut by the depth
limit now gives no steps with its missing answer. Offline re-selection (:mod:`mathverify.search.offline`)
with ``rule visits``, ``b1 1`` and this ``b2`` walks the committed path and gives its answer.

Leaf values in both budgets: with a scorer ``2s - 1``; with a scorer and ``rollout_mix`` w > 0
(training problems, graded rollouts) ``(1 - w) * (2s - 1) + w * r`` for the reward ``r`` of
one sampled rollout to the end, AlphaGo's mixed leaf evaluation; without a scorer the graded
reward of one rollout (``rollout``) or 0.

Duplicates merged with ``distinct`` are not nodes; their tokens still count in
``n_generated_tokens`` and ``meta`` says how many there were (``n_merged``, ``merged_tokens``).

Batching: at each iteration every problem of the batch selects its leaf, all expansions go
to the backend in one ``next_steps`` call, all values (leaves and new finished solutions) to
the scorer in one call, all terminal answers to the grading pool in one call (rollouts, when
used, are one more backend call and one more grading call).

**Leaves per call (virtual loss)** (``leaves_per_call`` k, tree budget only; ours). With
k > 1 each growing tree selects up to k leaves for the same backend call, one after the
other by the released selection; after each selection every node on the path from the root
to the chosen leaf takes a provisional visit with the worst value, -1 (a *virtual loss*), so
the next selection tends to go elsewhere. A tree stops choosing for the call at a leaf it
has already chosen or at a dead end (a dead end on the call's first selection stops the tree
as above; on a later one it only ends the choosing). The virtual losses are undone exactly
(each touched node's visits and value sum restored) before anything is backed up, then all
leaves of all trees are expanded in one backend call, valued in one scorer call and backed
up in the sequential order (terminal children first, then leaves). The budget is still
``simulations`` leaf expansions per tree (a call takes at most the k leaves the tree has
left); ``n_simulations`` counts leaves and ``stopped_at`` is the simulation (the leaf
expansion, counted from 1) at which the dead end was found, which with k = 1 is the
iteration. k = 1 applies no virtual loss and is the released sequential search exactly;
k > 1 expands other leaves in another order, a different, still valid, search whose backend
calls are up to k times larger. The idea is parallel MCTS's (Chaslot, Winands and van den Herik,
"Parallel Monte-Carlo Tree Search", 2008) as AlphaGo used it (Silver et al., Nature 2016,
"virtual loss"). The per-step budget refuses k > 1.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from mathverify import progress
from mathverify.backends.base import Policy, StepCompletion
from mathverify.errors import MathverifyError
from mathverify.grading import GradingPool
from mathverify.iterutils import batched
from mathverify.records import Problem, SearchResult, Tree
from mathverify.search.common import Stats, call_seed, make_result
from mathverify.search.config import PER_STEP_LEAVES, SearchConfig
from mathverify.search.sbs import step_prior
from mathverify.search.tree_answer import tree_answer
from mathverify.step_scores import Scorer
from mathverify.steps import extract_answer

METHOD = "mcts"
VIRTUAL_LOSS = -1.0  # the worst reward, provisionally on a selected path (leaves_per_call > 1)


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
    exhausted: bool = False  # every child terminal: the released selection stops here
    merged: int = 0  # identical sibling samples folded into this node (``distinct``)
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
            "exhausted": self.exhausted,
            "merged": self.merged,
            "n_tokens": self.n_tokens,
            "logprob": self.logprob,
            "finish_reason": self.finish_reason,
        }


def puct_score(child: MCTSNode, parent_visits: int, c_puct: float) -> float:
    """The PUCT score of ``child``; an unvisited child's Q counts as 0, a missing prior as 1
    (the released node's default prior, mcts_node.py:17)."""
    q = child.q if child.q is not None else 0.0
    prior = child.prior if child.prior is not None else 1.0
    return q + c_puct * prior * math.sqrt(parent_visits) / (1 + child.visits)


def select_child(
    nodes: list[MCTSNode], parent: MCTSNode, c_puct: float, *, open_only: bool = False
) -> MCTSNode | None:
    """The child with the highest PUCT score (ties: the earlier child), or None if there is
    none; with ``open_only`` only non-terminal children compete (mcts.py:79-96)."""
    best: MCTSNode | None = None
    best_score = -math.inf
    for child_id in parent.children:
        child = nodes[child_id]
        if open_only and child.terminal:
            continue
        score = puct_score(child, parent.visits, c_puct)
        if score > best_score:
            best, best_score = child, score
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
    root: int = 0  # per-step budget: the committed node simulations start from
    done: bool = False
    n_simulations: int = 0
    rollout_tokens: int = 0
    n_merged: int = 0
    merged_tokens: int = 0
    stopped_at: int | None = None  # tree budget: the iteration that found a dead end
    dead_end: int | None = None  # ... and the exhausted node

    def __post_init__(self) -> None:
        self.nodes.append(MCTSNode(id=0, parent=None, step="", depth=0, path=[]))

    def add(self, parent: MCTSNode, completion: StepCompletion, merge: bool) -> MCTSNode | None:
        """A new child of ``parent``, or None when ``merge`` and a sibling has the same step."""
        if merge:
            for sibling in parent.children:
                other = self.nodes[sibling]
                if other.step == completion.step and other.finished == completion.finished:
                    other.merged += 1
                    self.n_merged += 1
                    self.merged_tokens += completion.n_tokens
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

    def generated_tokens(self) -> int:
        return sum(n.n_tokens for n in self.nodes) + self.merged_tokens + self.rollout_tokens


def _descend(inst: _Instance, c_puct: float) -> tuple[MCTSNode, bool]:
    """The released selection's walk (mcts.py:67-77): down by PUCT among non-terminal children
    to a node without children (``(node, True)``) or to a node whose children are all
    terminal (``(node, False)``, a dead end)."""
    node = inst.nodes[0]
    while node.children:
        child = select_child(inst.nodes, node, c_puct, open_only=True)
        if child is None:
            return node, False
        node = child
    return node, True


def _select_leaf_per_step(inst: _Instance, c_puct: float) -> MCTSNode:
    """The per-step selection: from the committed node, every child competing, down to an
    unexpanded or terminal node."""
    node = inst.nodes[inst.root]
    while node.expanded and node.children and not node.terminal:
        child = select_child(inst.nodes, node, c_puct)
        assert child is not None
        node = child
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
        """``2s - 1`` for the scorer's last-step score ``s`` of each partial solution (0 for
        the root, which has no step to score), all in one scorer call."""
        owners = [(i, inst, node) for i, (inst, node) in enumerate(items) if node.steps]
        values = [0.0] * len(items)
        if not owners or self.scorer is None:
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

    def evaluate(
        self,
        leaves: list[tuple[_Instance, MCTSNode]],
        terminals: list[tuple[_Instance, MCTSNode]],
        *,
        answerless_fails: bool,
    ) -> list[float]:
        """Set the reward (and value) of each new terminal node; return each leaf's value.

        A depth-cut node gets -1; with ``answerless_fails`` so does a finished solution
        without an answer (the released NO_VALID_CHILD, mcts.py:147-151, 187-189). Other
        finished solutions are graded (``gold_reward``) or scored; their scores and the
        leaves' share one scorer call.
        """
        valued: list[tuple[_Instance, MCTSNode]] = []
        for inst, node in terminals:
            if not node.finished or (answerless_fails and node.answer is None):
                node.reward = -1.0
            else:
                valued.append((inst, node))
        use_scorer = self.scorer is not None
        if self.config.gold_reward:
            rewards = self.grade([(inst, n.answer) for inst, n in valued])
            scored = self.score(leaves) if use_scorer else [0.0] * len(leaves)
        else:
            both = self.score(valued + leaves)
            rewards, scored = both[: len(valued)], both[len(valued) :]
        for (_, node), reward in zip(valued, rewards, strict=True):
            node.reward = reward
        for _, node in terminals:
            node.value = node.reward
        if use_scorer:
            weight = self.config.rollout_mix
            if weight > 0:
                graded = self.rollouts(leaves)
                return [(1 - weight) * v + weight * r for v, r in zip(scored, graded, strict=True)]
            return scored
        if self.config.rollout:
            return self.rollouts(leaves)
        return [0.0] * len(leaves)


def _expand(
    leaves: list[tuple[_Instance, MCTSNode]], evaluator: _Evaluator, config: SearchConfig
) -> list[tuple[_Instance, MCTSNode]]:
    """B2 next steps for every leaf, in one backend call; returns the new terminal children."""
    outputs = evaluator.stats.next_steps(
        evaluator.policy,
        [config.prompt.prefix(inst.problem.problem, leaf.steps) for inst, leaf in leaves],
        separator=config.prompt.separator,
        n=config.b2,
        temperature=config.temperature,
        top_p=config.top_p,
        max_tokens=config.max_step_tokens,
        seed=evaluator.seed(),
    )
    new_terminals: list[tuple[_Instance, MCTSNode]] = []
    for (inst, leaf), completions in zip(leaves, outputs, strict=True):
        if len(completions) != config.b2:
            raise MathverifyError(
                f"policy {evaluator.policy.name}: returned {len(completions)} steps, "
                f"expected {config.b2}"
            )
        for completion in completions:
            child = inst.add(leaf, completion, config.distinct)
            if child is not None and child.terminal:
                new_terminals.append((inst, child))
        leaf.expanded = True
    return new_terminals


@dataclass
class _VirtualLoss:
    """Provisional losses on selected paths (one visit and a value of -1 per node, per
    selection), undone by restoring each touched node's statistics exactly as they were."""

    saved: dict[int, tuple[MCTSNode, int, float]] = field(default_factory=dict)

    def apply(self, inst: _Instance, leaf: MCTSNode) -> None:
        for node in inst.path_to(leaf):
            self.saved.setdefault(id(node), (node, node.visits, node.value_sum))
            node.visits += 1
            node.value_sum += VIRTUAL_LOSS

    def revert(self) -> None:
        # Restored, not subtracted: float sums come back bit for bit. Only selection runs
        # while the losses are on, and it changes no node's visits or value_sum.
        for node, visits, value_sum in self.saved.values():
            node.visits, node.value_sum = visits, value_sum
        self.saved.clear()


def select_leaves(inst: _Instance, c_puct: float, k: int, losses: _VirtualLoss) -> list[MCTSNode]:
    """Up to ``k`` distinct leaves of one tree for one backend call, a virtual loss on each
    one's path before the next selection (none after the last, so ``k`` 1 is the released
    selection untouched). Selection stops at a leaf already chosen or at a dead end; a dead
    end on the first selection stops the tree (marked exhausted, ``stopped_at`` and
    ``dead_end`` recorded), one on a later selection only ends this call's choosing: the
    next call's first selection, with no virtual loss on the tree, decides."""
    chosen: list[MCTSNode] = []
    while len(chosen) < k:
        node, is_leaf = _descend(inst, c_puct)
        if not is_leaf and not chosen:
            node.exhausted = True
            inst.done = True
            inst.stopped_at = inst.n_simulations + 1
            inst.dead_end = node.id
        if not is_leaf or any(node is leaf for leaf in chosen):
            break
        chosen.append(node)
        if len(chosen) < k:
            losses.apply(inst, node)
    return chosen


def _iterate(instances: list[_Instance], evaluator: _Evaluator, config: SearchConfig) -> None:
    """One backend call on every growing tree: select (up to ``leaves_per_call`` leaves each,
    within its budget), undo the virtual losses (only selection reads them), expand,
    evaluate, back up."""
    leaves: list[tuple[_Instance, MCTSNode]] = []
    losses = _VirtualLoss()
    for inst in instances:
        k = min(config.leaves_per_call, config.simulations - inst.n_simulations)
        leaves.extend((inst, leaf) for leaf in select_leaves(inst, config.c_puct, k, losses))
    losses.revert()
    if not leaves:
        return
    terminals = _expand(leaves, evaluator, config)
    values = evaluator.evaluate(leaves, terminals, answerless_fails=True)
    for inst, node in terminals:
        assert node.reward is not None
        inst.backup(node, node.reward)
    for (inst, leaf), value in zip(leaves, values, strict=True):
        leaf.value = value
        inst.backup(leaf, value)
        inst.n_simulations += 1


def _simulate_per_step(
    instances: list[_Instance], evaluator: _Evaluator, config: SearchConfig
) -> None:
    """One per-step simulation on every live instance: select, expand, evaluate, back up; a
    terminal leaf backs up its reward again at every visit."""
    leaves = [(inst, _select_leaf_per_step(inst, config.c_puct)) for inst in instances]
    to_expand = [(inst, leaf) for inst, leaf in leaves if not leaf.terminal]
    if to_expand:
        terminals = _expand(to_expand, evaluator, config)
        values = evaluator.evaluate(to_expand, terminals, answerless_fails=False)
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
    """The search for one batch of problems, in lockstep."""
    if scorer is None and not config.gold_reward:
        raise MathverifyError("mcts needs a scorer or gold_reward (see SearchConfig)")
    evaluator = _Evaluator(policy, scorer, config, stats, pool, problems[0].id)
    instances = [
        _Instance(problem=p, separator=config.prompt.separator, max_depth=config.max_depth)
        for p in problems
    ]
    searching = len(instances)

    def live_instances() -> list[_Instance]:
        """The instances still searching; those that stopped count as finished."""
        nonlocal searching
        live = [inst for inst in instances if not inst.done]
        progress.advance(searching - len(live))
        searching = len(live)
        return live

    if config.mcts_budget == "tree":
        while True:
            live = [i for i in live_instances() if i.n_simulations < config.simulations]
            if not live:
                break
            first = 1 + min(inst.n_simulations for inst in live)
            progress.note(simulation=f"{first}/{config.simulations}")
            _iterate(live, evaluator, config)
        progress.note(simulation="")
        return instances
    for move in range(config.max_depth):
        live = live_instances()
        if not live:
            break
        progress.note(step=f"{move + 1}/{config.max_depth}")
        for _ in range(config.simulations):
            _simulate_per_step(live, evaluator, config)
        for inst in live:
            chosen = most_visited(inst.nodes, inst.nodes[inst.root])
            if chosen is None:
                inst.done = True
                continue
            inst.root = chosen.id
            inst.done = chosen.terminal
    live_instances()
    progress.note(step="")
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
    """MCTS on each problem (see the module docstring); trees go to ``tree_sink``."""
    if config.mcts_budget not in ("tree", "per-step"):
        raise MathverifyError(f"mcts budget {config.mcts_budget!r}: choose tree or per-step")
    if config.mcts_budget == "per-step" and config.leaves_per_call > 1:
        raise MathverifyError(PER_STEP_LEAVES)
    results: list[SearchResult] = []
    own_pool = pool is None and config.gold_reward
    with GradingPool() if own_pool else nullcontext(pool) as grading_pool:
        for batch in batched(problems, config.batch_problems):
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


def chosen_node(inst: _Instance, config: SearchConfig) -> MCTSNode | None:
    """The node whose answer the search gives: the pruned tree's best by Q (tree budget), or
    the committed node when it is terminal with an answer (per-step; a committed path cut by
    the depth limit gives no answer and no steps, as SBS's answerless finished solutions
    do, :func:`~mathverify.search.sbs.pick`)."""
    if config.mcts_budget == "tree":
        best = tree_answer([n.to_tree_node() for n in inst.nodes], rule="q", width=1)
        return inst.nodes[best["id"]] if best is not None else None
    final = inst.nodes[inst.root]
    return final if final.terminal and final.answer is not None else None


def _result(
    inst: _Instance, config: SearchConfig, timing: dict[str, Any], saved_tree: bool
) -> SearchResult:
    chosen = chosen_node(inst, config)
    terminals = [n for n in inst.nodes if n.terminal]
    path_end = chosen if config.mcts_budget == "tree" else inst.nodes[inst.root]
    meta: dict[str, Any] = {
        "timing": timing,
        "budget": config.mcts_budget,
        "n_nodes": len(inst.nodes) - 1,
        "n_simulations": inst.n_simulations,
        "n_terminal": len(terminals),
        "n_merged": inst.n_merged,
        "merged_tokens": inst.merged_tokens,
        "rollout_tokens": inst.rollout_tokens,
        "chosen_node": chosen.id if chosen else None,
        "score": (chosen.q if config.mcts_budget == "tree" else chosen.reward) if chosen else None,
        "path": [n.id for n in inst.path_to(path_end)][1:] if path_end is not None else [],
    }
    if config.mcts_budget == "tree":
        meta["stopped_at"] = inst.stopped_at
        meta["dead_end"] = inst.dead_end
    return make_result(
        inst.problem,
        METHOD,
        config,
        answer=chosen.answer if chosen else None,
        steps=chosen.steps if chosen else [],
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
        n_generated_tokens=inst.generated_tokens(),
        seconds=timing["batch_seconds"] / timing["batch_problems"],
        tree_id=inst.problem.id if saved_tree else None,
        meta=meta,
    )
