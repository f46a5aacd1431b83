"""MCTS on scripted policies: exact PUCT bookkeeping worked out by hand, batching (one backend
call per simulation step across problems), terminal Q == reward, offline == online."""

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

FORMAT = PromptFormat()

# prefix steps -> the next steps (text, finish_reason, probability), in proposal order.
TABLE: dict[tuple[str, ...], list[tuple[str, str, float]]] = {
    (): [("= 3", "stop", 0.6), ("= 4", "stop", 0.4)],
    ("= 3",): [("\\boxed{3}", "eos", 0.9), ("\\boxed{9}", "eos", 0.1)],
    ("= 4",): [("\\boxed{4}", "eos", 0.5), ("\\boxed{7}", "eos", 0.5)],
}


class TablePolicy:
    """Proposes the steps of :data:`TABLE` (one token each, logprob = log p), in order."""

    name = "table"

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def complete(
        self, prompts, *, n=1, temperature=0.0, top_p=1.0, max_tokens=256, stop=None, seed=0
    ):
        self.calls.append((len(prompts), n))
        out = []
        for prompt in prompts:
            rest = prompt.split("\nSolution:\n", 1)[1]
            steps = tuple(s for s in rest.split(FORMAT.separator) if s)
            options = TABLE[steps]
            out.append(
                [Completion(text, 1, reason, math.log(p)) for text, reason, p in options[:n]]
            )
        return out


def table_problem(pid: str = "t0") -> Problem:
    return Problem(id=pid, problem="Compute 1+2.", answer="3")


def mcts_config(**overrides) -> SearchConfig:
    base = {
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


def test_mcts_bookkeeping_on_a_hand_worked_tree(pool):
    # Sim 1 expands the root (value 0). Sim 2: PUCT A = .6, B = .4 -> expand A (value 0).
    # Sim 3: root N=2: A = .6*sqrt2/2 = .42, B = .4*sqrt2 = .57 -> expand B (value 0).
    # Sim 4: root N=3: A = .6*sqrt3/2 = .52 > B = .4*sqrt3/2 = .35; under A, boxed{3}
    # (prior .9) beats boxed{9} (.1): reward +1. Sim 5: A = .5 + .6*2/3 = .9 > B = .4 -> +1.
    # Commit A (3 visits vs 1). Sims 6-10 from A all pick boxed{3} (+1); commit it: done.
    policy = TablePolicy()
    sink: list[Tree] = []
    [result] = SEARCHES["mcts"](
        [table_problem()], policy, None, mcts_config(), pool=pool, tree_sink=sink
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
        mcts_config(**overrides).check("mcts", has_scorer=has_scorer)
    with pytest.raises(MathverifyError, match="applies to mcts"):
        SearchConfig(rollout_mix=0.5).check("sbs", has_scorer=True)


@pytest.mark.parametrize("rollout", [True, False])
def test_terminal_q_equals_reward_and_rewards_grade_the_answer(pool, rollout):
    problems = make_problems(6)
    sink: list[Tree] = []
    SEARCHES["mcts"](
        problems,
        ScriptedPolicy(error_rate=0.3, early_box=True),
        None,
        mcts_config(b2=3, simulations=6, rollout=rollout),
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
    assert n_visited_terminals > 0


def test_visits_add_up_and_q_is_the_mean_backed_up(pool):
    sink: list[Tree] = []
    SEARCHES["mcts"](
        make_problems(3),
        ScriptedPolicy(error_rate=0.4),
        ScriptedScorer(),
        mcts_config(b2=3, simulations=5, gold_reward=False),
        pool=pool,
        tree_sink=sink,
    )
    for tree in sink:
        children: dict[int, list[dict]] = {}
        for node in tree.nodes:
            if node["parent"] is not None:
                children.setdefault(node["parent"], []).append(node)
        for node in tree.nodes:
            kids = children.get(node["id"], [])
            if node["terminal"] or not node["visits"]:
                continue
            # A node is evaluated once (its expansion) and every later visit passes to a child.
            assert node["visits"] == 1 + sum(k["visits"] for k in kids)
            total = node["value"] + sum(k["q"] * k["visits"] for k in kids if k["visits"])
            assert node["q"] == pytest.approx(total / node["visits"])


@pytest.mark.parametrize(
    "settings, scored",
    [
        ({"gold_reward": True, "rollout": True}, False),
        ({"gold_reward": False}, True),
        ({"gold_reward": True, "b2": 4, "simulations": 3, "max_depth": 3}, True),
    ],
)
def test_offline_reselection_gives_the_online_answer(tmp_path, pool, settings, scored):
    problems = make_problems(6)
    config = mcts_config(**{"b2": 3, "simulations": 4, **settings})
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
    ],
)
def test_bad_mcts_settings_are_refused(settings, has_scorer, message):
    with pytest.raises(MathverifyError, match=message):
        SearchConfig(**settings).check("mcts", has_scorer=has_scorer)


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
    assert right.steps == ["= 3", "\\boxed{3}"] and right.outcome is True
    assert right.step_labels == [pytest.approx((7 / 8 + 1) / 2), 1.0]
    assert by_answer["9"].step_labels == [pytest.approx((7 / 8 + 1) / 2), 0.0]
    assert by_answer["9"].outcome is False
    # "= 4" was visited once with value 0: label 0.5; its unvisited terminals: their rewards.
    assert by_answer["4"].step_labels == [0.5, 0.0]
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
    common = ["--problems", str(problems), "--grade-workers", "1", "--group-by", "string"]
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["search", "--method", "mcts", "--policy", "x", "--scorer", "none", "--gold-reward",
         "--simulations", "4", "--b2", "3", "-t", "1.0", "--save-tree", str(trees),
         "-o", str(online), *common],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        ["search", "--method", "offline", "--trees", str(trees), "--rule", "visits",
         "--b1", "1", "--b2", "3", "-o", str(offline), *common],
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
