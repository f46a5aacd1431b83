"""MCTS on scripted policies: exact PUCT bookkeeping worked out by hand for both budgets (the
released tree budget and our per-step moves), batching (one backend call per iteration across
problems), terminal rewards backed up once, the answer from the pruned tree, offline == online.

The released reference is github MARIO-Math-Reasoning/Super_MARIO (mcts_math/agents/mcts.py,
mcts_math/nodes/mcts_node.py, mcts_math/solver.py, offline_inference.py)."""

from __future__ import annotations

import math
import re

import pytest
from test_search import ScriptedPolicy, ScriptedScorer, make_problems

from mathverify.backends.base import Completion
from mathverify.errors import MathverifyError
from mathverify.grading import GradingPool
from mathverify.prompting import PromptFormat
from mathverify.records import Problem, RecordWriter, Tree, read_all
from mathverify.search import SEARCHES, SearchConfig
from mathverify.search.mcts import MCTSNode, puct_score, select_child
from mathverify.search.tree_answer import pruned, tree_answer

FORMAT = PromptFormat()

# prefix steps -> the next steps (text, finish_reason, probability), in proposal order.
TABLE: dict[tuple[str, ...], list[tuple[str, str, float]]] = {
    (): [("= 3", "stop", 0.6), ("= 4", "stop", 0.4)],
    ("= 3",): [("\\boxed{3}", "eos", 0.9), ("\\boxed{9}", "eos", 0.1)],
    ("= 4",): [("\\boxed{4}", "eos", 0.5), ("\\boxed{7}", "eos", 0.5)],
}


class TablePolicy:
    """Proposes the steps of ``table`` (:data:`TABLE` by default; one token each, logprob =
    log p), in order."""

    name = "table"

    def __init__(self, table: dict | None = None, tokens: int = 1) -> None:
        self.calls: list[tuple[int, int]] = []
        self.table = TABLE if table is None else table
        self.tokens = tokens

    def complete(
        self, prompts, *, n=1, temperature=0.0, top_p=1.0, max_tokens=256, stop=None, seed=0
    ):
        self.calls.append((len(prompts), n))
        out = []
        for prompt in prompts:
            rest = prompt.split("\nSolution:\n", 1)[1]
            steps = tuple(s for s in rest.split(FORMAT.separator) if s)
            options = self.table[steps]
            out.append(
                [
                    Completion(text, self.tokens, reason, self.tokens * math.log(p))
                    for text, reason, p in options[:n]
                ]
            )
        return out


def table_problem(pid: str = "t0") -> Problem:
    return Problem(id=pid, problem="Compute 1+2.", answer="3")


def mcts_config(**overrides) -> SearchConfig:
    base = {
        "mcts_budget": "tree",
        "b2": 2,
        "simulations": 5,
        "c_puct": 1.0,
        "gold_reward": True,
        "rollout": False,
        "temperature": 1.0,
        "max_depth": 10,
    }
    base.update(overrides)
    return SearchConfig(**base)


@pytest.fixture(scope="module")
def pool():
    with GradingPool(workers=1) as grading_pool:
        yield grading_pool


def by_text(tree: Tree) -> dict[str, dict]:
    return {node["text"]: node for node in tree.nodes}


def test_puct_prefers_prior_when_unvisited_and_value_when_visited():
    parent = MCTSNode(id=0, parent=None, step="", depth=0, path=[], visits=4)
    a = MCTSNode(id=1, parent=0, step="a", depth=1, path=["a"], prior=0.6, visits=2, value_sum=1.0)
    b = MCTSNode(id=2, parent=0, step="b", depth=1, path=["b"], prior=0.4)
    parent.children = [1, 2]
    # a: 0.5 + 0.6 * 2 / 3 = 0.9; b: 0 + 0.4 * 2 / 1 = 0.8
    assert puct_score(a, 4, 1.0) == pytest.approx(0.9)
    assert puct_score(b, 4, 1.0) == pytest.approx(0.8)
    assert select_child([parent, a, b], parent, 1.0) is a
    assert select_child([parent, a, b], parent, 2.0) is b  # more exploration: the unvisited one
    # The released selection (mcts.py:85-96) skips terminal children; none open: None.
    a.terminal = True
    assert select_child([parent, a, b], parent, 1.0, open_only=True) is b
    b.terminal = True
    assert select_child([parent, a, b], parent, 1.0, open_only=True) is None
    assert select_child([parent, a, b], parent, 1.0) is a  # per-step: terminals compete


def test_tree_budget_on_a_hand_worked_tree(pool):
    # Released MCTS (mcts.py:67-96, 225-255): one tree, terminal children never selected,
    # each terminal's reward backed up once, when it is created (mcts.py:186-195).
    # It 1: select the root, expand it: "= 3" (prior .6), "= 4" (.4); the root's value 0
    #   backed up: root N=1, W=0.
    # It 2: PUCT "= 3" = .6 * sqrt1 / 1 = .6 > "= 4" = .4: expand "= 3". Its children
    #   boxed{3} (+1) and boxed{9} (-1) back up once each, then its own value 0:
    #   boxed{3} N=1 q=1, boxed{9} N=1 q=-1, "= 3" N=3 W=0, root N=4 W=0.
    # It 3: root N=4: "= 3" = 0 + .6 * 2 / 4 = .3 < "= 4" = 0 + .4 * 2 / 1 = .8: expand "= 4":
    #   boxed{4} (-1), boxed{7} (-1), value 0: "= 4" N=3 W=-2, root N=7 W=-2.
    # It 4: root N=7: "= 3" = 0 + .6 * sqrt7 / 4 = .40 > "= 4" = -2/3 + .4 * sqrt7 / 4 = -.40;
    #   every child of "= 3" is terminal: it is exhausted and the tree stops (mcts.py:71-77,
    #   solver.py:119-126), the last simulation unused.
    # Answer: nothing pruned (all leaves are answers); by Q "= 3" (0) > "= 4" (-2/3), then
    #   boxed{3} (1) > boxed{9} (-1).
    policy = TablePolicy()
    sink: list[Tree] = []
    [result] = SEARCHES["mcts"](
        [table_problem()], policy, None, mcts_config(), pool=pool, tree_sink=sink
    )
    assert policy.calls == [(1, 2)] * 3
    assert result.answer == "3"
    assert result.steps == ["= 3", "\\boxed{3}"]
    assert result.meta["n_simulations"] == 3
    nodes = by_text(sink[0])
    assert (result.meta["stopped_at"], result.meta["dead_end"]) == (4, nodes["= 3"]["id"])
    assert nodes["= 3"]["exhausted"] and not nodes["= 3"]["terminal"]
    root = sink[0].nodes[0]
    assert (root["visits"], root["q"]) == (7, pytest.approx(-2 / 7))
    assert (nodes["= 3"]["visits"], nodes["= 3"]["q"]) == (3, pytest.approx(0.0))
    assert (nodes["= 4"]["visits"], nodes["= 4"]["q"]) == (3, pytest.approx(-2 / 3))
    assert (nodes["\\boxed{3}"]["visits"], nodes["\\boxed{3}"]["q"]) == (1, 1.0)
    for text in ("\\boxed{9}", "\\boxed{4}", "\\boxed{7}"):
        assert nodes[text]["reward"] == -1.0
        assert (nodes[text]["visits"], nodes[text]["q"]) == (1, -1.0)
    assert result.meta["chosen_node"] == nodes["\\boxed{3}"]["id"]
    assert result.meta["score"] == 1.0
    assert result.meta["path"] == [nodes["= 3"]["id"], nodes["\\boxed{3}"]["id"]]


class TableScorer:
    """Scores a step by its text (the last step's score is what MCTS reads)."""

    name = "table-scorer"
    SCORES = {
        "= 3": 0.8,
        "= 4": 0.3,
        "\\boxed{3}": 0.9,
        "\\boxed{9}": 0.2,
        "\\boxed{4}": 0.6,
        "\\boxed{7}": 0.1,
    }

    def __init__(self) -> None:
        self.calls: list[int] = []

    def score(self, problems: list[str], steps: list[list[str]]) -> list[list[float | None]]:
        self.calls.append(len(steps))
        return [[self.SCORES[s] for s in solution] for solution in steps]


def test_tree_budget_values_terminals_by_the_scorer_once_on_test_problems(pool):
    # No gold answer used (the released test-set mode, mcts.py:196-198, 209-220): a finished
    # solution's value is the scorer's 2s - 1 of it, backed up once. Values: "= 3" .6,
    # "= 4" -.4, boxed{3} .8, boxed{9} -.6, boxed{4} .2, boxed{7} -.8; the root 0.
    # It 1: expand the root; root N=1 W=0.
    # It 2: "= 3" (.6) > "= 4" (.4): expand; boxed{3} .8, boxed{9} -.6, "= 3" .6 backed up:
    #   "= 3" N=3 W=.8, root N=4 W=.8.
    # It 3: "= 3" = .8/3 + .6 * 2/4 = .57 < "= 4" = .4 * 2 = .8: expand; boxed{4} .2,
    #   boxed{7} -.8, "= 4" -.4: "= 4" N=3 W=-1, root N=7 W=-.2.
    # It 4: "= 3" = .27 + .40 = .66 > "= 4" = -.33 + .26: "= 3" is exhausted; stop.
    policy, scorer = TablePolicy(), TableScorer()
    sink: list[Tree] = []
    [result] = SEARCHES["mcts"](
        [table_problem()],
        policy,
        scorer,
        mcts_config(gold_reward=False, simulations=10),
        pool=pool,
        tree_sink=sink,
    )
    nodes = by_text(sink[0])
    assert policy.calls == [(1, 2)] * 3
    # One scorer call per iteration for the leaf and its new finished children together
    # (the root, iteration 1, has no step to score).
    assert scorer.calls == [3, 3]
    assert sink[0].nodes[0]["visits"] == 7
    assert sink[0].nodes[0]["q"] == pytest.approx(-0.2 / 7)
    assert (nodes["= 3"]["visits"], nodes["= 3"]["q"]) == (3, pytest.approx(0.8 / 3))
    assert (nodes["= 4"]["visits"], nodes["= 4"]["q"]) == (3, pytest.approx(-1 / 3))
    for text, value in [("\\boxed{3}", 0.8), ("\\boxed{9}", -0.6), ("\\boxed{7}", -0.8)]:
        assert nodes[text]["reward"] == pytest.approx(value)
        assert (nodes[text]["visits"], nodes[text]["q"]) == (1, pytest.approx(value))
    assert result.answer == "3" and result.meta["stopped_at"] == 4


def test_per_step_budget_reproduces_the_search_before_the_tree_budget(pool):
    # Our per-step moves, unchanged (with --distinct, which it always applied):
    # Sim 1 expands the root (value 0). Sim 2: PUCT A = .6, B = .4 -> expand A (value 0).
    # Sim 3: root N=2: A = .6*sqrt2/2 = .42, B = .4*sqrt2 = .57 -> expand B (value 0).
    # Sim 4: root N=3: A = .6*sqrt3/2 = .52 > B = .4*sqrt3/2 = .35; under A, boxed{3}
    # (prior .9) beats boxed{9} (.1): reward +1. Sim 5: A = .5 + .6*2/3 = .9 > B = .4 -> +1.
    # Commit A (3 visits vs 1). Sims 6-10 from A all pick boxed{3} (+1); commit it: done.
    policy = TablePolicy()
    sink: list[Tree] = []
    [result] = SEARCHES["mcts"](
        [table_problem()],
        policy,
        None,
        mcts_config(mcts_budget="per-step", distinct=True),
        pool=pool,
        tree_sink=sink,
    )
    assert policy.calls == [(1, 2)] * 3  # three expansions, then no backend call
    assert result.answer == "3"
    assert result.steps == ["= 3", "\\boxed{3}"]
    assert result.meta["n_simulations"] == 10
    nodes = by_text(sink[0])
    root = sink[0].nodes[0]
    assert (root["visits"], root["q"]) == (10, pytest.approx(0.7))
    assert (nodes["= 3"]["visits"], nodes["= 3"]["q"]) == (8, pytest.approx(7 / 8))
    assert (nodes["= 4"]["visits"], nodes["= 4"]["q"]) == (1, 0.0)
    assert (nodes["\\boxed{3}"]["visits"], nodes["\\boxed{3}"]["q"]) == (7, 1.0)
    assert nodes["\\boxed{3}"]["reward"] == 1.0
    for text in ("\\boxed{9}", "\\boxed{4}", "\\boxed{7}"):
        assert nodes[text]["reward"] == -1.0
        assert nodes[text]["visits"] == 0 and nodes[text]["q"] is None
    assert nodes["= 3"]["prior"] == pytest.approx(0.6)


def test_tree_budget_runs_exactly_simulations_iterations_per_tree(pool):
    # Six numbers: the first box comes at depth 6, so five iterations meet no dead end.
    policy = ScriptedPolicy(error_rate=0.3)
    problems = make_problems(3, n_numbers=6)
    results = SEARCHES["mcts"](
        problems, policy, ScriptedScorer(), mcts_config(b2=3, simulations=5, gold_reward=False)
    )
    assert [(c[0], c[1]) for c in policy.calls] == [(3, 3)] * 5
    for result in results:
        assert result.meta["n_simulations"] == 5 and result.meta["stopped_at"] is None
        assert result.meta["n_nodes"] <= 5 * 3
        assert result.answer is None  # no finished solution yet: the pruned tree is empty


def test_expansions_of_all_problems_share_one_backend_call_per_simulation(pool):
    policy = TablePolicy()
    problems = [table_problem(f"t{i}") for i in range(3)]
    results = SEARCHES["mcts"](problems, policy, None, mcts_config(), pool=pool)
    assert policy.calls == [(3, 2)] * 3
    assert [r.answer for r in results] == ["3"] * 3


def test_batch_problems_bounds_each_call(pool):
    policy = TablePolicy()
    problems = [table_problem(f"t{i}") for i in range(3)]
    SEARCHES["mcts"](problems, policy, None, mcts_config(batch_problems=2), pool=pool)
    assert policy.calls == [(2, 2)] * 3 + [(1, 2)] * 3


def test_rollouts_value_new_leaves_in_one_more_call(pool):
    policy = ScriptedPolicy(error_rate=0.3)
    problems = make_problems(4)
    SEARCHES["mcts"](
        problems, policy, None, mcts_config(b2=3, simulations=4, rollout=True), pool=pool
    )
    step_calls = [c for c in policy.calls if c[2]]
    rollout_calls = [c for c in policy.calls if not c[2]]
    # Every simulation step that expands sends every expanding problem in one call, and
    # rolls each expanded leaf out once in one more call.
    assert len(step_calls) == len(rollout_calls)
    assert all(s[0] == r[0] and r[1] == 1 for s, r in zip(step_calls, rollout_calls, strict=True))
    assert step_calls[0][0] == 4


class ConstantScorer:
    """Scores every step ``score``: a leaf's value is then ``2 * score - 1``."""

    name = "constant"

    def __init__(self, score: float) -> None:
        self.value = score

    def score(self, problems: list[str], steps: list[list[str]]) -> list[list[float | None]]:
        return [[self.value] * len(solution) for solution in steps]


@pytest.mark.parametrize("weight", [0.0, 0.25, 1.0])
def test_rollout_mix_values_a_leaf_by_value_and_graded_rollout(pool, weight):
    # The table's rollouts are its first proposals: "= 3" rolls out to \boxed{3} (+1),
    # "= 4" to \boxed{4} (-1). The scorer alone values both 2 * 0.6 - 1 = 0.2.
    policy = TablePolicy()
    sink: list[Tree] = []
    SEARCHES["mcts"](
        [table_problem()],
        policy,
        ConstantScorer(0.6),
        mcts_config(rollout_mix=weight, c_puct=10.0),  # explore: both first steps get expanded
        pool=pool,
        tree_sink=sink,
    )
    nodes = by_text(sink[0])
    assert nodes["= 3"]["value"] == pytest.approx((1 - weight) * 0.2 + weight * 1.0)
    assert nodes["= 4"]["value"] == pytest.approx((1 - weight) * 0.2 - weight * 1.0)
    rollouts = [c for c in policy.calls if c[1] == 1]
    assert bool(rollouts) == (weight > 0)  # no rollout call at all without the mix


@pytest.mark.parametrize(
    ("overrides", "has_scorer", "message"),
    [
        ({"rollout_mix": 1.5}, True, "must be in [0, 1]"),
        ({"rollout_mix": 0.5}, False, "give --scorer"),
        ({"rollout_mix": 0.5, "gold_reward": False}, True, "needs --gold-reward"),
    ],
)
def test_rollout_mix_bad_settings(overrides, has_scorer, message):
    with pytest.raises(MathverifyError, match=re.escape(message)):
        # rollout at its default: with a scorer it is not read (and so may not be set).
        mcts_config(**{"rollout": True, **overrides}).check("mcts", has_scorer=has_scorer)
    with pytest.raises(MathverifyError, match="applies to mcts"):
        SearchConfig(rollout_mix=0.5).check("sbs", has_scorer=True)


@pytest.mark.parametrize("budget", ["tree", "per-step"])
@pytest.mark.parametrize("rollout", [True, False])
def test_terminal_q_equals_reward_and_rewards_grade_the_answer(pool, rollout, budget):
    problems = make_problems(6)
    sink: list[Tree] = []
    SEARCHES["mcts"](
        problems,
        ScriptedPolicy(error_rate=0.3, early_box=True),
        None,
        mcts_config(b2=3, simulations=6, rollout=rollout, mcts_budget=budget),
        pool=pool,
        tree_sink=sink,
    )
    gold = {p.id: p.answer for p in problems}
    n_visited_terminals = 0
    for tree in sink:
        for node in tree.nodes:
            if not node["terminal"]:
                assert node["reward"] is None
                continue
            expected = 1.0 if node["answer"] == gold[tree.problem_id] else -1.0
            assert node["reward"] == expected
            if node["visits"]:
                n_visited_terminals += 1
                assert node["q"] == node["reward"]
            if budget == "tree":
                # Backed up once, when created, and never selected again.
                assert node["visits"] == 1
    assert n_visited_terminals > 0


@pytest.mark.parametrize("budget", ["tree", "per-step"])
def test_visits_add_up_and_q_is_the_mean_backed_up(pool, budget):
    sink: list[Tree] = []
    SEARCHES["mcts"](
        make_problems(3),
        ScriptedPolicy(error_rate=0.4, early_box=True),
        ScriptedScorer(),
        mcts_config(b2=3, simulations=8, gold_reward=False, mcts_budget=budget),
        pool=pool,
        tree_sink=sink,
    )
    n_terminal = 0
    for tree in sink:
        children: dict[int, list[dict]] = {}
        for node in tree.nodes:
            if node["parent"] is not None:
                children.setdefault(node["parent"], []).append(node)
        for node in tree.nodes:
            kids = children.get(node["id"], [])
            n_terminal += node["terminal"] and node["visits"] > 0
            if node["terminal"] or not node["visits"]:
                continue
            # A node is evaluated once (its expansion); every other visit is a child's:
            # a simulation through it (per-step) or a terminal child's reward (tree).
            assert node["visits"] == 1 + sum(k["visits"] for k in kids)
            total = node["value"] + sum(k["q"] * k["visits"] for k in kids if k["visits"])
            assert node["q"] == pytest.approx(total / node["visits"])
    assert n_terminal > 0


@pytest.mark.parametrize(
    "settings, scored",
    [
        ({"gold_reward": True, "rollout": True}, False),
        ({"gold_reward": False}, True),
        ({"gold_reward": True, "b2": 4, "simulations": 3, "max_depth": 3}, True),
    ],
)
def test_offline_reselection_gives_the_per_step_answer(tmp_path, pool, settings, scored):
    problems = make_problems(6)
    config = mcts_config(**{"b2": 3, "simulations": 4, "mcts_budget": "per-step", **settings})
    sink: list[Tree] = []
    online = SEARCHES["mcts"](
        problems,
        ScriptedPolicy(error_rate=0.35, early_box=True),
        ScriptedScorer() if scored else None,
        config,
        pool=pool,
        tree_sink=sink,
    )
    path = tmp_path / "trees.jsonl"
    with RecordWriter(str(path), Tree) as writer:
        writer.write_all(sink)
    assert len(read_all(str(path), Tree)) == len(problems)
    reselect = SearchConfig(
        b1=1, b2=config.b2, rule="visits", trees=str(path), max_depth=config.max_depth
    )
    offline = SEARCHES["offline"](problems, None, None, reselect, pool=pool)
    assert [r.answer for r in offline] == [r.answer for r in online]
    assert [r.steps for r in offline] == [r.steps for r in online]
    assert [r.meta["chosen_node"] for r in offline] == [r.meta["chosen_node"] for r in online]


@pytest.mark.parametrize("scored", [False, True])
def test_the_saved_tree_gives_the_tree_budget_answer(tmp_path, pool, scored):
    # What offline re-selection needs (offline_inference.py:94-189): the saved nodes alone
    # (visits, q, terminal, answer) give the online answer through tree_answer.
    problems = make_problems(8)
    sink: list[Tree] = []
    online = SEARCHES["mcts"](
        problems,
        ScriptedPolicy(error_rate=0.35, early_box=True),
        ScriptedScorer() if scored else None,
        mcts_config(b2=3, simulations=12, gold_reward=not scored, rollout=True),
        pool=pool,
        tree_sink=sink,
    )
    path = tmp_path / "trees.jsonl"
    with RecordWriter(str(path), Tree) as writer:
        writer.write_all(sink)
    saved = read_all(str(path), Tree)
    for tree in saved:
        for node in tree.nodes:
            assert {"visits", "q", "value", "prior", "terminal", "reward", "answer"} <= set(node)
    chosen = [tree_answer(tree.nodes) for tree in saved]
    assert [c["id"] if c else None for c in chosen] == [r.meta["chosen_node"] for r in online]
    assert [c["answer"] if c else None for c in chosen] == [r.answer for r in online]
    assert any(r.answer is not None for r in online)
    # `search --method offline --prune --rule q --b1 1`: the released offline inference over
    # the saved trees gives the online answers, steps and nodes.
    released = SearchConfig(b1=1, b2=3, rule="q", prune=True, trees=str(path))
    offline = SEARCHES["offline"](problems, None, None, released, pool=pool)
    assert [r.meta["chosen_node"] for r in offline] == [r.meta["chosen_node"] for r in online]
    assert [(r.answer, r.steps) for r in offline] == [(r.answer, r.steps) for r in online]
    assert "max_depth" not in offline[0].config and offline[0].config["prune"] is True


def test_the_same_seed_gives_the_same_trees(pool):
    def run(seed: int) -> list[dict]:
        sink: list[Tree] = []
        SEARCHES["mcts"](
            make_problems(3),
            ScriptedPolicy(error_rate=0.4),
            None,
            mcts_config(b2=3, simulations=3, rollout=True, seed=seed),
            pool=pool,
            tree_sink=sink,
        )
        return [t.to_dict() for t in sink]

    assert run(1) == run(1)
    assert run(1) != run(2)


@pytest.mark.parametrize(
    "settings, has_scorer, message",
    [
        ({}, False, "--gold-reward"),
        ({"simulations": 0, "gold_reward": True}, False, "--simulations"),
        ({"c_puct": -1.0}, True, "--c-puct"),
        ({"runs": 2}, True, "--runs"),
        ({"mcts_budget": "moves"}, True, "--mcts-budget"),
    ],
)
def test_bad_mcts_settings_are_refused(settings, has_scorer, message):
    with pytest.raises(MathverifyError, match=message):
        SearchConfig(**settings).check("mcts", has_scorer=has_scorer)


# --------------------------------------------------------------------------------------
# Duplicates: kept by default (released remove_duplicate off, config.py:165-167), merged
# with distinct (mcts.py:115-123, the first of a group kept); tokens count every sample.

DUP_TABLE: dict[tuple[str, ...], list[tuple[str, str, float]]] = {
    (): [("= 3", "stop", 0.6), (" = 3  ", "stop", 0.6), ("= 4", "stop", 0.4)],
    ("= 3",): [("\\boxed{3}", "eos", 0.9)] * 3,
    ("= 4",): [("\\boxed{4}", "eos", 0.5)] * 3,
}


@pytest.mark.parametrize("distinct", [False, True])
def test_duplicates_follow_the_option_and_tokens_count_every_sample(pool, distinct):
    # It 1 expands the root (3 samples, two of them "= 3" after stripping); it 2 expands the
    # first "= 3" (prior .6 beats .4; the copy ties and comes later): 3 x boxed{3}.
    policy = TablePolicy(DUP_TABLE, tokens=2)
    sink: list[Tree] = []
    [result] = SEARCHES["mcts"](
        [table_problem()],
        policy,
        None,
        mcts_config(b2=3, simulations=2, distinct=distinct),
        pool=pool,
        tree_sink=sink,
    )
    texts = [node["text"] for node in sink[0].nodes[1:]]
    if distinct:
        assert texts == ["= 3", "= 4", "\\boxed{3}"]
        assert (result.meta["n_merged"], result.meta["merged_tokens"]) == (3, 6)
        assert [node["merged"] for node in sink[0].nodes[1:]] == [1, 0, 2]
    else:
        assert texts == ["= 3", "= 3", "= 4"] + ["\\boxed{3}"] * 3
        assert result.meta["n_merged"] == 0
    assert result.n_generated_tokens == 6 * 2  # 2 expansions x 3 samples x 2 tokens
    assert result.answer == "3"


def test_mcts_keeps_duplicates_by_default_and_sbs_merges_them():
    assert SearchConfig.for_method("mcts").distinct is False
    assert SearchConfig.for_method("sbs").distinct is True


# --------------------------------------------------------------------------------------
# The answer from the pruned tree (offline_inference.py:87-189), on hand-built trees


def N(id, parent, q=None, terminal=False, answer=None):  # noqa: N802 - a table row
    return {"id": id, "parent": parent, "q": q, "terminal": terminal, "answer": answer}


TREES = {
    # A has the best Q but no answer below it: pruned, so B's answer wins.
    "prune-a-leaf": [N(0, None), N(1, 0, q=0.9), N(2, 0, q=0.1), N(3, 2, 0.1, True, "5")],
    # A's children are a depth cut and a finished solution without an answer: A is pruned;
    # B's answer wins even with Q -1.
    "prune-a-subtree": [
        N(0, None),
        N(1, 0, q=0.9),
        N(2, 0, q=-0.5),
        N(3, 1, -1.0, True, None),
        N(4, 1, -1.0, True, None),
        N(5, 2, -1.0, True, "7"),
    ],
    "root-pruned": [N(0, None), N(1, 0, q=0.5), N(2, 1, -1.0, True, None)],
    # Equal Q: the earlier child (a stable sort, as the released sorted()).
    "tie": [
        N(0, None),
        N(1, 0, q=0.5),
        N(2, 0, q=0.5),
        N(3, 1, 0.5, True, "1"),
        N(4, 2, 0.5, True, "2"),
    ],
    # An unvisited node's Q counts as 0 (mcts_node.py:23-26): above -0.2.
    "unvisited-q": [
        N(0, None),
        N(1, 0),
        N(2, 0, q=-0.2),
        N(3, 1, 1.0, True, "1"),
        N(4, 2, 1.0, True, "2"),
    ],
    # A step to an answer: a finished node with an answer at depth 1.
    "answer-at-depth-1": [
        N(0, None),
        N(1, 0, 0.3, True, "4"),
        N(2, 0, q=0.2),
        N(3, 2, 1.0, True, "6"),
    ],
}


@pytest.mark.parametrize(
    ("tree", "expected", "gone"),
    [
        ("prune-a-leaf", 3, {1}),
        ("prune-a-subtree", 5, {1, 3, 4}),
        ("root-pruned", None, {0, 1, 2}),
        ("tie", 3, set()),
        ("unvisited-q", 3, set()),
        ("answer-at-depth-1", 1, set()),
    ],
)
def test_tree_answer_follows_the_pruned_tree_by_q(tree, expected, gone):
    nodes = TREES[tree]
    assert pruned(nodes) == gone
    best = tree_answer(nodes)
    assert (best["id"] if best else None) == expected


def test_tree_answer_width_and_child_cap():
    nodes = [
        N(0, None),
        N(1, 0, 0.8, True, "1"),
        N(2, 0, q=0.5),
        N(3, 0, q=0.4),
        N(4, 2, 0.9, True, "2"),
        N(5, 3, 1.0, True, "3"),
    ]
    # Width 2: A (answer, .8) finishes and narrows the beam to 1; B goes on and finishes
    # with .9; C is never reached. The best finished by Q: B's child.
    assert tree_answer(nodes, width=2)["id"] == 4
    assert tree_answer(nodes)["id"] == 1  # width 1: the best first step is an answer
    # rebuild_tree keeps the first b1 * b2 children of a node: with 2, C is not there.
    assert pruned(nodes, max_children=2) == set()
    assert tree_answer(nodes, width=3, max_children=2)["id"] == 4


def test_gold_reward_refuses_a_problem_without_an_answer(pool):
    problem = Problem(id="x", problem="Compute 1+2.", answer=None)
    with pytest.raises(MathverifyError, match="no gold answer"):
        SEARCHES["mcts"]([problem], TablePolicy(), None, mcts_config(), pool=pool)


# --------------------------------------------------------------------------------------
# label --method mcts


def hand_tree(pool) -> Tree:
    sink: list[Tree] = []
    SEARCHES["mcts"](
        [table_problem()], TablePolicy(), None, mcts_config(), pool=pool, tree_sink=sink
    )
    return sink[0]


def test_label_mcts_writes_every_trajectory_with_q_labels(pool):
    from mathverify.labeling.mcts import label_mcts

    solutions = list(label_mcts([hand_tree(pool)], {"t0": table_problem()}))
    by_answer = {s.answer: s for s in solutions}
    assert sorted(by_answer) == ["3", "4", "7", "9"]
    assert [s.sample_id for s in solutions] == [0, 1, 2, 3]
    right = by_answer["3"]
    # The tree of test_tree_budget_on_a_hand_worked_tree: "= 3" has Q 0 (label 0.5),
    # "= 4" Q -2/3 (label 1/6), every terminal Q = its reward.
    assert right.steps == ["= 3", "\\boxed{3}"] and right.outcome is True
    assert right.step_labels == [pytest.approx(0.5), 1.0]
    assert by_answer["9"].step_labels == [pytest.approx(0.5), 0.0]
    assert by_answer["9"].outcome is False
    assert by_answer["4"].step_labels == [pytest.approx(1 / 6), 0.0]
    assert by_answer["7"].step_labels == [pytest.approx(1 / 6), 0.0]
    assert {s.label_source for s in solutions} == {"mcts"}


def test_label_mcts_adds_visited_paths_without_a_terminal_below(pool):
    from mathverify.labeling.mcts import label_mcts

    sink: list[Tree] = []
    SEARCHES["mcts"](
        make_problems(2, n_numbers=6),
        ScriptedPolicy(error_rate=0.3),
        None,
        mcts_config(b2=2, simulations=3, rollout=True, max_depth=10),
        pool=pool,
        tree_sink=sink,
    )
    problems = {p.id: p for p in make_problems(2, n_numbers=6)}
    solutions = list(label_mcts(sink, problems))
    labeled_nodes = {(s.problem_id, s.meta["node"]) for s in solutions}
    for tree in sink:
        visited = {n["id"] for n in tree.nodes if n["visits"] and n["parent"] is not None}
        on_paths: set[int] = set()
        parent = {n["id"]: n["parent"] for n in tree.nodes}
        for pid, node in labeled_nodes:
            if pid == tree.problem_id:
                while parent[node] is not None:
                    on_paths.add(node)
                    node = parent[node]
        assert visited <= on_paths
    partial = [s for s in solutions if not s.meta["terminal"]]
    assert partial and all(s.outcome is None and s.answer is None for s in partial)


def test_label_cli_mcts(tmp_path, pool):
    import json

    from typer.testing import CliRunner

    from mathverify.cli import app

    trees = tmp_path / "trees.jsonl"
    with RecordWriter(str(trees), Tree) as writer:
        writer.write(hand_tree(pool))
    problems = tmp_path / "problems.jsonl"
    problems.write_text(json.dumps(table_problem().to_dict()) + "\n")
    out = tmp_path / "labeled.jsonl"
    args = ["label", "--method", "mcts", "-p", str(problems), "-o", str(out), "-i", str(trees)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4 and sum(r["outcome"] for r in rows) == 1


# --------------------------------------------------------------------------------------
# Through the CLI: search --method mcts --save-tree, offline re-selection, label --method mcts


def test_mcts_offline_and_label_through_the_cli(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    import mathverify.cli.search as cli
    from mathverify.cli import app

    monkeypatch.setattr(
        cli, "open_policy", lambda *a, **k: (ScriptedPolicy(error_rate=0.35), FORMAT)
    )
    problems = tmp_path / "p.jsonl"
    with RecordWriter(str(problems), Problem) as writer:
        writer.write_all(make_problems(5))
    trees, online, offline = (tmp_path / n for n in ("t.jsonl", "on.jsonl", "off.jsonl"))
    common = ["--problems", str(problems), "--grade-workers", "1"]
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["search", "--method", "mcts", "--policy", "x", "--scorer", "none", "--gold-reward",
         "--mcts-budget", "per-step",
         "--simulations", "4", "--b2", "3", "-t", "1.0", "--save-tree", str(trees),
         "-o", str(online), *common],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        ["search", "--method", "offline", "--trees", str(trees), "--rule", "visits",
         "--b1", "1", "--b2", "3", "--group-by", "string", "-o", str(offline), *common],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows_on = [json.loads(x) for x in online.read_text().splitlines()]
    rows_off = [json.loads(x) for x in offline.read_text().splitlines()]
    assert [r["answer"] for r in rows_on] == [r["answer"] for r in rows_off]
    assert all(r["meta"]["outcome"] is not None for r in rows_on)
    labeled = tmp_path / "labeled.jsonl"
    result = runner.invoke(
        app,
        ["label", "--method", "mcts", "-p", str(problems), "-i", str(trees), "-o", str(labeled)],
    )
    assert result.exit_code == 0, result.output
    solutions = [json.loads(x) for x in labeled.read_text().splitlines()]
    assert {s["problem_id"] for s in solutions} == {r["problem_id"] for r in rows_on}
    assert any(s.get("outcome") is True for s in solutions)


def test_mcts_without_scorer_or_gold_reward_is_refused_before_loading(tmp_path):
    from typer.testing import CliRunner

    from mathverify.cli import app

    problems = tmp_path / "p.jsonl"
    with RecordWriter(str(problems), Problem) as writer:
        writer.write_all(make_problems(1))
    result = CliRunner().invoke(
        app, ["search", "--method", "mcts", "--scorer", "none", "--problems", str(problems)]
    )
    assert result.exit_code == 2 and "--gold-reward" in result.output
