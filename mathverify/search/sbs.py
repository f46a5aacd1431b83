"""Step-level beam search SBS(B1, B2), batched across problems, as AlphaMath released it.

Per problem the beam starts at the empty solution, which proposes B1 x B2 first steps
(Super_MARIO ``mcts_math/solver.py:216-219``: at step 0 the one root samples
``n_generate_sample * step_beam_width``, later each beam node ``n_generate_sample``). At each
depth every live beam proposes B2 candidate next steps
(:func:`~mathverify.backends.base.next_steps`); the scorer rates each candidate partial
solution (by default the PRM or value score of its last step); the B1 best candidates of
the problem, across all its beams, survive (``mcts_math/agents/step_beam.py:117-118``). A
surviving candidate that ended the solution with an answer leaves the beam for the
finished set and the beam narrows by one; a surviving candidate that ended the solution
without an answer is dropped and narrows the beam too (``step_beam.py:120-127``), so a
problem yields at most B1 finished solutions, each with an answer. The search stops at
``max_depth`` or when no beam is left. The answer is the best-valued finished solution
(``step_beam.py:151-165``), or with ``vote`` the majority answer among the finished ones
("1 run + maj@B1"); with ``runs`` K the whole search runs K times and their answers are
voted on ("K runs + maj@K"). The K runs of a problem are independent instances of one
batch, so they draw different samples from the same backend calls.

Duplicates (``distinct``, on for SBS by default as released: ``configs/sbs_sft.yaml:15``
``remove_duplicate: True``; ``step_beam.py:143-145``): the steps one parent sampled are
compared after stripping whitespace and identical ones become a single child, so they are
scored once and never fill the beam twice. Because a step here is its text *and* whether
it ended the solution (the released parser reads both from the text), two samples merge
when both agree. The first sample of a group is kept (the released ``set`` keeps an
arbitrary one). With ``distinct`` off every sample is its own node (copies kept, each
scored), as our SBS did before issue #35. Either way ``n_generated_tokens`` counts every
sampled step, merged or not, and the result's ``meta`` says how many samples were merged
(``n_merged``, ``merged_tokens``); each tree node records its own ``merged`` count.

The released defaults (``configs/sbs_sft.yaml``: ``temperature: 0.6`` line 4,
``max_depth: 10`` line 5) are SBS's defaults in :meth:`SearchConfig.for_method`.

Batching: the live beams of every problem (and run) of a batch go to the backend in one
``next_steps`` call per depth, and all their candidates to the scorer in one call per
depth. Without a scorer (allowed only for B1 = 1) candidates rank by the policy's own
per-token probability of the step (the node ``prior``), so SBS(1, 1) at temperature 0 is
greedy decoding.

The whole tree (every candidate, selected or not) can be kept as a :class:`Tree` record
for offline re-selection (:mod:`mathverify.search.offline`), which uses the same
:func:`select_beam` and :func:`decide` functions and so gives the same answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mathverify import progress
from mathverify.backends.base import Policy, StepCompletion
from mathverify.errors import MathverifyError
from mathverify.grading import GradingPool
from mathverify.iterutils import batched
from mathverify.records import Problem, SearchResult, Tree
from mathverify.search.common import (
    Stats,
    call_seed,
    cluster_answers,
    grading_context,
    make_result,
    rank_key,
    vote,
)
from mathverify.search.config import SearchConfig
from mathverify.step_scores import Scorer, StepScores, aggregate_or_none
from mathverify.steps import extract_answer

METHOD = "sbs"

N = TypeVar("N")


# --------------------------------------------------------------------------------------
# Selection rules shared with offline re-selection


def select_beam(
    candidates: Sequence[N],
    width: int,
    key: Callable[[N], float | None],
    identity: Callable[[N], Any] | None = None,
) -> list[N]:
    """The ``width`` best candidates by ``key`` (None ranks last); ties keep candidate order.

    With ``identity``, candidates with the same identity (the same partial solution) count
    once: the best-ranked copy is kept and the others give way to the next candidates.
    """
    if width <= 0:
        return []
    ranked = sorted(candidates, key=lambda c: rank_key(key(c)))
    if identity is None:
        return ranked[:width]
    chosen: list[N] = []
    seen: set[Any] = set()
    for candidate in ranked:
        name = identity(candidate)
        if name not in seen:
            seen.add(name)
            chosen.append(candidate)
            if len(chosen) == width:
                break
    return chosen


@dataclass(frozen=True)
class Finished:
    """A finished solution as the final decision sees it."""

    answer: str | None
    value: float | None
    steps: list[str]
    node: Any


def pick(items: Sequence[Finished], clusters: Sequence[int | None] | None) -> int | None:
    """Index of the chosen item: the best-valued answered one, or the best of the majority answer.

    An item without an answer is never chosen: AlphaMath's SBS keeps only valid final
    answers among its finished nodes (Super_MARIO ``step_beam.py:120-127``), and so does
    the online search here; offline re-selection over trees may still hand such items in.
    With ``clusters`` (one per item, None for no answer) the largest cluster wins, ties
    going to the cluster with the best value, then to the one seen first.
    """
    if clusters is not None:
        winner = vote(list(clusters), [1.0] * len(items), [-rank_key(f.value) for f in items])
        if winner is not None:
            members = [i for i, c in enumerate(clusters) if c == winner]
            return min(members, key=lambda i: (rank_key(items[i].value), i))
    answered = [i for i, f in enumerate(items) if f.answer is not None]
    if not answered:
        return None
    return min(answered, key=lambda i: (rank_key(items[i].value), i))


@dataclass(frozen=True)
class Decision:
    """The final choice for one problem, and what each run chose before the vote across runs."""

    run: int | None
    chosen: Finished | None
    run_choices: list[Finished | None]


def decide(
    runs_per_problem: list[list[list[Finished]]],
    *,
    vote_within_run: bool,
    group_by: str,
    pool: GradingPool | None,
) -> list[Decision]:
    """Per problem: each run's pick (best, or majority with ``vote_within_run``), then a vote
    across runs when there are several.

    Clustering for every run of every problem is one call to :func:`cluster_answers`, and
    the vote across runs another.
    """
    flat = [run for runs in runs_per_problem for run in runs]
    within: list[list[int | None] | None] = (
        list(
            cluster_answers([[f.answer for f in run] for run in flat], group_by=group_by, pool=pool)
        )
        if vote_within_run
        else [None] * len(flat)
    )
    picks = [pick(run, clusters) for run, clusters in zip(flat, within, strict=True)]
    run_choices: list[list[Finished | None]] = []
    position = 0
    for runs in runs_per_problem:
        mine: list[Finished | None] = []
        for run in runs:
            index = picks[position]
            position += 1
            mine.append(run[index] if index is not None else None)
        run_choices.append(mine)
    across: list[list[int | None]] = [[] for _ in runs_per_problem]
    if any(len(runs) > 1 for runs in runs_per_problem):
        across = cluster_answers(
            [[f.answer if f else None for f in mine] for mine in run_choices],
            group_by=group_by,
            pool=pool,
        )
    decisions: list[Decision] = []
    for mine, clusters in zip(run_choices, across, strict=True):
        present = [i for i, f in enumerate(mine) if f is not None]
        if not present:
            decisions.append(Decision(None, None, mine))
            continue
        items = [mine[i] for i in present]
        votes = [clusters[i] for i in present] if len(mine) > 1 else None
        index = pick(items, votes)  # type: ignore[arg-type]
        run = present[index] if index is not None else None
        decisions.append(Decision(run, mine[run] if run is not None else None, mine))
    return decisions


# --------------------------------------------------------------------------------------
# The online search


@dataclass
class Node:
    """One node of a problem's search tree: the root (empty solution) or one proposed step."""

    id: int
    parent: int | None
    step: str
    depth: int
    path: list[str]  # the steps from the root, this one included, as generated
    finished: bool = False
    n_tokens: int = 0
    logprob: float | None = None
    finish_reason: str = ""
    prior: float | None = None
    step_scores: StepScores | None = None
    value: float | None = None
    selected: bool = False
    answer: str | None = None
    merged: int = 0  # identical sibling samples folded into this node (``distinct``)

    @property
    def steps(self) -> list[str]:
        """The solution's steps without empty ones (a model may emit a bare separator)."""
        return [s for s in self.path if s]

    def to_tree_node(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent": self.parent,
            "text": self.step,
            "prior": self.prior,
            "visits": 1 if self.selected else 0,
            "value": self.value,
            "q": self.value,
            "terminal": self.finished,
            "reward": None,
            "depth": self.depth,
            "answer": self.answer,
            "n_tokens": self.n_tokens,
            "logprob": self.logprob,
            "finish_reason": self.finish_reason,
            "step_scores": self.step_scores,
            "merged": self.merged,
        }

    def to_candidate(self, run: int) -> dict[str, Any]:
        return {
            "run": run,
            "node": self.id,
            "parent": self.parent,
            "depth": self.depth,
            "step": self.step,
            "finished": self.finished,
            "answer": self.answer,
            "score": self.value,
            "prior": self.prior,
            "n_tokens": self.n_tokens,
            "selected": self.selected,
        }


def step_prior(completion: StepCompletion) -> float | None:
    """The geometric-mean token probability of a step (AlphaMath's prior), or None."""
    if completion.logprob is None or completion.n_tokens <= 0:
        return None
    return math.exp(completion.logprob / completion.n_tokens)


@dataclass
class _Instance:
    """One run of the search on one problem."""

    problem: Problem
    run: int
    width: int
    separator: str
    nodes: list[Node] = field(default_factory=list)
    beam: list[Node] = field(default_factory=list)
    finished: list[Node] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)  # candidates of the current depth
    n_scored: int = 0
    n_merged: int = 0  # sampled steps folded into an identical sibling
    merged_tokens: int = 0  # their tokens, still generated and counted

    def __post_init__(self) -> None:
        root = Node(id=0, parent=None, step="", depth=0, path=[], selected=True)
        self.nodes.append(root)
        self.beam.append(root)

    def add(
        self, parent: Node, completion: StepCompletion, siblings: dict[Any, Node] | None
    ) -> Node | None:
        """A new child of ``parent``; with ``siblings`` (the children ``parent`` got from this
        expansion, by step) a sample identical to one of them is merged into it: None."""
        if siblings is not None:
            same = siblings.get((completion.step, completion.finished))
            if same is not None:
                same.merged += 1
                self.n_merged += 1
                self.merged_tokens += completion.n_tokens
                return None
        path = [*parent.path, completion.step]
        node = Node(
            id=len(self.nodes),
            parent=parent.id,
            step=completion.step,
            depth=parent.depth + 1,
            path=path,
            finished=completion.finished,
            n_tokens=completion.n_tokens,
            logprob=completion.logprob,
            finish_reason=completion.finish_reason,
            prior=step_prior(completion),
        )
        if node.finished:
            node.answer = extract_answer(self.separator.join(node.steps))
        self.nodes.append(node)
        self.children.append(node)
        if siblings is not None:
            siblings[(node.step, node.finished)] = node
        return node


def _expand(
    instances: list[_Instance],
    policy: Policy,
    config: SearchConfig,
    stats: Stats,
    depth: int,
    first_id: str,
) -> None:
    """One backend call: B2 next steps for every live beam of every instance.

    At depth 1 the B1 beams all sit at the root, so the root proposes B1 x B2 steps
    (Super_MARIO solver.py:216-217). With ``config.distinct`` identical samples of one
    parent (same stripped text, same ending) become one child (step_beam.py:143-145).
    """
    live = [(inst, node) for inst in instances for node in inst.beam]
    n = config.b1 * config.b2 if depth == 1 else config.b2
    outputs = stats.next_steps(
        policy,
        [config.prompt.prefix(inst.problem.problem, node.path) for inst, node in live],
        separator=config.prompt.separator,
        n=n,
        temperature=config.temperature,
        top_p=config.top_p,
        max_tokens=config.max_step_tokens,
        seed=call_seed(config.seed, first_id, depth),
    )
    for (inst, node), completions in zip(live, outputs, strict=True):
        if len(completions) != n:
            raise MathverifyError(
                f"policy {policy.name}: returned {len(completions)} steps, expected {n}"
            )
        siblings: dict[Any, Node] | None = {} if config.distinct else None
        for completion in completions:
            inst.add(node, completion, siblings)


def _score(instances: list[_Instance], scorer: Scorer, stats: Stats, how: str) -> None:
    """One scorer call: every candidate partial solution of every instance."""
    owners = [(inst, node) for inst in instances for node in inst.children if node.steps]
    if not owners:
        return
    scores = stats.score(
        scorer, [inst.problem.problem for inst, _ in owners], [node.steps for _, node in owners]
    )
    for (inst, node), step_scores in zip(owners, scores, strict=True):
        node.step_scores = list(step_scores)
        node.value = aggregate_or_none(step_scores, how)
        inst.n_scored += 1


def run_beams(
    problems: list[Problem],
    policy: Policy,
    scorer: Scorer | None,
    config: SearchConfig,
    stats: Stats,
) -> list[_Instance]:
    """The search itself for one batch: ``config.runs`` instances per problem, problem-major."""
    how = config.aggregation(METHOD)

    def key(node: Node) -> float | None:
        return node.value if scorer is not None else node.prior

    instances = [
        _Instance(problem=p, run=r, width=config.b1, separator=config.prompt.separator)
        for p in problems
        for r in range(config.runs)
    ]
    searching = len(problems)  # problems with a live beam in some run
    for depth in range(1, config.max_depth + 1):
        active = [inst for inst in instances if inst.beam]
        live = len({inst.problem.id for inst in active})
        progress.advance(searching - live)
        searching = live
        if not active:
            break
        progress.note(depth=f"{depth}/{config.max_depth}")
        _expand(active, policy, config, stats, depth, problems[0].id)
        if scorer is not None:
            _score(active, scorer, stats, how)
        for inst in active:
            # With distinct, siblings are merged at expansion, so every candidate is a
            # different partial solution and the beam needs no second dedup here.
            chosen = select_beam(inst.children, inst.width, key)
            inst.children = []
            inst.beam = []
            for node in chosen:
                node.selected = True
                if node.finished:
                    # A finished solution without an answer is dropped, narrowing the
                    # beam all the same (step_beam.py:125-127).
                    if node.answer is not None:
                        inst.finished.append(node)
                    inst.width -= 1
                elif depth < config.max_depth:
                    inst.beam.append(node)
    progress.note(depth="")
    return instances


def sbs(
    problems: list[Problem],
    policy: Policy,
    scorer: Scorer | None,
    config: SearchConfig,
    *,
    pool: GradingPool | None = None,
    tree_sink: list[Tree] | None = None,
) -> list[SearchResult]:
    """SBS(``config.b1``, ``config.b2``) on each problem; trees go to ``tree_sink`` when given."""
    if scorer is None and config.b1 > 1:
        raise MathverifyError(f"sbs with b1={config.b1} needs a scorer")
    needs_grouping = config.vote or config.runs > 1

    def key(node: Node) -> float | None:
        return node.value if scorer is not None else node.prior

    results: list[SearchResult] = []
    with grading_context(config, pool, needed=needs_grouping) as grading_pool:
        for batch in batched(problems, config.batch_problems):
            stats = Stats()
            instances = run_beams(batch, policy, scorer, config, stats)
            grouped = [
                instances[i : i + config.runs] for i in range(0, len(instances), config.runs)
            ]
            decisions = decide(
                [
                    [
                        [Finished(n.answer, key(n), n.steps, n) for n in inst.finished]
                        for inst in runs
                    ]
                    for runs in grouped
                ],
                vote_within_run=config.vote,
                group_by=config.group_by,
                pool=grading_pool,
            )
            timing = stats.timing(len(batch))
            for problem, runs, decision in zip(batch, grouped, decisions, strict=True):
                if tree_sink is not None:
                    for inst in runs:
                        tree_sink.append(
                            Tree(
                                problem_id=problem.id,
                                nodes=[n.to_tree_node() for n in inst.nodes],
                                method=METHOD,
                                config=config.to_dict(METHOD),
                                run=inst.run,
                            )
                        )
                results.append(
                    _result(problem, runs, decision, config, timing, tree_sink is not None)
                )
    return results


def _result(
    problem: Problem,
    runs: list[_Instance],
    decision: Decision,
    config: SearchConfig,
    timing: dict[str, Any],
    saved_tree: bool,
) -> SearchResult:
    chosen = decision.chosen
    meta: dict[str, Any] = {
        "timing": timing,
        "n_scored": sum(inst.n_scored for inst in runs),
        "n_nodes": sum(len(inst.nodes) - 1 for inst in runs),
        "n_finished": [len(inst.finished) for inst in runs],
        "n_merged": sum(inst.n_merged for inst in runs),
        "merged_tokens": sum(inst.merged_tokens for inst in runs),
        "chosen_run": decision.run,
        "chosen_node": chosen.node.id if chosen else None,
        "score": chosen.value if chosen else None,
    }
    if len(runs) > 1:
        meta["run_answers"] = [f.answer if f else None for f in decision.run_choices]
    return make_result(
        problem,
        METHOD,
        config,
        answer=chosen.answer if chosen else None,
        steps=chosen.steps if chosen else [],
        candidates=[n.to_candidate(inst.run) for inst in runs for n in inst.nodes[1:]],
        n_generated_tokens=sum(
            sum(n.n_tokens for n in inst.nodes) + inst.merged_tokens for inst in runs
        ),
        seconds=timing["batch_seconds"] / timing["batch_problems"],
        tree_id=problem.id if saved_tree else None,
        meta=meta,
    )
