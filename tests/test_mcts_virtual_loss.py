"""MCTS with several leaves per tree per backend call (``leaves_per_call``, virtual loss).

With 1 the search is the released sequential one, checked against a copy of the loop as it
was before the option (:func:`sequential_run_mcts`); with more, hand-built trees show which
leaves the virtual loss picks and that none of it is left behind after the backups."""

from __future__ import annotations

import importlib

import pytest
from test_mcts import TABLE, TablePolicy, by_text, mcts_config, table_problem
from test_search import ScriptedPolicy, ScriptedScorer, make_problems
from typer.testing import CliRunner

from mathverify.errors import MathverifyError
from mathverify.grading import GradingPool
from mathverify.prompting import PromptFormat
from mathverify.records import Problem, RecordWriter, SearchResult, Tree, read_all
from mathverify.search import SEARCHES, SearchConfig
from mathverify.search.common import Stats

mcts_module = importlib.import_module("mathverify.search.mcts")
MCTSNode, Instance, Evaluator = mcts_module.MCTSNode, mcts_module._Instance, mcts_module._Evaluator
FORMAT = PromptFormat()


@pytest.fixture(scope="module")
def pool():
    with GradingPool(workers=1) as grading_pool:
        yield grading_pool


# --------------------------------------------------------------------------------------
# Hand-built trees, one call of the tree budget


class PromptPolicy(TablePolicy):
    """The table policy, noting the partial solutions (steps) of every call's prompts."""

    def __init__(self, table: dict) -> None:
        super().__init__(table)
        self.prefixes: list[list[tuple[str, ...]]] = []

    def complete(self, prompts, **options):
        steps = [prompt.split("\nSolution:\n", 1)[1].split(FORMAT.separator) for prompt in prompts]
        self.prefixes.append([tuple(s for s in row if s) for row in steps])
        return super().complete(prompts, **options)


class StepScorer:
    """Scores a partial solution's steps by their text."""

    name = "step-scorer"

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores
        self.calls: list[int] = []

    def score(self, problems: list[str], steps: list[list[str]]) -> list[list[float | None]]:
        self.calls.append(len(steps))
        return [[self.scores[s] for s in solution] for solution in steps]


def value_of(score: float) -> float:
    """A leaf's value from its last step's score, as the search computes it."""
    return 2.0 * score - 1.0


def hand_instance(root: tuple[int, float], children: dict[str, tuple]) -> tuple[Instance, dict]:
    """A tree: the root (visits, value_sum), expanded, and its children by text: (prior,
    visits, value_sum), with ``terminal`` children of their own given as a 4th item, a list
    of (text, reward)."""
    inst = Instance(problem=table_problem(), separator=FORMAT.separator, max_depth=10)
    top = inst.nodes[0]
    top.visits, top.value_sum, top.expanded = root[0], root[1], True
    nodes: dict[str, MCTSNode] = {}
    for text, (prior, visits, value_sum, *below) in children.items():
        node = MCTSNode(id=len(inst.nodes), parent=0, step=text, depth=1, path=[text], prior=prior)
        node.visits, node.value_sum = visits, value_sum
        inst.nodes.append(node)
        top.children.append(node.id)
        nodes[text] = node
        for child_text, reward in below[0] if below else []:
            child = MCTSNode(
                id=len(inst.nodes),
                parent=node.id,
                step=child_text,
                depth=2,
                path=[text, child_text],
                terminal=True,
                finished=True,
                reward=reward,
                value=reward,
                visits=1,
                value_sum=reward,
            )
            inst.nodes.append(child)
            node.children.append(child.id)
            node.expanded = True
            nodes[child_text] = child
    return inst, nodes


def one_call(inst: Instance, policy, scorer, **settings) -> None:
    config = mcts_config(**{"gold_reward": False, "b2": 1, "simulations": 10, **settings})
    evaluator = Evaluator(policy, scorer, config, Stats(), None, inst.problem.id)
    mcts_module._iterate([inst], evaluator, config)


# Every leaf proposes one open step; scores give the leaves' values.
ONE_STEP = {(text,): [(text + "1", "stop", 0.5)] for text in "abc"}
SCORES = {"a": 0.9, "b": 0.3, "c": 0.55, "a1": 0.5, "b1": 0.5, "c1": 0.5}

# Root N=4 W=.35; a (prior .5) N=1 W=.55, b (.25) N=1 W=.25, c (.25) N=1 W=0; c_puct 1.
# Selection 1, N=4: a = .55 + .5 * 2 / 2 = 1.05, b = .25 + .25 * 2 / 2 = .5, c = .25: a.
# Virtual loss on a: root N=5 W=-.65, a N=2 W=-.45.
# Selection 2, N=5: a = -.225 + .5 * sqrt5 / 3 = .148, b = .25 + .25 * sqrt5 / 2 = .53,
#   c = .28: b (without the virtual loss a again, 1.05 - the same leaf).
# Virtual loss on b: root N=6 W=-1.65, b N=2 W=-.75.
# Selection 3, N=6: a = -.225 + .5 * sqrt6 / 3 = .183, b = -.375 + .25 * sqrt6 / 3 = -.171,
#   c = .25 * sqrt6 / 2 = .306: c.
THREE = {"a": (0.5, 1, 0.55), "b": (0.25, 1, 0.25), "c": (0.25, 1, 0.0)}


def test_one_leaf_per_call_is_the_released_selection_on_a_hand_built_tree():
    inst, nodes = hand_instance((4, 0.35), THREE)
    policy, scorer = PromptPolicy(ONE_STEP), StepScorer(SCORES)
    one_call(inst, policy, scorer, leaves_per_call=1)
    assert policy.prefixes == [[("a",)]]
    root = inst.nodes[0]
    assert (root.visits, root.value_sum) == (5, 0.35 + value_of(0.9))
    assert (nodes["a"].visits, nodes["a"].value_sum) == (2, 0.55 + value_of(0.9))
    assert [(n.visits, n.value_sum) for n in (nodes["b"], nodes["c"])] == [(1, 0.25), (1, 0.0)]
    assert inst.n_simulations == 1 and not inst.done


def test_virtual_loss_steers_later_selections_and_is_undone_exactly():
    inst, nodes = hand_instance((4, 0.35), THREE)
    policy, scorer = PromptPolicy(ONE_STEP), StepScorer(SCORES)
    one_call(inst, policy, scorer, leaves_per_call=3)
    # Three distinct leaves in the order chosen, in one backend call and one scorer call.
    assert policy.prefixes == [[("a",), ("b",), ("c",)]]
    assert scorer.calls == [3]
    assert inst.n_simulations == 3 and not inst.done
    # Each node holds its real statistics plus the real backups, in the backup order, bit
    # for bit (undoing the root's two losses by arithmetic would end 2**-52 away).
    va, vb, vc = value_of(0.9), value_of(0.3), value_of(0.55)
    root = inst.nodes[0]
    assert (root.visits, root.value_sum) == (7, 0.35 + va + vb + vc)
    assert root.value_sum != (0.35 - 1 - 1 + 1 + 1) + va + vb + vc
    assert (nodes["a"].visits, nodes["a"].value_sum) == (2, 0.55 + va)
    assert (nodes["b"].visits, nodes["b"].value_sum) == (2, 0.25 + vb)
    assert (nodes["c"].visits, nodes["c"].value_sum) == (2, 0.0 + vc)
    assert [nodes[t].value for t in "abc"] == [va, vb, vc]
    for new in inst.nodes[4:]:
        assert (new.visits, new.value_sum) == (0, 0.0)


def test_a_leaf_chosen_again_ends_the_choosing_for_the_call():
    # A bare root: the first selection is the root, the second the root again.
    inst = Instance(problem=table_problem(), separator=FORMAT.separator, max_depth=10)
    policy = PromptPolicy(TABLE)
    one_call(inst, policy, StepScorer({"= 3": 0.5, "= 4": 0.5}), leaves_per_call=3, b2=2)
    assert policy.prefixes == [[()]]
    assert inst.n_simulations == 1 and (inst.nodes[0].visits, inst.nodes[0].value_sum) == (1, 0)


# Root N=5; a (prior .5) N=3 W=.5 with finished children a+ (+1) and a- (-1): a dead end;
# b (.5) N=1 W=.5, a leaf.
# Selection 1, N=5: a = .167 + .5 * sqrt5 / 4 = .446, b = .5 + .5 * sqrt5 / 2 = 1.06: b.
# Virtual loss on b (N=2 W=-.5). Selection 2, N=6: a = .167 + .5 * sqrt6 / 4 = .473,
#   b = -.25 + .5 * sqrt6 / 3 = .158: a, every child of which is terminal.
DEAD_END = {"a": (0.5, 3, 0.5, [("a+", 1.0), ("a-", -1.0)]), "b": (0.5, 1, 0.5)}


def test_a_dead_end_after_the_first_selection_ends_the_call_not_the_tree():
    inst, nodes = hand_instance((5, 1.0), DEAD_END)
    inst.n_simulations = 4
    policy = PromptPolicy({("b",): [("b1", "stop", 0.5)]})
    scorer = StepScorer({"b": 0.1, "b1": 0.5})
    one_call(inst, policy, scorer, leaves_per_call=2)
    assert policy.prefixes == [[("b",)]]
    assert not inst.done and inst.stopped_at is None and inst.dead_end is None
    assert not nodes["a"].exhausted
    assert inst.n_simulations == 5
    # Next call, no virtual loss yet: b's value -.8 backed up, root N=6: b = -.15 + .5 *
    # sqrt6 / 3 = .258 < a = .473: the first selection finds the dead end and stops the tree
    # at the 6th simulation.
    one_call(inst, policy, scorer, leaves_per_call=2)
    assert len(policy.prefixes) == 1
    assert inst.done and (inst.stopped_at, inst.dead_end) == (6, nodes["a"].id)
    assert nodes["a"].exhausted and sum(n.exhausted for n in inst.nodes) == 1


# --------------------------------------------------------------------------------------
# Whole searches


def test_two_leaves_per_call_on_the_hand_worked_tree(pool):
    # test_mcts.test_tree_budget_on_a_hand_worked_tree in two calls instead of three. Call 1:
    # the bare root, chosen twice: once. Call 2: "= 3" (.6 > .4); virtual loss: root N=2 W=-1,
    # "= 3" N=1 W=-1; then "= 3" = -1 + .6 * sqrt2 / 2 = -.58 < "= 4" = .4 * sqrt2 = .57:
    # "= 4". Both expand; the four rewards back up, then both values 0: the same tree. Call 3:
    # "= 3" is exhausted on the first selection: the tree stops at the 4th simulation.
    policy = TablePolicy()
    sink: list[Tree] = []
    [result] = SEARCHES["mcts"](
        [table_problem()], policy, None, mcts_config(leaves_per_call=2), pool=pool, tree_sink=sink
    )
    assert policy.calls == [(1, 2), (2, 2)]
    nodes = by_text(sink[0])
    assert (result.meta["stopped_at"], result.meta["dead_end"]) == (4, nodes["= 3"]["id"])
    assert result.meta["n_simulations"] == 3 and result.answer == "3"
    root = sink[0].nodes[0]
    assert (root["visits"], root["q"]) == (7, pytest.approx(-2 / 7))
    assert (nodes["= 3"]["visits"], nodes["= 3"]["q"]) == (3, pytest.approx(0.0))
    assert (nodes["= 4"]["visits"], nodes["= 4"]["q"]) == (3, pytest.approx(-2 / 3))
    assert result.config["leaves_per_call"] == 2
    assert sink[0].config["leaves_per_call"] == 2


def test_all_trees_leaves_go_in_one_backend_call(pool):
    policy = TablePolicy()
    problems = [table_problem(f"t{i}") for i in range(3)]
    results = SEARCHES["mcts"](problems, policy, None, mcts_config(leaves_per_call=2), pool=pool)
    assert policy.calls == [(3, 2), (6, 2)]
    assert [r.answer for r in results] == ["3"] * 3


@pytest.mark.parametrize(("simulations", "sizes"), [(7, [1, 3, 3]), (5, [1, 3, 1])])
def test_the_budget_is_simulations_leaves_per_tree(simulations, sizes):
    # Eight numbers: no box before depth 8, so no dead end. The first call has only the root
    # to choose; later ones three leaves each, the last only what is left of the budget.
    policy = ScriptedPolicy(error_rate=0.3)
    sink: list[Tree] = []
    config = mcts_config(b2=3, simulations=simulations, gold_reward=False, leaves_per_call=3)
    results = SEARCHES["mcts"](
        make_problems(3, n_numbers=8), policy, ScriptedScorer(), config, tree_sink=sink
    )
    assert [(c[0], c[1]) for c in policy.calls] == [(3 * size, 3) for size in sizes]
    for result, tree in zip(results, sink, strict=True):
        assert result.meta["n_simulations"] == simulations and result.meta["stopped_at"] is None
        expanded = {n["parent"] for n in tree.nodes if n["parent"] is not None}
        assert len(expanded) == simulations and len(tree.nodes) == 1 + 3 * simulations
        # No virtual loss left: a node's visits are its own evaluation and its children's.
        for node in tree.nodes:
            kids = [k for k in tree.nodes if k["parent"] == node["id"]]
            if node["visits"]:
                assert node["visits"] == 1 + sum(k["visits"] for k in kids)
                total = node["value"] + sum(k["q"] * k["visits"] for k in kids if k["visits"])
                assert node["q"] == pytest.approx(total / node["visits"])


# --------------------------------------------------------------------------------------
# One leaf per call is the sequential search: the loop as it was before the option


def select_leaf(inst, c_puct):
    """The released selection as the sequential loop ran it: one descent, the dead end marked."""
    node, is_leaf = mcts_module._descend(inst, c_puct)
    if not is_leaf:
        node.exhausted = True
        return None
    return node


def sequential_run_mcts(problems, policy, scorer, config, stats, pool):
    """run_mcts's tree budget before leaves_per_call: one leaf per tree per iteration."""
    evaluator = Evaluator(policy, scorer, config, stats, pool, problems[0].id)
    instances = [
        Instance(problem=p, separator=config.prompt.separator, max_depth=config.max_depth)
        for p in problems
    ]
    for iteration in range(1, config.simulations + 1):
        leaves = []
        for inst in (inst for inst in instances if not inst.done):
            leaf = select_leaf(inst, config.c_puct)
            if leaf is None:
                inst.done, inst.stopped_at = True, iteration
                inst.dead_end = next(n.id for n in inst.nodes if n.exhausted)
            else:
                leaves.append((inst, leaf))
        if not leaves:
            continue
        terminals = mcts_module._expand(leaves, evaluator, config)
        values = evaluator.evaluate(leaves, terminals, answerless_fails=True)
        for inst, node in terminals:
            inst.backup(node, node.reward)
        for (inst, leaf), value in zip(leaves, values, strict=True):
            leaf.value = value
            inst.backup(leaf, value)
            inst.n_simulations += 1
    return instances


def run_and_record(monkeypatch, run_mcts, settings, scored, pool):
    if run_mcts is not None:
        monkeypatch.setattr(mcts_module, "run_mcts", run_mcts)
    policy, scorer = ScriptedPolicy(error_rate=0.35, early_box=True), ScriptedScorer()
    sink: list[Tree] = []
    results = SEARCHES["mcts"](
        make_problems(5),
        policy,
        scorer if scored else None,
        mcts_config(b2=3, simulations=9, max_depth=6, batch_problems=3, **settings),
        pool=pool,
        tree_sink=sink,
    )
    monkeypatch.undo()
    rows = []
    for result in results:
        row = result.to_dict()
        del row["seconds"], row["meta"]["timing"]
        rows.append(row)
    return rows, [t.to_dict() for t in sink], policy.calls


@pytest.mark.parametrize(
    ("settings", "scored"),
    [
        ({"gold_reward": False, "seed": 1}, True),
        ({"gold_reward": True, "rollout": True, "seed": 2}, False),
        ({"gold_reward": True, "rollout_mix": 0.3, "seed": 3, "c_puct": 1.25}, True),
    ],
)
def test_one_leaf_per_call_gives_the_sequential_results_and_trees(
    monkeypatch, pool, settings, scored
):
    before = run_and_record(monkeypatch, sequential_run_mcts, settings, scored, pool)
    now = run_and_record(monkeypatch, None, {**settings, "leaves_per_call": 1}, scored, pool)
    assert now == before
    rows = before[0]
    assert any(r["meta"]["stopped_at"] is not None for r in rows)  # dead ends are covered
    assert all(r["config"]["leaves_per_call"] == 1 for r in now[0])
    # More leaves per call: another search, with the same budget and fewer, larger calls.
    more = run_and_record(monkeypatch, None, {**settings, "leaves_per_call": 3}, scored, pool)
    assert more[1] != before[1]
    step_calls = [c for c in more[2] if c[2]]
    assert len(step_calls) < len([c for c in before[2] if c[2]])


# --------------------------------------------------------------------------------------
# The option


@pytest.mark.parametrize(
    ("method", "settings", "has_scorer", "message"),
    [
        ("mcts", {"leaves_per_call": 0}, True, "--leaves-per-call must be at least 1, got 0"),
        ("sbs", {"leaves_per_call": 2}, True, "--leaves-per-call applies to mcts, not sbs"),
        ("greedy", {"leaves_per_call": 4}, False, "--leaves-per-call applies to mcts, not"),
        (
            "mcts",
            {"leaves_per_call": 2, "mcts_budget": "per-step"},
            True,
            "--leaves-per-call applies to --mcts-budget tree only",
        ),
    ],
)
def test_bad_leaves_per_call_is_refused(method, settings, has_scorer, message):
    with pytest.raises(MathverifyError, match=message):
        SearchConfig(**settings).check(method, has_scorer=has_scorer)


def test_per_step_refuses_more_leaves_in_the_library_too():
    SearchConfig(mcts_budget="per-step", leaves_per_call=1).check("mcts", has_scorer=True)
    config = mcts_config(mcts_budget="per-step", leaves_per_call=2)
    with pytest.raises(MathverifyError, match="--mcts-budget tree only"):
        SEARCHES["mcts"]([table_problem()], TablePolicy(), None, config)


def test_the_config_records_leaves_per_call_for_mcts_only():
    assert SearchConfig(leaves_per_call=3).to_dict("mcts")["leaves_per_call"] == 3
    assert SearchConfig().to_dict("mcts")["leaves_per_call"] == 1
    assert "leaves_per_call" not in SearchConfig().to_dict("sbs")


@pytest.fixture
def scripted_cli(monkeypatch):
    import mathverify.cli.search as cli

    monkeypatch.setattr(
        cli, "open_policy", lambda *a, **k: (ScriptedPolicy(error_rate=0.35), FORMAT)
    )
    monkeypatch.setattr(cli, "_load_scorer", lambda *a, **k: ScriptedScorer())


def cli_search(tmp_path, *args):
    from mathverify.cli import app

    problems = tmp_path / "p.jsonl"
    with RecordWriter(str(problems), Problem) as writer:
        writer.write_all(make_problems(2))
    out = tmp_path / "o.jsonl"
    common = ["--policy", "pol", "-p", str(problems), "-o", str(out), "--grade-workers", "1"]
    return CliRunner().invoke(app, ["search", *args, *common]), out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "mcts", "--scorer", "s", "--leaves-per-call", "0"], "--leaves-per-call must be"),
        (["-m", "sbs", "--scorer", "s", "--leaves-per-call", "2"], "--leaves-per-call applies to"),
        (["-m", "greedy", "--leaves-per-call", "1"], "--leaves-per-call applies to mcts, not"),
        (
            ["-m", "mcts", "--scorer", "s", "--mcts-budget", "per-step", "--leaves-per-call", "2"],
            "--mcts-budget tree only",
        ),
    ],
)
def test_the_cli_refuses_bad_leaves_per_call(tmp_path, scripted_cli, args, message):
    result, out = cli_search(tmp_path, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and not out.exists()


def test_the_cli_records_leaves_per_call(tmp_path, scripted_cli):
    args = ["-m", "mcts", "--scorer", "s", "--simulations", "3", "--b2", "2"]
    result, out = cli_search(tmp_path, *args, "--leaves-per-call", "2")
    assert result.exit_code == 0, result.output
    rows = read_all(str(out), SearchResult)
    assert [r.config["leaves_per_call"] for r in rows] == [2, 2]
    assert all(r.meta["n_simulations"] == 3 for r in rows)
